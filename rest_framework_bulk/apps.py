from importlib.util import find_spec

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RestFrameworkBulkConfig(AppConfig):
    name = "rest_framework_bulk"
    verbose_name = _("REST framework bulk")

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)

        if find_spec("drf_spectacular") is not None:
            # Registers the OpenAPI extensions (`pip install drf-bulk[spectacular]`).
            from .contrib import spectacular  # noqa: F401
