from __future__ import annotations

from django.urls import include, path

from benchmarks.jobs_views import ProductBulkViewSet
from rest_framework_bulk.routes import BulkRouter

router = BulkRouter()
router.register("products", ProductBulkViewSet, basename="product")

urlpatterns = [
    path("", include(router.urls)),
    path("", include("rest_framework_bulk.urls")),
]
