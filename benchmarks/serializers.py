from __future__ import annotations

from rest_framework import serializers

from benchmarks.models import Product


class PlainProductSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = "__all__"
