"""
Bulk create, update and delete for Django REST framework.

The public names are importable from the package, as they were from
djangorestframework-bulk::

    from rest_framework_bulk import BulkModelViewSet, BulkSerializerMixin

They are loaded on first use, so that listing ``rest_framework_bulk`` in
``INSTALLED_APPS`` imports nothing that needs the app registry, and so that
an error in them surfaces where they are used rather than being swallowed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers
    from .exceptions import BulkError
    from .generics import (
        BulkCreateAPIView,
        BulkDestroyAPIView,
        BulkModelViewSet,
        BulkUpdateAPIView,
        ListBulkCreateAPIView,
        ListBulkCreateDestroyAPIView,
        ListBulkCreateUpdateAPIView,
        ListBulkCreateUpdateDestroyAPIView,
        ListCreateBulkUpdateAPIView,
        ListCreateBulkUpdateDestroyAPIView,
    )
    from .mixins import BulkCreateModelMixin, BulkDestroyModelMixin, BulkUpdateModelMixin
    from .operations import BulkOperation
    from .serializers import BulkListSerializer, BulkSerializerMixin
    from .viewsets import BulkOperationsMixin

__version__ = "1.0.0.dev0"

_EXPORTS = {
    "BulkListSerializer": "serializers",
    "BulkSerializerMixin": "serializers",
    "BulkCreateModelMixin": "mixins",
    "BulkUpdateModelMixin": "mixins",
    "BulkDestroyModelMixin": "mixins",
    "BulkCreateAPIView": "generics",
    "BulkUpdateAPIView": "generics",
    "BulkDestroyAPIView": "generics",
    "ListBulkCreateAPIView": "generics",
    "ListCreateBulkUpdateAPIView": "generics",
    "ListCreateBulkUpdateDestroyAPIView": "generics",
    "ListBulkCreateUpdateAPIView": "generics",
    "ListBulkCreateDestroyAPIView": "generics",
    "ListBulkCreateUpdateDestroyAPIView": "generics",
    "BulkModelViewSet": "generics",
    "BulkOperation": "operations",
    "BulkOperationsMixin": "viewsets",
    "BulkError": "exceptions",
}

# A literal, for type checkers and linters; tests check it against _EXPORTS.
__all__ = [
    "BulkCreateAPIView",
    "BulkCreateModelMixin",
    "BulkDestroyAPIView",
    "BulkDestroyModelMixin",
    "BulkError",
    "BulkListSerializer",
    "BulkModelViewSet",
    "BulkOperation",
    "BulkOperationsMixin",
    "BulkSerializerMixin",
    "BulkUpdateAPIView",
    "BulkUpdateModelMixin",
    "ListBulkCreateAPIView",
    "ListBulkCreateDestroyAPIView",
    "ListBulkCreateUpdateAPIView",
    "ListBulkCreateUpdateDestroyAPIView",
    "ListCreateBulkUpdateAPIView",
    "ListCreateBulkUpdateDestroyAPIView",
]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rest_framework_bulk' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])
