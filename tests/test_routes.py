from __future__ import annotations

from rest_framework import viewsets
from rest_framework.routers import SimpleRouter

from rest_framework_bulk.routes import BulkRouter, BulkSimpleRouter

from .views import SimpleViewSet


class PlainViewSet(viewsets.ModelViewSet):
    queryset = SimpleViewSet.queryset
    serializer_class = SimpleViewSet.serializer_class


def list_mapping(router):
    return router.routes[0].mapping


def test_bulk_router_maps_bulk_actions_on_the_list_route():
    assert list_mapping(BulkRouter()) == {
        "get": "list",
        "post": "create",
        "put": "bulk_update",
        "patch": "partial_bulk_update",
        "delete": "bulk_destroy",
    }
    assert list_mapping(BulkSimpleRouter()) == list_mapping(BulkRouter())


def test_detail_route_is_unchanged():
    assert BulkRouter().routes[2].mapping == SimpleRouter().routes[2].mapping


def test_other_routers_are_not_changed():
    BulkRouter()
    assert list_mapping(SimpleRouter()) == {"get": "list", "post": "create"}


def test_plain_viewset_gets_no_bulk_methods():
    router = BulkSimpleRouter()
    router.register("plain", PlainViewSet, basename="plain")
    router.register("bulk", SimpleViewSet, basename="bulk")
    patterns = {p.name: p for p in router.urls}
    assert set(patterns["plain-list"].callback.actions) == {"get", "post"}
    assert set(patterns["bulk-list"].callback.actions) == {"get", "post", "put", "patch", "delete"}
