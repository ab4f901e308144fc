"""Alias of :mod:`rest_framework_bulk.serializers`, as djangorestframework-bulk had it."""

from __future__ import annotations

from ..serializers import BulkListSerializer, BulkSerializerMixin

__all__ = ["BulkListSerializer", "BulkSerializerMixin"]
