from __future__ import annotations

from rest_framework import serializers

from rest_framework_bulk import BulkListSerializer, BulkSerializerMixin
from store.models import Product


class ProductSerializer(BulkSerializerMixin, serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = "__all__"
        list_serializer_class = BulkListSerializer
