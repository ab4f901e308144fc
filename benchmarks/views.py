"""The views under test.

``PlainProductListView`` is what a team writes with Django REST framework
alone: ``many=True`` for create, and a loop over the items, in one
transaction, for update and delete. ``ProductBulkView`` is the same
endpoint with drf-bulk. When drf-bulk cannot be imported, the reason is
kept in ``ENGINE_ERROR`` and its cases are reported as not run.
"""

from __future__ import annotations

from django.db import transaction
from rest_framework import generics, serializers, status
from rest_framework.response import Response

from benchmarks.models import Product
from benchmarks.serializers import PlainProductSerializer

ENGINE_ERROR: str | None = None


class PlainProductListView(generics.ListCreateAPIView):
    queryset = Product.objects.all()
    serializer_class = PlainProductSerializer

    def get_serializer(self, *args, **kwargs):
        if isinstance(kwargs.get("data"), list):
            kwargs["many"] = True
        return super().get_serializer(*args, **kwargs)

    def create(self, request, *args, **kwargs):
        # Without a transaction every row would be its own commit, which is
        # slower than anyone would ship; the bulk views are atomic too.
        with transaction.atomic():
            return super().create(request, *args, **kwargs)

    def put(self, request, *args, **kwargs):
        return self.update_each(request, partial=False)

    def patch(self, request, *args, **kwargs):
        return self.update_each(request, partial=True)

    def delete(self, request, *args, **kwargs):
        queryset = self.get_queryset()
        with transaction.atomic():
            for pk in request.data:
                queryset.get(pk=pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)

    def update_each(self, request, partial):
        queryset = self.get_queryset()
        results = []
        with transaction.atomic():
            for item in request.data:
                instance = queryset.get(pk=item["id"])
                serializer = self.get_serializer(instance, data=item, partial=partial)
                serializer.is_valid(raise_exception=True)
                serializer.save()
                results.append(serializer.data)
        return Response(results)


try:
    from rest_framework_bulk import (
        BulkListSerializer,
        BulkSerializerMixin,
        ListBulkCreateUpdateDestroyAPIView,
    )
except Exception as exc:  # the engine may be half written or broken
    ENGINE_ERROR = f"{type(exc).__name__}: {exc}"
else:

    class ProductSerializer(BulkSerializerMixin, serializers.ModelSerializer):
        class Meta:
            model = Product
            fields = "__all__"
            list_serializer_class = BulkListSerializer

    class ProductBulkView(ListBulkCreateUpdateDestroyAPIView):
        queryset = Product.objects.all()
        serializer_class = ProductSerializer
