"""
URLs of drf-bulk: the job API, when ``rest_framework_bulk.jobs`` is installed::

    urlpatterns = [
        path("api/", include("rest_framework_bulk.urls")),
    ]

gives ``api/bulk-operations/`` (your jobs), ``api/bulk-operations/{task_id}/``,
``.../status/``, ``.../cancel/`` and ``.../results/{kind}/``.
"""

from __future__ import annotations

from django.apps import apps
from django.urls import include, path

urlpatterns: list = []

if apps.is_installed("rest_framework_bulk.jobs"):
    urlpatterns += [path("", include("rest_framework_bulk.jobs.urls"))]
