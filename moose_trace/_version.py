"""The installed version: one place that every module reads it from (never the package face)."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
