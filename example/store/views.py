from __future__ import annotations

from rest_framework_bulk import BulkModelViewSet
from store.models import Product
from store.serializers import ProductSerializer


class ProductViewSet(BulkModelViewSet):
    """Products: a list route that also takes bulk POST, PUT, PATCH and DELETE."""

    queryset = Product.objects.all()
    serializer_class = ProductSerializer
    # Used when django-filter is installed (see demo/settings.py).
    filterset_fields = ["account", "active"]
