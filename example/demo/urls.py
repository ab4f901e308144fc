from __future__ import annotations

from importlib.util import find_spec

from django.urls import include, path

from rest_framework_bulk.routes import BulkRouter
from store.views import ProductViewSet

router = BulkRouter()
router.register(r"products", ProductViewSet)

urlpatterns = [
    path("api/", include(router.urls)),
    # The bulk job API: /api/bulk-operations/ and /api/bulk-operations/{task_id}/...
    path("api/", include("rest_framework_bulk.urls")),
    path("api-auth/", include("rest_framework.urls")),
]

if find_spec("drf_spectacular") is not None:
    from drf_spectacular.views import SpectacularAPIView

    urlpatterns.append(path("api/schema/", SpectacularAPIView.as_view(), name="schema"))
