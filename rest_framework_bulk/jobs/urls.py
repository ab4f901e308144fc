"""
The URLs of the bulk job API; ``rest_framework_bulk.urls`` includes them::

    urlpatterns = [
        path("api/", include("rest_framework_bulk.urls")),
    ]

Names (for ``reverse()``): ``bulk-job-list``, ``bulk-job-detail``,
``bulk-job-status``, ``bulk-job-cancel`` and ``bulk-job-results``.
"""

from rest_framework.routers import SimpleRouter

from .views import BulkJobViewSet

router = SimpleRouter()
router.register("bulk-operations", BulkJobViewSet, basename="bulk-job")

urlpatterns = router.urls
