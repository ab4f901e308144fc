"""
Concrete bulk views, composed like DRF's ``generics``.

Every bulk action works on the list route (``/items/``). The names are
djangorestframework-bulk's, so code written for it runs unchanged.
"""

from __future__ import annotations

from rest_framework import mixins, viewsets
from rest_framework.generics import GenericAPIView

from . import mixins as bulk_mixins

__all__ = [
    "BulkCreateAPIView",
    "BulkDestroyAPIView",
    "BulkModelViewSet",
    "BulkUpdateAPIView",
    "ListBulkCreateAPIView",
    "ListBulkCreateDestroyAPIView",
    "ListBulkCreateUpdateAPIView",
    "ListBulkCreateUpdateDestroyAPIView",
    "ListCreateBulkUpdateAPIView",
    "ListCreateBulkUpdateDestroyAPIView",
]


class BulkCreateAPIView(bulk_mixins.BulkCreateModelMixin, GenericAPIView):
    """Create one object or a list of objects."""

    def post(self, request, *args, **kwargs):
        return self.create(request, *args, **kwargs)


class BulkUpdateAPIView(bulk_mixins.BulkUpdateModelMixin, GenericAPIView):
    """Update (PUT) or partially update (PATCH) a list of objects."""

    def put(self, request, *args, **kwargs):
        return self.bulk_update(request, *args, **kwargs)

    def patch(self, request, *args, **kwargs):
        return self.partial_bulk_update(request, *args, **kwargs)


class BulkDestroyAPIView(bulk_mixins.BulkDestroyModelMixin, GenericAPIView):
    """Delete the objects named in the body, or the filtered list."""

    def delete(self, request, *args, **kwargs):
        return self.bulk_destroy(request, *args, **kwargs)


class ListBulkCreateAPIView(
    mixins.ListModelMixin, bulk_mixins.BulkCreateModelMixin, GenericAPIView
):
    """List objects (GET), or create one object or a list of objects (POST)."""

    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        return self.create(request, *args, **kwargs)


class ListCreateBulkUpdateAPIView(
    mixins.ListModelMixin, mixins.CreateModelMixin, bulk_mixins.BulkUpdateModelMixin, GenericAPIView
):
    """List objects (GET), create one (POST), and update a list (PUT, PATCH).

    A POST creates one object, as DRF's ``ListCreateAPIView`` does.
    """

    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        return self.create(request, *args, **kwargs)

    def put(self, request, *args, **kwargs):
        return self.bulk_update(request, *args, **kwargs)

    def patch(self, request, *args, **kwargs):
        return self.partial_bulk_update(request, *args, **kwargs)


class ListCreateBulkUpdateDestroyAPIView(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    bulk_mixins.BulkUpdateModelMixin,
    bulk_mixins.BulkDestroyModelMixin,
    GenericAPIView,
):
    """List objects (GET), create one (POST), update a list (PUT, PATCH) and delete many (DELETE)."""

    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        return self.create(request, *args, **kwargs)

    def put(self, request, *args, **kwargs):
        return self.bulk_update(request, *args, **kwargs)

    def patch(self, request, *args, **kwargs):
        return self.partial_bulk_update(request, *args, **kwargs)

    def delete(self, request, *args, **kwargs):
        return self.bulk_destroy(request, *args, **kwargs)


class ListBulkCreateUpdateAPIView(
    mixins.ListModelMixin,
    bulk_mixins.BulkCreateModelMixin,
    bulk_mixins.BulkUpdateModelMixin,
    GenericAPIView,
):
    """List objects (GET), create one or a list (POST), and update a list (PUT, PATCH)."""

    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        return self.create(request, *args, **kwargs)

    def put(self, request, *args, **kwargs):
        return self.bulk_update(request, *args, **kwargs)

    def patch(self, request, *args, **kwargs):
        return self.partial_bulk_update(request, *args, **kwargs)


class ListBulkCreateDestroyAPIView(
    mixins.ListModelMixin,
    bulk_mixins.BulkCreateModelMixin,
    bulk_mixins.BulkDestroyModelMixin,
    GenericAPIView,
):
    """List objects (GET), create one or a list (POST), and delete many (DELETE)."""

    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        return self.create(request, *args, **kwargs)

    def delete(self, request, *args, **kwargs):
        return self.bulk_destroy(request, *args, **kwargs)


class ListBulkCreateUpdateDestroyAPIView(
    mixins.ListModelMixin,
    bulk_mixins.BulkCreateModelMixin,
    bulk_mixins.BulkUpdateModelMixin,
    bulk_mixins.BulkDestroyModelMixin,
    GenericAPIView,
):
    """List objects (GET), create one or a list (POST), update a list (PUT, PATCH) and delete many (DELETE).

    The list route of djangorestframework-bulk's ``ListBulkCreateUpdateDestroyAPIView``,
    with every write batched, scoped by ``filter_queryset(get_queryset())`` and
    atomic. A DELETE deletes the objects named in the body, or the filtered
    list when ``allow_bulk_destroy()`` agrees.
    """

    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        return self.create(request, *args, **kwargs)

    def put(self, request, *args, **kwargs):
        return self.bulk_update(request, *args, **kwargs)

    def patch(self, request, *args, **kwargs):
        return self.partial_bulk_update(request, *args, **kwargs)

    def delete(self, request, *args, **kwargs):
        return self.bulk_destroy(request, *args, **kwargs)


class BulkModelViewSet(
    bulk_mixins.BulkCreateModelMixin,
    bulk_mixins.BulkUpdateModelMixin,
    bulk_mixins.BulkDestroyModelMixin,
    viewsets.ModelViewSet,
):
    """A ``ModelViewSet`` whose list route also takes bulk PUT, PATCH and DELETE.

    Register it on a ``rest_framework_bulk.routes.BulkRouter``.
    """
