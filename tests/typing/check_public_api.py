"""
The names ``rest_framework_bulk`` exports have their real types for a type
checker, although the package loads them lazily.

This module is checked by mypy (``make typecheck``), never run. A name that
came out as ``Any`` fails its ``assert_type()``; the assignments check what
each name is.
"""

from __future__ import annotations

from collections.abc import Callable

from rest_framework.exceptions import APIException
from rest_framework.generics import GenericAPIView
from rest_framework.serializers import ListSerializer
from rest_framework.viewsets import GenericViewSet
from typing_extensions import assert_type

import rest_framework_bulk
from rest_framework_bulk import (
    BulkCreateAPIView,
    BulkCreateModelMixin,
    BulkDestroyAPIView,
    BulkDestroyModelMixin,
    BulkError,
    BulkListSerializer,
    BulkModelViewSet,
    BulkOperation,
    BulkOperationsMixin,
    BulkSerializerMixin,
    BulkUpdateAPIView,
    BulkUpdateModelMixin,
    ListBulkCreateAPIView,
    ListBulkCreateDestroyAPIView,
    ListBulkCreateUpdateAPIView,
    ListBulkCreateUpdateDestroyAPIView,
    ListCreateBulkUpdateAPIView,
    ListCreateBulkUpdateDestroyAPIView,
)
from rest_framework_bulk.mixins import BulkDestroyModelMixin as DestroyMixin
from rest_framework_bulk.mixins import BulkViewMixin
from rest_framework_bulk.results import BulkResult

assert_type(BulkListSerializer, type[BulkListSerializer])
assert_type(BulkSerializerMixin, type[BulkSerializerMixin])
assert_type(BulkCreateModelMixin, type[BulkCreateModelMixin])
assert_type(BulkUpdateModelMixin, type[BulkUpdateModelMixin])
assert_type(BulkDestroyModelMixin, type[BulkDestroyModelMixin])
assert_type(BulkCreateAPIView, type[BulkCreateAPIView])
assert_type(BulkUpdateAPIView, type[BulkUpdateAPIView])
assert_type(BulkDestroyAPIView, type[BulkDestroyAPIView])
assert_type(ListBulkCreateAPIView, type[ListBulkCreateAPIView])
assert_type(ListCreateBulkUpdateAPIView, type[ListCreateBulkUpdateAPIView])
assert_type(ListCreateBulkUpdateDestroyAPIView, type[ListCreateBulkUpdateDestroyAPIView])
assert_type(ListBulkCreateUpdateAPIView, type[ListBulkCreateUpdateAPIView])
assert_type(ListBulkCreateDestroyAPIView, type[ListBulkCreateDestroyAPIView])
assert_type(ListBulkCreateUpdateDestroyAPIView, type[ListBulkCreateUpdateDestroyAPIView])
assert_type(BulkModelViewSet, type[BulkModelViewSet])
assert_type(rest_framework_bulk.BulkModelViewSet, type[BulkModelViewSet])
assert_type(BulkOperation, type[BulkOperation])
assert_type(BulkOperationsMixin, type[BulkOperationsMixin])
assert_type(BulkError, type[BulkError])

views: list[type[GenericAPIView]] = [
    BulkCreateAPIView,
    BulkUpdateAPIView,
    BulkDestroyAPIView,
    ListBulkCreateAPIView,
    ListCreateBulkUpdateAPIView,
    ListCreateBulkUpdateDestroyAPIView,
    ListBulkCreateUpdateAPIView,
    ListBulkCreateDestroyAPIView,
    ListBulkCreateUpdateDestroyAPIView,
    BulkModelViewSet,
    rest_framework_bulk.BulkModelViewSet,
]
viewset: type[GenericViewSet] = BulkModelViewSet

mixins: list[type[BulkViewMixin]] = [
    BulkCreateModelMixin,
    BulkUpdateModelMixin,
    BulkDestroyModelMixin,
    BulkOperationsMixin,
]
endpoint: type[DestroyMixin] = BulkOperationsMixin

list_serializer: type[ListSerializer] = BulkListSerializer
serializer_mixin: type[BulkSerializerMixin] = BulkSerializerMixin
error: type[APIException] = BulkError

# Their members are typed too.
max_items: Callable[[BulkModelViewSet], int] = BulkModelViewSet.get_bulk_max_items
lookup_field: Callable[[BulkOperationsMixin], str] = BulkOperationsMixin.get_bulk_lookup_field
run: Callable[[BulkOperation, list[dict[str, int]]], BulkResult] = BulkOperation.run
