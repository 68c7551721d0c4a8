"""The service center's web console: the live board, cases, call-backs, the roster editor and
the figures, in Chinese and English, for the center's staff and the units."""

from __future__ import annotations

from flask import Flask

from console import views
from console.views.common import error_page

__all__ = ["error_page", "init_app"]


def init_app(app: Flask) -> None:
    views.init_app(app)
