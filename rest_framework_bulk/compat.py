"""
Shims for the range of Django and DRF versions drf-bulk supports, in one place.

Old import paths kept for code written against djangorestframework-bulk
live beside it: :mod:`rest_framework_bulk.drf3` (its DRF 3 modules) and
:mod:`rest_framework_bulk.bulk` (this package's first name for the
``/bulk/`` endpoint's module, now :mod:`rest_framework_bulk.viewsets`).
"""

from __future__ import annotations

__all__ = ["FullResultSet"]

# Django 4.2, the oldest supported, has it; it stays importable from here.
from django.core.exceptions import FullResultSet
