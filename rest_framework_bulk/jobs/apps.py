from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BulkJobsConfig(AppConfig):
    name = "rest_framework_bulk.jobs"
    label = "rest_framework_bulk_jobs"
    verbose_name = _("Bulk jobs")

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
