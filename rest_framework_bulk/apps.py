from importlib.util import find_spec

from django.apps import AppConfig


class RestFrameworkBulkConfig(AppConfig):
    name = "rest_framework_bulk"
    verbose_name = "REST framework bulk"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)

        if find_spec("drf_spectacular") is not None:
            # Registers the OpenAPI extensions (`pip install drf-bulk[spectacular]`).
            from .contrib import spectacular  # noqa: F401
