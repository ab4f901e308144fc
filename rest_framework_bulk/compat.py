"""
Shims for the range of Django and DRF versions drf-bulk supports, in one place.

Old import paths kept for code written against djangorestframework-bulk
live beside it: :mod:`rest_framework_bulk.drf3` (its DRF 3 modules) and
:mod:`rest_framework_bulk.bulk` (this package's first name for the
``/bulk/`` endpoint's module, now :mod:`rest_framework_bulk.viewsets`).
"""

from __future__ import annotations

__all__ = ["FullResultSet"]

try:  # Django 4.2+
    from django.core.exceptions import FullResultSet
except ImportError:  # pragma: no cover - Django before 4.2

    class FullResultSet(Exception):
        """Never raised: this Django compiles an empty WHERE clause to ``""``."""
