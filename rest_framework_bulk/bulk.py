"""Alias of :mod:`rest_framework_bulk.viewsets`, this module's first name.

New code imports ``BulkOperationsMixin`` from ``rest_framework_bulk``.
"""

from __future__ import annotations

from .viewsets import BulkOperationsMixin

__all__ = ["BulkOperationsMixin"]
