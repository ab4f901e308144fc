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

from typing import TYPE_CHECKING

from django.db import models
from django.db.models.deletion import Collector
from django.http import QueryDict
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from rest_framework import exceptions, mixins, status
from rest_framework.permissions import SAFE_METHODS
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from . import gcpause
from .browsable import BulkBrowsableAPIMixin
from .exceptions import RequestError, as_api_exception, error_body
from .idempotency_keys import BulkIdempotencyMixin
from .operations import (
    BULK_DESTROY_HOOKS,
    CREATE,
    DESTROY,
    DESTROY_HOOKS,
    PARTIAL_UPDATE,
    UPDATE,
    BulkOperation,
    narrowed,
)
from .prefer import parse_prefer
from .results import BulkResult, describe
from .schemas import BulkDefaultSchema
from .settings import api_settings
from .targets import get_lookup_field

if TYPE_CHECKING:
    from rest_framework.serializers import BaseSerializer

__all__ = [
    "BulkCreateModelMixin",
    "BulkDestroyModelMixin",
    "BulkErrorsMixin",
    "BulkUpdateModelMixin",
    "BulkViewMixin",
    "parse_flag",
    "parse_prefer",
]


#: The spellings a flag in the query string may take.
FLAG_VALUES = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def parse_flag(request, name: str) -> bool:
    """The query parameter ``name`` as a boolean; absent is ``False``.

    Only the spellings in ``FLAG_VALUES`` are accepted, once: anything
    else (``?dry_run=maybe``, ``?dry_run=``, ``?dry_run=1&dry_run=0``) is a
    400 rather than a guess that might write.
    """
    values = request.query_params.getlist(name)
    if not values:
        return False
    value = values[0].strip().lower() if len(values) == 1 else None
    if value not in FLAG_VALUES:
        raise RequestError(
            _("`%(name)s` takes one of 1, true, yes, on, 0, false, no, off, once.")
            % {"name": name},
            "invalid_flag",
        )
    return FLAG_VALUES[value]


class BulkErrorsMixin:
    """Answer every client error with the documented body.

    Each 4xx carries ``{"code": ..., "detail": ...}`` (plus ``errors`` for
    item errors, ``fields`` for a request refused field by field), whatever
    raised it: a parser, content negotiation, authentication, a filter. A
    message-only error keeps DRF's ``detail`` and gains ``code``, so clients
    of DRF's shape read it as before. Errors keyed by field keep DRF's shape
    unless ``is_bulk_request()`` says the request is a bulk one.
    """

    #: DRF's schema generator describes the bulk routes with ``BulkAutoSchema``.
    schema = BulkDefaultSchema()

    def is_bulk_request(self) -> bool:
        """Whether this request is a bulk one (its field errors are reshaped)."""
        return True

    def handle_exception(self, exc):
        """DRF's ``handle_exception()``, with 4xx bodies in the documented shape."""
        exc = as_api_exception(exc)
        response = super().handle_exception(exc)
        if (
            isinstance(exc, exceptions.APIException)
            and 400 <= response.status_code < 500
            and (not isinstance(exc.detail, (dict, list)) or self.is_bulk_request())
        ):
            response.data = error_body(exc, response.status_code)
            renderer = getattr(self.request, "accepted_renderer", None)
            if renderer is not None and renderer.format not in ("json", "api"):
                # An error is not a row of the CSV the client asked for.
                self.request.accepted_renderer = JSONRenderer()
                self.request.accepted_media_type = JSONRenderer.media_type
        return response


