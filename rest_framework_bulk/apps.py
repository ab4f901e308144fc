from django.apps import AppConfig


class RestFrameworkBulkConfig(AppConfig):
    name = "rest_framework_bulk"
    verbose_name = "REST framework bulk"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
