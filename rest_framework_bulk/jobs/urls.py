"""
The URLs of the bulk job API; ``rest_framework_bulk.urls`` includes them::

    urlpatterns = [
        path("api/", include("rest_framework_bulk.urls")),
    ]

Names (for ``reverse()``): ``bulk-job-list``, ``bulk-job-detail``,
``bulk-job-status``, ``bulk-job-cancel`` and ``bulk-job-results``.

Any other path under ``bulk-operations/`` that ends with a slash answers the
API's JSON 404 (``not_found``), not the site's HTML page.
"""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from .views import BulkJobViewSet, job_not_found

router = SimpleRouter()
router.register("bulk-operations", BulkJobViewSet, basename="bulk-job")

urlpatterns = [
    *router.urls,
    re_path(r"^bulk-operations/(?:.*/)?$", job_not_found, name="bulk-job-not-found"),
]
