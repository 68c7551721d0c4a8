"""Downloading, storing and serving call recordings (issue 5)."""
