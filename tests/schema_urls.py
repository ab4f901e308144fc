"""The views whose OpenAPI schema ``test_schemas.py`` compares to ``tests/schemas/``.

One of each kind: the generic views, view sets on the list route and on
``/bulk/``, an integer, a UUID and a slug lookup, object permissions,
django-filter, ``BulkFilterBackend``, versions (required or not), a required
idempotency key, a filter backend that cannot describe itself, an
``@extend_schema`` and a ``schema`` of the project's own, fields named like
those of the bulk components, and the job API.
"""

from django.urls import include, path
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.routers import SimpleRouter

from rest_framework_bulk.routes import BulkRouter

from . import views
from .serializers import ItemSerializer


class AnnotatedTicketViewSet(views.TicketViewSet):
    """An ``@extend_schema`` of the project's own on one bulk action."""

    @extend_schema(description="Retitle tickets.")
    def partial_bulk_update(self, request, *args, **kwargs):
        return super().partial_bulk_update(request, *args, **kwargs)


class TaggedSchema(AutoSchema):
    def get_tags(self):
        return ["own"]


class OwnSchemaTicketViewSet(views.TicketViewSet):
    """A ``schema`` of the view's own."""

    schema = TaggedSchema()


class ChoicesItemSerializer(ItemSerializer):
    # Named like fields of the bulk components: their choices must not collide.
    status = serializers.ChoiceField(["open", "closed"], required=False, write_only=True)
    state = serializers.ChoiceField(["new", "old"], required=False, write_only=True)

    class Meta(ItemSerializer.Meta):
        fields = [*ItemSerializer.Meta.fields, "status", "state"]


class ChoicesItemViewSet(views.ItemViewSet):
    serializer_class = ChoicesItemSerializer


router = BulkRouter()
router.register("items", views.ItemViewSet, basename="item")
router.register("filtered-items", views.FilteredItemViewSet, basename="filtered-item")
router.register("scoped-items", views.ScopedItemViewSet, basename="scoped-item")
router.register("bulk-filtered-items", views.FilterBackendItemViewSet, basename="bulk-filtered")
router.register("documents", views.DocumentViewSet, basename="document")
router.register("articles", views.ArticleViewSet, basename="article")
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("strict-tickets", views.StrictTicketViewSet, basename="strict-ticket")
router.register("pages", views.PageViewSet, basename="page")
router.register("annotated-tickets", AnnotatedTicketViewSet, basename="annotated-ticket")
router.register("own-schema-tickets", OwnSchemaTicketViewSet, basename="own-schema-ticket")
router.register("choices-items", ChoicesItemViewSet, basename="choices-item")

plain_router = SimpleRouter()
plain_router.register("items", views.ItemBulkViewSet, basename="item")

urlpatterns = [
    path("v2/", include((plain_router.urls, "v2"), namespace="v2")),
    path("simple/", views.SimpleBulkAPIView.as_view(), name="bulk"),
    path("key-required/", views.KeyRequiredBulkAPIView.as_view(), name="key-required"),
    path("api/", include((router.urls, "api"), namespace="api")),
    path("", include("rest_framework_bulk.urls")),
]