class BulkViewMixin(BulkBrowsableAPIMixin, BulkIdempotencyMixin, BulkErrorsMixin):
    """What every bulk view has: its options, running an operation and answering for it.

    Each option is a class attribute with a ``get_<option>()`` hook that
    reads it, falling back to its setting; override the hook to decide per
    request. The engine, the parsers and the job worker read the hooks.

    Every bulk write takes part in ``Idempotency-Key`` retries; see
    :mod:`rest_framework_bulk.idempotency_keys`. The browsable API offers
    forms that send lists; see :mod:`rest_framework_bulk.browsable`.
    """

    #: The class that runs bulk operations; see ``get_bulk_operation_class()``.
    bulk_operation_class = BulkOperation
    #: Most items one request may carry; ``None``: the ``MAX_ITEMS`` setting.
    bulk_max_items: int | None = None
    #: Items validated, fetched and written per batch; ``None``: ``BATCH_SIZE``.
    bulk_batch_size: int | None = None
    #: ``None`` follows the ``SAVE_PER_ITEM`` setting; ``True`` always calls
    #: ``save()`` per item, ``False`` always writes in batches.
    bulk_save_per_item = None

    #: The model field holding each row's version (an integer, or an
    #: ``auto_now`` timestamp); ``None`` reads the serializer's
    #: ``Meta.bulk_version_field``. See ``get_bulk_version_field()``.
    bulk_version_field: str | None = None
    #: Refuse update and delete items that carry no version (428).
    bulk_version_required = False

    if TYPE_CHECKING:  # provided by GenericAPIView

        def get_serializer_class(self) -> type[BaseSerializer]: ...

    def get_bulk_operation_class(self):
        """The class that runs this view's bulk operations (``bulk_operation_class``).

        You may override this to run a ``BulkOperation`` subclass for some
        requests only.
        """
        return self.bulk_operation_class

    def get_bulk_max_items(self) -> int:
        """The most items one bulk request may carry: ``bulk_max_items``, else ``MAX_ITEMS``.

        You may want to override this to allow larger requests to staff::

            def get_bulk_max_items(self):
                return 50_000 if self.request.user.is_staff else super().get_bulk_max_items()
        """
        return self.bulk_max_items or api_settings.MAX_ITEMS

    def get_bulk_batch_size(self) -> int:
        """How many items are validated, fetched and written together: ``bulk_batch_size``, else ``BATCH_SIZE``."""
        return self.bulk_batch_size or api_settings.BATCH_SIZE

    def get_bulk_save_per_item(self) -> bool | None:
        """Whether items are saved one ``save()`` at a time (``True``), in batches (``False``), or as the model needs (``None``).

        ``bulk_save_per_item``, else the ``SAVE_PER_ITEM`` setting. See
        :func:`rest_framework_bulk.writers.per_item_reason`.
        """
        if self.bulk_save_per_item is not None:
            return self.bulk_save_per_item
        return api_settings.SAVE_PER_ITEM

    def get_bulk_lookup_field(self) -> str:
        """The field each item names its object by: the serializer's ``Meta.update_lookup_field``.

        ``id`` by default, as in djangorestframework-bulk. Every bulk path
        (list routes, ``/bulk/``, jobs, exports) asks this hook.
        """
        return get_lookup_field(self.get_serializer_class())

    def dispatch(self, request, *args, **kwargs):
        if request.method in SAFE_METHODS:
            return super().dispatch(request, *args, **kwargs)
        # Parsing the list, the operation and rendering the answer: see
        # rest_framework_bulk.gcpause.
        with gcpause.paused():
            return super().dispatch(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        """DRF's ``initial()``; also refuses ``?dry_run=`` where the request would write one object."""
        super().initial(request, *args, **kwargs)
        if request.method not in SAFE_METHODS and "dry_run" in request.query_params:
            # A dry run must never write: refuse it where DRF's own code
            # (one object, a detail route) would ignore the flag.
            if request.method == "POST":
                request.data  # noqa: B018 - parse now, to tell one object from a list
            if parse_flag(request, "dry_run") and not self.is_bulk_request():
                raise RequestError(
                    _("`dry_run` applies to bulk requests only; this request would write."),
                    "dry_run_not_supported",
                )

    def get_bulk_version_field(self) -> str | None:
        """The name of the field that versions each row, or ``None`` for no checks.

        Items of updates and deletes may then carry the version they read
        under that name; an item whose row has moved on fails with
        ``version_conflict``. You may want to override this to version only
        some requests::

            def get_bulk_version_field(self):
                return "version" if self.request.method != "DELETE" else None
        """
        if self.bulk_version_field:
            return self.bulk_version_field
        meta = getattr(self.get_serializer_class(), "Meta", None)
        return getattr(meta, "bulk_version_field", None)

    def get_bulk_version_required(self) -> bool:
        """Whether every update and delete item must carry its version (428 if not)."""
        return self.bulk_version_required

    def is_bulk_request(self) -> bool:
        """A request on the list route that writes a list (or tried to).

        Detail routes, list ``GET`` and the creation of one object keep
        DRF's own error shape.
        """
        request = getattr(self, "request", None)
        if request is None:
            return False
        lookup_url_kwarg = getattr(self, "lookup_url_kwarg", None) or getattr(
            self, "lookup_field", None
        )
        if lookup_url_kwarg in getattr(self, "kwargs", {}):
            return False
        if request.method in ("PUT", "PATCH", "DELETE"):
            return True
        if request.method == "POST":
            return isinstance(getattr(request, "_full_data", None), list)
        return False

    def get_preferences(self) -> dict[str, str]:
        """The request's ``Prefer`` preferences (RFC 7240), name to value."""
        return parse_prefer(self.request)

    def apply_preference(self, preference: str) -> None:
        """Report ``preference`` (such as ``"return=minimal"``) in ``Preference-Applied``.

        Call it once the answer honours the preference; the header is set in
        ``finalize_response()``, on errors too.
        """
        applied = self.__dict__.setdefault("preferences_applied", [])
        if preference not in applied:
            applied.append(preference)

    def finalize_response(self, request, response, *args, **kwargs):
        """DRF's ``finalize_response()``; adds ``Preference-Applied`` and ``Vary: Prefer``."""
        # Before the rest of finalizing: an answer kept for Idempotency-Key
        # retries keeps these headers too.
        applied = self.__dict__.get("preferences_applied")
        if applied and not response.has_header("Preference-Applied"):
            response["Preference-Applied"] = ", ".join(applied)
        if self.is_bulk_request():
            # The body's shape (and the status) follow the preferences.
            patch_vary_headers(response, ["Prefer"])
        return super().finalize_response(request, response, *args, **kwargs)

    def get_bulk_options(self) -> dict:
        """Options of the operation, from the request.

        ``Prefer: handling=lenient`` asks for partial success: valid items are
        written and the others reported. ``?dry_run=1`` validates and reports
        what would happen, and writes nothing.
        """
        preferences = self.get_preferences()
        return {
            "lenient": preferences.get("handling") == "lenient" and api_settings.ALLOW_LENIENT,
            "dry_run": parse_flag(self.request, "dry_run"),
        }

    def apply_handling(self, lenient: bool) -> None:
        """Report ``handling=`` when the client asked for it and it is what runs."""
        asked = self.get_preferences().get("handling")
        if lenient:
            self.apply_preference("handling=lenient")
        elif asked == "strict":
            self.apply_preference("handling=strict")

    def get_bulk_operation(self, action: str, **options) -> BulkOperation:
        """The engine for one bulk ``action``, with the request's options (``get_bulk_options()``).

        You may override this to pass options of your own to a ``BulkOperation``
        subclass; keyword arguments win over the request's options.
        """
        options = {**self.get_bulk_options(), **options}
        if getattr(self, "request", None) is not None:
            self.apply_handling(bool(options.get("lenient")))
        return self.get_bulk_operation_class()(self, action, **options)

    def run_bulk_operation(self, action: str, data, **options) -> BulkResult:
        """Run ``action`` on ``data`` and return its ``BulkResult``; raises ``BulkError`` if refused."""
        return self.get_bulk_operation(action, **options).run(data)

    def get_bulk_response(self, result: BulkResult, success_status: int) -> Response:
        """The response for ``result``: the objects, or a summary when asked for one.

        With ``Prefer: return=minimal`` the body is a summary with ids and
        counts instead of the serialized objects. A lenient request gets the
        summary too, with 207 when some items failed.
        """
        preferences = self.get_preferences()
        lenient = self.get_bulk_options().get("lenient")
        minimal = preferences.get("return") == "minimal"
        if minimal:
            self.apply_preference("return=minimal")
        summary_body = lenient or minimal or result.dry_run
        representation = not summary_body and success_status != status.HTTP_204_NO_CONTENT
        if preferences.get("return") == "representation" and representation:
            self.apply_preference("return=representation")
        if summary_body:
            summary = result.summary(
                self.request.data if isinstance(self.request.data, list) else None
            )
            if success_status == status.HTTP_204_NO_CONTENT:
                success_status = status.HTTP_200_OK
            return self.get_bulk_summary_response(summary, success_status)
        if success_status == status.HTTP_204_NO_CONTENT:
            return Response(status=success_status)
        serializer = result.serializer
        data = serializer.data if serializer is not None else []
        return Response(data, status=success_status)

    def get_bulk_summary_response(self, summary: dict, success_status: int) -> Response:
        """The answer for a summary: ``success_status``, 207 when some items failed, 400 when all did.

        A dry run answers 200. Every summary answer of every bulk path
        (list routes, ``/bulk/``, a job waited for) is built here; with
        ``Accept: text/csv`` it is one CSV row per item.
        """
        status_code = success_status
        if summary["dry_run"]:
            status_code = status.HTTP_200_OK
        if summary["error_count"]:
            status_code = (
                status.HTTP_207_MULTI_STATUS
                if summary["success_count"]
                else status.HTTP_400_BAD_REQUEST
            )
            if not summary["success_count"]:
                summary = {"code": "invalid", **summary}
        renderer = getattr(self.request, "accepted_renderer", None)
        if renderer is not None and renderer.format == "csv":
            return Response(
                [csv_result_row(entry) for entry in summary["items"]], status=status_code
            )
        return Response(summary, status=status_code)


def csv_result_row(entry: dict) -> dict:
    """An item of a summary as a row of a CSV answer: index, line, status, id, code, error."""
    row = {
        "index": entry["index"],
        "line": entry.get("line"),
        "status": entry["status"],
        "id": entry.get("id", entry.get("lookup")),
        "code": entry.get("code"),
        "error": describe(entry["detail"]) if entry.get("detail") is not None else None,
    }
    # Empty cells, not the null token: these are results, not data.
    return {key: "" if value is None else value for key, value in row.items()}


class BulkCreateModelMixin(BulkViewMixin, mixins.CreateModelMixin):
    """Create one object from an object, or many from a list."""

    def create(self, request, *args, **kwargs):
        if isinstance(request.data, list):
            return self.bulk_create(request, *args, **kwargs)
        return super().create(request, *args, **kwargs)

    def bulk_create(self, request, *args, **kwargs):
        result = self.run_bulk_operation(CREATE, request.data)
        return self.get_bulk_response(result, status.HTTP_201_CREATED)

    def perform_bulk_create(self, serializer):
        """Save the validated list. By default ``perform_create(serializer)``, as djangorestframework-bulk did.

        You may override this to set values on every item::

            def perform_bulk_create(self, serializer):
                serializer.save(owner=self.request.user)
        """
        return self.perform_create(serializer)


class BulkUpdateModelMixin(BulkViewMixin):
    """Update many objects from a list; each item names its object by lookup field."""

    def get_object(self):
        """The object of a detail route; ``None`` on the list route, which has no single object."""
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
        """Save the validated serializer: ``serializer.save()``."""
        serializer.save()

    def perform_bulk_update(self, serializer):
        """Save the validated list. By default ``perform_update(serializer)``.

        You may override this to set values on every item, as ``perform_bulk_create()``.
        """
        return self.perform_update(serializer)


class BulkDestroyModelMixin(BulkViewMixin):
    """Delete many objects: those named in the body, or the filtered list."""

    def allow_bulk_destroy(self, qs, filtered) -> bool:
        """Whether the objects of ``filtered`` may be deleted in bulk.

        It is asked for every bulk delete. ``qs`` comes from
        ``get_queryset()``. For a DELETE whose body names objects,
        ``filtered`` is ``filter_queryset(qs)`` narrowed to those objects;
        for a DELETE without a body, it is ``filter_queryset(qs)`` itself.

        By default a body that names objects is allowed, and a DELETE without
        one must carry client filters in its query string that narrow the
        list (its ``WHERE`` clause differs), so that neither a bare
        ``DELETE /items/`` nor a filter backend that only scopes the list to
        the user deletes everything in sight. Return ``False`` to forbid bulk
        deletes, or be stricter::

            def allow_bulk_destroy(self, qs, filtered):
                return "confirm" in self.request.query_params and super().allow_bulk_destroy(qs, filtered)
        """
        if getattr(filtered, "bulk_named", False):
            return True
        return narrowed(qs, filtered) and narrowed(self.filter_queryset_without_query(qs), filtered)

    def filter_queryset_without_query(self, queryset):
        """``filter_queryset(queryset)`` as it would be without the query string.

        What the view's filtering does on its own (scoping to the user, say)
        is told apart from what the client asked for.
        """
        request = self.request._request
        query = request.GET
        request.GET = QueryDict()
        try:
            return self.filter_queryset(queryset)
        finally:
            request.GET = query

    def bulk_destroy(self, request, *args, **kwargs):
        result = self.run_bulk_operation(DESTROY, request.data)
        return self.get_bulk_response(result, status.HTTP_204_NO_CONTENT)

    def perform_destroy(self, instance):
        """Delete one object: ``instance.delete()``.

        Override it (to archive instead, say) and bulk deletes call it per object too.
        """
        instance.delete()

    def perform_bulk_destroy(self, objects):
        """Delete ``objects``, a queryset of the permitted targets.

        Deletes through Django's collector, so cascades and delete signals
        happen. If the view overrides ``perform_destroy()`` (to archive
        instead, say), or the model overrides ``delete()`` (a soft delete),
        each object is deleted on its own through them instead.
        """
        instances = getattr(objects, "bulk_instances", None)
        if (
            type(self).perform_destroy not in DESTROY_HOOKS
            or objects.model.delete is not models.Model.delete
        ):
            for obj in instances if instances is not None else objects:
                self.perform_destroy(obj)
            return
        collector = Collector(using=objects.db, origin=objects)
        if instances is None or collector.can_fast_delete(objects):
            # No cascades or signals: one DELETE statement.
            objects.delete()
            return
        collector.collect(instances)
        collector.delete()


DESTROY_HOOKS.add(BulkDestroyModelMixin.perform_destroy)
BULK_DESTROY_HOOKS.add(BulkDestroyModelMixin.perform_bulk_destroy)
