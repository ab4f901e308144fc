"""Alias of :mod:`rest_framework_bulk.mixins`, as djangorestframework-bulk had it."""

from __future__ import annotations

from ..mixins import BulkCreateModelMixin, BulkDestroyModelMixin, BulkUpdateModelMixin

__all__ = ["BulkCreateModelMixin", "BulkDestroyModelMixin", "BulkUpdateModelMixin"]
