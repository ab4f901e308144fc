"""
Routers that map bulk actions onto the list route.

``BulkRouter`` adds, to the list route of every viewset that has them::

    PUT    -> bulk_update
    PATCH  -> partial_bulk_update
    DELETE -> bulk_destroy

DRF's own route list is copied, never changed, so other routers in the
process are unaffected; DRF drops the methods a viewset has no action for.
"""

from __future__ import annotations

import copy

from rest_framework.routers import DefaultRouter, SimpleRouter

__all__ = ["BulkRouter", "BulkSimpleRouter"]

BULK_LIST_ACTIONS = {
    "put": "bulk_update",
    "patch": "partial_bulk_update",
    "delete": "bulk_destroy",
}


def bulk_routes(routes):
    routes = copy.deepcopy(routes)
    routes[0].mapping.update(BULK_LIST_ACTIONS)
    return routes


class BulkSimpleRouter(SimpleRouter):
    """``SimpleRouter`` with bulk actions on the list route."""

    routes = bulk_routes(SimpleRouter.routes)


class BulkRouter(DefaultRouter):
    """``DefaultRouter`` (API root, format suffixes) with bulk actions on the list route."""

    routes = bulk_routes(SimpleRouter.routes)
