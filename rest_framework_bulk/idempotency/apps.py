from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BulkIdempotencyConfig(AppConfig):
    name = "rest_framework_bulk.idempotency"
    label = "rest_framework_bulk_idempotency"
    verbose_name = _("Bulk idempotency keys")
    default_auto_field = "django.db.models.BigAutoField"
