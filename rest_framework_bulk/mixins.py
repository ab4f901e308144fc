"""
Basic building blocks for bulk views, in the manner of DRF's ``mixins``.

Each mixin adds one bulk action to a ``GenericAPIView`` and calls a
``perform_bulk_*`` hook you may override, exactly as DRF's own mixins call
``perform_create()`` and friends::

    class ItemView(ListBulkCreateUpdateDestroyAPIView):
        def perform_bulk_create(self, serializer):
            serializer.save(owner=self.request.user)
"""

from __future__ import annotations

from django.db.models.deletion import Collector
from rest_framework import exceptions, mixins, status
from rest_framework.response import Response

from .exceptions import as_api_exception, error_body
from .operations import CREATE, DESTROY, PARTIAL_UPDATE, UPDATE, BulkOperation, BulkResult, narrowed
from .settings import api_settings

__all__ = [
    "BulkCreateModelMixin",
    "BulkDestroyModelMixin",
    "BulkErrorsMixin",
    "BulkUpdateModelMixin",
    "parse_prefer",
]


def parse_prefer(request) -> dict[str, str]:
    """The preferences of the request's ``Prefer`` header (RFC 7240)."""
    preferences: dict[str, str] = {}
    for header in request.headers.get("Prefer", "").split(","):
        token = header.split(";")[0].strip()
        if not token:
            continue
        name, _sep, value = token.partition("=")
        preferences[name.strip().lower()] = value.strip().strip('"').lower()
    return preferences


class BulkErrorsMixin:
    """Answer every client error with the documented body.

    Each 4xx carries ``{"code": ..., "detail": ...}`` (plus ``errors`` for
    item errors, ``fields`` for a request refused field by field), whatever
    raised it: a parser, content negotiation, authentication, a filter. A
    message-only error keeps DRF's ``detail`` and gains ``code``, so clients
    of DRF's shape read it as before. Errors keyed by field keep DRF's shape
    unless ``is_bulk_request()`` says the request is a bulk one.
    """

    def is_bulk_request(self) -> bool:
        """Whether this request is a bulk one (its field errors are reshaped)."""
        return True

    def handle_exception(self, exc):
        exc = as_api_exception(exc)
        response = super().handle_exception(exc)
        if (
            isinstance(exc, exceptions.APIException)
            and 400 <= response.status_code < 500
            and (not isinstance(exc.detail, (dict, list)) or self.is_bulk_request())
        ):
            response.data = error_body(exc, response.status_code)
        return response


class BulkOperationMixin(BulkErrorsMixin):
    """What the bulk mixins share: running an operation and answering for it."""

    #: The class that runs bulk operations; see ``get_bulk_operation_class()``.
    bulk_operation_class = BulkOperation
    #: ``None`` follows the ``SAVE_PER_ITEM`` setting; ``True`` always calls
    #: ``save()`` per item, ``False`` always writes in batches.
    bulk_save_per_item = None

    def get_bulk_operation_class(self):
        return self.bulk_operation_class

    def is_bulk_request(self) -> bool:
        """A request on the list route that writes a list (or tried to).

        Detail routes, list ``GET`` and the creation of one object keep
        DRF's own error shape.
        """
        request = getattr(self, "request", None)
        if request is None:
            return False
        lookup_url_kwarg = getattr(self, "lookup_url_kwarg", None) or getattr(self, "lookup_field", None)
        if lookup_url_kwarg in getattr(self, "kwargs", {}):
            return False
        if request.method in ("PUT", "PATCH", "DELETE"):
            return True
        if request.method == "POST":
            return isinstance(getattr(request, "_full_data", None), list)
        return False

    def get_bulk_options(self) -> dict:
        """Options of the operation, from the request.

        ``Prefer: handling=lenient`` asks for partial success: valid items are
        written and the others reported.
        """
        preferences = parse_prefer(self.request)
        return {"lenient": preferences.get("handling") == "lenient" and api_settings.ALLOW_LENIENT}

    def get_bulk_operation(self, action: str, **options) -> BulkOperation:
        return self.get_bulk_operation_class()(self, action, **{**self.get_bulk_options(), **options})

    def run_bulk_operation(self, action: str, data, **options) -> BulkResult:
        return self.get_bulk_operation(action, **options).run(data)

    def get_bulk_response(self, result: BulkResult, success_status: int) -> Response:
        """The response for ``result``: the objects, or a summary when asked for one.

        With ``Prefer: return=minimal`` the body is a summary with ids and
        counts instead of the serialized objects. A lenient request gets the
        summary too, with 207 when some items failed.
        """
        preferences = parse_prefer(self.request)
        applied = []
        lenient = self.get_bulk_options().get("lenient")
        if lenient:
            applied.append("handling=lenient")
        minimal = preferences.get("return") == "minimal"
        if minimal:
            applied.append("return=minimal")
        headers = {"Preference-Applied": ", ".join(applied)} if applied else {}
        if lenient or minimal:
            summary = result.summary(self.request.data if isinstance(self.request.data, list) else None)
            status_code = success_status if success_status != status.HTTP_204_NO_CONTENT else status.HTTP_200_OK
            if result.failed:
                if result.succeeded:
                    status_code = status.HTTP_207_MULTI_STATUS
                else:
                    status_code = status.HTTP_400_BAD_REQUEST
                    summary = {"code": "invalid", **summary}
            return Response(summary, status=status_code, headers=headers)
        if success_status == status.HTTP_204_NO_CONTENT:
            return Response(status=success_status)
        serializer = result.serializer
        data = serializer.data if serializer is not None else []
        return Response(data, status=success_status, headers=headers)


