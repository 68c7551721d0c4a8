"""The service center's web console: the live board, cases, call-backs, the roster editor and
the figures, in Chinese and English, for the center's staff and the units."""

from __future__ import annotations

from flask import Flask

from console import views


def init_app(app: Flask) -> None:
    views.init_app(app)
