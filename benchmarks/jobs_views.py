"""The ``/bulk/`` endpoint the job benchmark uploads to."""

from __future__ import annotations

from rest_framework import viewsets

from benchmarks.models import Product
from benchmarks.views import ProductSerializer
from rest_framework_bulk import BulkOperationsMixin


class ProductBulkViewSet(BulkOperationsMixin, viewsets.ModelViewSet):
    queryset = Product.objects.all()
    serializer_class = ProductSerializer