class BulkCreateModelMixin(BulkOperationMixin, mixins.CreateModelMixin):
    """Create one object from an object, or many from a list."""

    def create(self, request, *args, **kwargs):
        if isinstance(request.data, list):
            return self.bulk_create(request, *args, **kwargs)
        return super().create(request, *args, **kwargs)

    def bulk_create(self, request, *args, **kwargs):
        result = self.run_bulk_operation(CREATE, request.data)
        return self.get_bulk_response(result, status.HTTP_201_CREATED)

    def perform_bulk_create(self, serializer):
        return self.perform_create(serializer)


class BulkUpdateModelMixin(BulkOperationMixin):
    """Update many objects from a list; each item names its object by lookup field."""

    def get_object(self):
        lookup_url_kwarg = self.lookup_url_kwarg or self.lookup_field
        if lookup_url_kwarg in self.kwargs:
            return super().get_object()
        # On the list route there is no single object (OPTIONS, the
        # browsable API's forms).
        return None

    def bulk_update(self, request, *args, **kwargs):
        partial = kwargs.pop("partial", False)
        result = self.run_bulk_operation(PARTIAL_UPDATE if partial else UPDATE, request.data)
        return self.get_bulk_response(result, status.HTTP_200_OK)

    def partial_bulk_update(self, request, *args, **kwargs):
        kwargs["partial"] = True
        return self.bulk_update(request, *args, **kwargs)

    def perform_update(self, serializer):
        serializer.save()

    def perform_bulk_update(self, serializer):
        return self.perform_update(serializer)


class BulkDestroyModelMixin(BulkOperationMixin):
    """Delete many objects: those named in the body, or the filtered list."""

    def allow_bulk_destroy(self, qs, filtered) -> bool:
        """Whether a DELETE without a body may remove everything in ``filtered``.

        ``qs`` comes from ``get_queryset()`` and ``filtered`` from
        ``filter_queryset(qs)``. By default the request must have narrowed the
        list (its ``WHERE`` clause differs). Override this to be stricter::

            def allow_bulk_destroy(self, qs, filtered):
                return "confirm" in self.request.query_params and super().allow_bulk_destroy(qs, filtered)
        """
        return narrowed(qs, filtered)

    def bulk_destroy(self, request, *args, **kwargs):
        result = self.run_bulk_operation(DESTROY, request.data)
        return self.get_bulk_response(result, status.HTTP_204_NO_CONTENT)

    def perform_destroy(self, instance):
        instance.delete()

    def perform_bulk_destroy(self, objects):
        """Delete ``objects``, a queryset of the permitted targets.

        Deletes through Django's collector, so cascades and delete signals
        happen. If the view overrides ``perform_destroy()`` (a soft delete,
        say), that is called for each object instead.
        """
        if type(self).perform_destroy not in (
            BulkDestroyModelMixin.perform_destroy,
            mixins.DestroyModelMixin.perform_destroy,
        ):
            for obj in objects:
                self.perform_destroy(obj)
            return
        instances = getattr(objects, "bulk_instances", None)
        collector = Collector(using=objects.db, origin=objects)
        if instances is None or collector.can_fast_delete(objects):
            # No cascades or signals: one DELETE statement.
            objects.delete()
            return
        collector.collect(instances)
        collector.delete()
