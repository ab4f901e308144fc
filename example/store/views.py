from __future__ import annotations

from rest_framework_bulk import BulkModelViewSet, BulkOperationsMixin
from store.models import Product
from store.serializers import ProductSerializer


class ProductViewSet(BulkOperationsMixin, BulkModelViewSet):
    """Products.

    The list route ``/api/products/`` also takes bulk POST, PUT, PATCH and
    DELETE; ``/api/products/bulk/`` takes the same in JSON or CSV and answers
    with a result per item.
    """

    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    # Used when django-filter is installed (see demo/settings.py).
    filterset_fields = ["account", "active"]
    # What clients may filter on at /api/products/bulk/.
    bulk_filter_fields = {"price": ["gte", "lte"], "account": ["exact", "in"], "active": ["exact"]}
    # ?upsert=1 (or ?upsert=sku) on POST /api/products/bulk/ matches rows by sku.
    bulk_upsert_fields = ["sku"]
