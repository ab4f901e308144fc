"""
The ``/bulk/`` endpoint: every bulk operation of a viewset on one URL.

Add ``BulkOperationsMixin`` to a viewset and any router gives it
``{prefix}/bulk/``::

    class TransactionViewSet(BulkOperationsMixin, viewsets.ModelViewSet):
        queryset = Transaction.objects.all()
        serializer_class = TransactionSerializer
        bulk_filter_fields = {"amount": ["gte", "lte"], "account": ["exact"]}
        bulk_upsert_fields = ["external_id"]

=========  ===========================================================
GET        the objects named by ``?ids=1,2,3``, or matching allowed filters
POST       create (``?upsert=1`` or ``?upsert=<field>``: create or update)
PUT        replace
PATCH      partially update
DELETE     delete the objects named in the body
=========  ===========================================================

Writes take a JSON list, a CSV body (``text/csv``) or a CSV file upload
(``multipart/form-data`` with a ``file`` part), and answer with a summary and
a result per item, as JSON or, with ``Accept: text/csv``, as CSV. They run
through the same engine as the list routes: scoped by
``filter_queryset(get_queryset())``, object permissions per item, all or
nothing unless the client sends ``Prefer: handling=lenient``, nothing written
with ``?dry_run=1``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast

from django.apps import apps
from django.utils.translation import gettext as _
from rest_framework import exceptions, parsers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from . import filtersets
from .exceptions import BulkError, RequestError, TooManyItems
from .filters import RESERVED_QUERY_PARAMS, BulkFilter
from .mixins import FLAG_VALUES, BulkDestroyModelMixin
from .operations import (
    CREATE,
    DESTROY,
    PARTIAL_UPDATE,
    UPDATE,
    UPSERT,
    permitted,
    read_by_lookup,
)
from .parsers import CSVMultiPartParser, CSVParser, CSVRows, TSVParser
from .prefer import parse_wait
from .renderers import CSVRenderer
from .results import BulkResult
from .settings import api_settings
from .targets import display, get_model_field, lookup_values

if TYPE_CHECKING:
    from rest_framework.serializers import BaseSerializer, Serializer

__all__ = ["BulkOperationsMixin"]


BULK_ACTIONS = frozenset({"bulk", "bulk_post", "bulk_put", "bulk_patch", "bulk_delete"})


class BulkOperationsMixin(BulkDestroyModelMixin):
    """Adds ``{prefix}/bulk/`` to a viewset."""

    #: Fields and lookups clients may filter on, as django-filter's
    #: ``filterset_fields``: a list (exact matches) or a dict of lookups.
    #: ``None`` allows only the lookup field.
    bulk_filter_fields = None
    #: The class that validates and applies client filters.
    bulk_filter_class = BulkFilter
    #: Query parameters of your own that are never taken as filters.
    bulk_reserved_params: Iterable[str] = ()
    #: The viewset actions of the ``/bulk/`` route.
    bulk_actions = BULK_ACTIONS
    #: Natural keys a client may upsert on (``?upsert=<field>``).
    bulk_upsert_fields: Iterable[str] = ()

    #: The largest CSV upload accepted, in bytes; ``None``: ``CSV_MAX_FILE_SIZE``.
    csv_max_file_size: int | None = None
    #: The CSV cell text that means null; ``None``: ``CSV_NULL_VALUE``.
    csv_null_value: str | None = None
    #: Writes with more items than this become a job; ``None``: ``ASYNC_THRESHOLD``.
    bulk_async_threshold: int | None = None
    #: Items a job runs and checkpoints at a time; ``None``: ``JOB_BATCH_SIZE``.
    bulk_job_batch_size: int | None = None

    if TYPE_CHECKING:  # provided by GenericViewSet
        action_map: dict[str, str]

        def get_serializer(self, *args: Any, **kwargs: Any) -> BaseSerializer: ...

    def get_csv_max_file_size(self) -> int:
        """The largest CSV body or upload accepted, in bytes: ``csv_max_file_size``, else ``CSV_MAX_FILE_SIZE``."""
        return self.csv_max_file_size or api_settings.CSV_MAX_FILE_SIZE

    def get_bulk_job_batch_size(self) -> int:
        """Items a job of this view runs and checkpoints at a time: ``bulk_job_batch_size``, else ``JOB_BATCH_SIZE``."""
        return self.bulk_job_batch_size or api_settings.JOB_BATCH_SIZE

    def get_csv_null_value(self) -> str:
        """The CSV cell text that means null, read and written: ``csv_null_value``, else ``CSV_NULL_VALUE``."""
        return self.csv_null_value or api_settings.CSV_NULL_VALUE

    # Content negotiation ------------------------------------------------

    def bulk_action(self) -> str | None:
        """The viewset action this request runs, also before DRF has set ``self.action``."""
        name = getattr(self, "action", None)
        if (
            name is None
            and getattr(self, "action_map", None)
            and getattr(self, "request", None) is not None
        ):
            name = self.action_map.get(self.request.method.lower())
        return name

    def get_parsers(self):
        """The view's parsers, plus the CSV ones (``text/csv``, TSV, multipart upload) on ``/bulk/``."""
        parser_list = super().get_parsers()
        if self.bulk_action() not in BULK_ACTIONS:
            return parser_list
        parser_list = [p for p in parser_list if not isinstance(p, parsers.MultiPartParser)]
        return [*parser_list, CSVParser(), TSVParser(), CSVMultiPartParser()]

    def is_bulk_request(self) -> bool:
        """Every request on ``/bulk/`` is a bulk one, as are the list route's bulk writes."""
        return self.bulk_action() in BULK_ACTIONS or super().is_bulk_request()

    def get_renderers(self):
        """The view's renderers, plus ``CSVRenderer`` on ``/bulk/`` (``?format=csv``, ``Accept: text/csv``)."""
        renderer_list = super().get_renderers()
        if self.bulk_action() in BULK_ACTIONS:
            renderer_list.append(CSVRenderer())
        return renderer_list

    # Hooks the engine calls ---------------------------------------------

    def filter_queryset(self, queryset):
        """The view's own filtering, then the allow-listed query parameters.

        On ``/bulk/`` every verb honours them: a DELETE without a body
        removes exactly what a GET with the same query shows. A view with a
        django-filter ``FilterSet`` and no ``bulk_filter_fields`` filters
        with the ``FilterSet`` (see :mod:`rest_framework_bulk.filtersets`).
        """
        if self.bulk_action() not in BULK_ACTIONS:
            return super().filter_queryset(queryset)
        with filtersets.bulk_filter_backends(self) as filterset:
            queryset = super().filter_queryset(queryset)
        if not filterset:
            queryset = self.get_bulk_filter().filter_queryset(queryset, self.request.query_params)
        return queryset

    def get_bulk_filter(self):
        """The ``bulk_filter_class`` instance that reads this request's client filters.

        The query parameters in ``filters.RESERVED_QUERY_PARAMS`` and in
        ``bulk_reserved_params`` are never taken as filters.
        """
        reserved = RESERVED_QUERY_PARAMS | set(self.bulk_reserved_params)
        return self.bulk_filter_class(self, reserved=reserved)

    def perform_bulk_create(self, serializer):
        """Save the validated list of a ``/bulk/`` create: ``perform_create(serializer)``."""
        return self.perform_create(serializer)

    def perform_bulk_update(self, serializer):
        """Save the validated list of a ``/bulk/`` update: ``perform_update(serializer)``."""
        return self.perform_update(serializer)

    # The endpoint -------------------------------------------------------

    @action(detail=False, methods=["get"], url_path="bulk", url_name="bulk")
    def bulk(self, request, *args, **kwargs):
        """Retrieve the objects named by ``?ids=`` or matching the filters.

        A GET is safe: it answers the objects now, paginated as the view
        paginates, or a 413 saying how to narrow the request. Only a client
        that sends ``Prefer: respond-async`` (with the jobs app installed)
        gets an export job instead; see :mod:`rest_framework_bulk.jobs.export`.
        Objects that ``check_object_permissions()`` refuses are left out.
        """
        queryset = self.filter_queryset(self.get_queryset())
        asked = "respond-async" in self.get_preferences() and self.jobs_enabled()
        ids = request.query_params.getlist("ids")
        if ids:
            if len(ids) > 1:
                raise RequestError(_("Give `ids` once, as a comma-separated list."), "invalid_ids")
            return self.bulk_retrieve_ids(
                queryset, [value for value in ids[0].split(",") if value.strip()], asked
            )
        body = request.data if isinstance(request.data, dict) else {}
        filters = body.get("filters")
        if filters is not None and filtersets.uses_filterset(self):
            raise exceptions.ValidationError(
                {"filters": [_("This view takes its filters from the query string only.")]},
                "filter_not_allowed",
            )
        if filters is not None:
            queryset = self.get_bulk_filter().filter_queryset(queryset, filters)
        if asked:
            return self.submit_bulk_export_job([], True, filters={} if filters is None else filters)
        queryset = queryset.order_by(*(queryset.query.order_by or ["pk"]))
        page = self.paginate_queryset(queryset)
        if page is not None:
            objects = self.permitted(page)
            return self.get_paginated_response(self.get_serializer(objects, many=True).data)
        limit = api_settings.MAX_ITEMS
        objects = list(queryset[: limit + 1])
        if len(objects) > limit:
            raise TooManyItems(None, limit, hint=self.narrowing_hint())
        objects = self.permitted(objects)
        serializer = self.get_serializer(objects, many=True)
        return Response(
            {"count": len(objects), "results": serializer.data, "not_found": [], "is_async": False}
        )

    def narrowing_hint(self) -> str:
        """What a 413 on ``GET /bulk/`` suggests: filters, ``ids``, or an export job."""
        if self.jobs_enabled():
            return _(
                "Narrow it with filters or `ids`, or send `Prefer: respond-async` to export it as a job."
            )
        return _("Narrow it with filters or `ids`.")

    def permitted(self, objects) -> list:
        """The objects that the view's object permissions let the user see."""
        return permitted(self, objects)

    def bulk_retrieve_ids(self, queryset, raw_ids: list[str], asked: bool = False):
        """Answer ``GET /bulk/?ids=``: the objects in the order asked, and the ids not found."""
        limit = api_settings.MAX_ITEMS
        if not asked and len(raw_ids) > limit:
            raise TooManyItems(len(raw_ids), limit)
        field = self.get_bulk_lookup_field()
        model_field = get_model_field(queryset.model, field)
        values, errors = lookup_values(
            [{field: value.strip()} for value in raw_ids], field, model_field
        )
        invalid = [error for error in errors if error.code == "invalid_lookup"]
        if invalid:
            raise RequestError(
                _("Not valid values of `%(field)s`: %(values)s.")
                % {
                    "field": field,
                    "values": ", ".join(str(error.lookup) for error in invalid[:20]),
                },
                "invalid_lookup",
            )
        if asked:
            return self.submit_bulk_export_job([value.strip() for value in raw_ids], asked)
        found = read_by_lookup(
            self, queryset, model_field, values, batch_size=self.get_bulk_batch_size()
        )
        objects, missing = [], []
        for value, obj in zip(values, found):
            if value is None:
                continue  # asked twice: shown once
            if obj is None:
                missing.append(display(value))
                continue
            objects.append(obj)
        serializer = self.get_serializer(objects, many=True)
        return Response(
            {
                "count": len(objects),
                "results": serializer.data,
                "not_found": missing,
                "is_async": False,
            }
        )

    @bulk.mapping.post
    def bulk_post(self, request, *args, **kwargs):
        """Create the items, or with ``?upsert=`` create or update them by natural key."""
        values = request.query_params.getlist("upsert")
        if values:
            field = self.get_upsert_field(values[0].strip() if len(values) == 1 else "")
            if field is not None:
                return self.run_bulk_endpoint(UPSERT, status.HTTP_200_OK, upsert_field=field)
        return self.run_bulk_endpoint(CREATE, status.HTTP_201_CREATED)

    @bulk.mapping.put
    def bulk_put(self, request, *args, **kwargs):
        return self.run_bulk_endpoint(UPDATE, status.HTTP_200_OK)

    @bulk.mapping.patch
    def bulk_patch(self, request, *args, **kwargs):
        return self.run_bulk_endpoint(PARTIAL_UPDATE, status.HTTP_200_OK)

    @bulk.mapping.delete
    def bulk_delete(self, request, *args, **kwargs):
        return self.run_bulk_endpoint(DESTROY, status.HTTP_200_OK)

    # Helpers ------------------------------------------------------------

    def get_upsert_field(self, requested: str) -> str | None:
        """The natural key named by ``?upsert=``.

        ``1``/``true``/``yes``/``on`` picks the first declared field and
        ``0``/``false``/``no``/``off`` asks for no upsert (``None``); any other
        value must be one of ``bulk_upsert_fields``.
        """
        allowed = list(self.bulk_upsert_fields)
        flag = FLAG_VALUES.get(requested.lower())
        if flag is False:
            return None
        if not allowed:
            raise RequestError(_("This endpoint does not support upsert."), "upsert_not_allowed")
        if flag:
            return allowed[0]
        if requested not in allowed:
            raise RequestError(
                _("Upsert is allowed on %(fields)s, not on `%(field)s`.")
                % {"fields": ", ".join(f"`{name}`" for name in allowed), "field": requested},
                "upsert_not_allowed",
            )
        return requested

    def get_async_threshold(self) -> int:
        """Writes with more items than this become a job (``ASYNC_THRESHOLD``)."""
        return self.bulk_async_threshold or api_settings.ASYNC_THRESHOLD

    def jobs_enabled(self) -> bool:
        """Whether ``rest_framework_bulk.jobs`` is installed, so large requests can become jobs."""
        return apps.is_installed("rest_framework_bulk.jobs")

    def run_bulk_endpoint(self, action_name: str, success_status: int, **options):
        """Run the write now, or hand it to a job.

        It becomes a job when ``rest_framework_bulk.jobs`` is installed and
        the client sends ``Prefer: respond-async`` or more items than
        ``get_async_threshold()``. Without the jobs app the preference is
        ignored (RFC 7240 allows it) and ``MAX_ITEMS`` bounds the request.
        """
        data = self.request.data
        asked = "respond-async" in self.get_preferences()
        jobs = self.jobs_enabled()
        threshold = self.get_async_threshold()
        limit = api_settings.MAX_ITEMS
        if isinstance(data, CSVRows):
            self.check_csv_header(data)
            # Read no more rows than it takes to decide; a job streams the rest.
            head = list(itertools.islice(data, (max(threshold, limit) if jobs else limit) + 1))
            if not head:
                raise RequestError(_("The CSV file has a header but no rows."), "csv_no_rows")
            if jobs and (asked or len(head) > threshold):
                return self.submit_bulk_job(
                    action_name,
                    itertools.chain(head, data),
                    asked,
                    success_status=success_status,
                    **options,
                )
            if len(head) > limit:
                data.close()
                raise TooManyItems(None, limit)
            items = head
        else:
            if hasattr(data, "getlist") and (data or not action_name == DESTROY):
                # A form, or a multipart body without its `file` part.
                raise RequestError(
                    _(
                        "Send a JSON list, a CSV body, or a CSV file in the `file` part of a multipart form."
                    ),
                    "csv_no_file"
                    if "multipart" in (self.request.content_type or "")
                    else "not_a_list",
                )
            items = data
            if jobs and isinstance(items, list) and items and (asked or len(items) > threshold):
                return self.submit_bulk_job(
                    action_name, items, asked, success_status=success_status, **options
                )
        operation = self.get_bulk_operation(action_name, **options)
        result = self.run_operation(operation, items)
        return self.get_bulk_endpoint_response(result, items, success_status)

    def submit_bulk_job(
        self,
        action_name: str,
        items,
        asked: bool,
        *,
        success_status: int = status.HTTP_200_OK,
        **options,
    ):
        """Hand the write to a job: ``202 Accepted``, or with ``Prefer: wait=N`` the job's answer if it ends in time."""
        # The jobs app is optional, and its modules need its models installed.
        from .jobs.submit import accepted_response, submit_job
        from .jobs.wait import can_wait, job_summary, wait_for_job

        bulk_options = {**self.get_bulk_options(), **options}
        job = submit_job(
            request=self.request,
            view=self,
            operation=action_name,
            items_or_file=items,
            options={
                "handling": "lenient" if bulk_options.get("lenient") else "strict",
                "dry_run": bool(bulk_options.get("dry_run")),
                "upsert_field": bulk_options.get("upsert_field") or "",
            },
        )
        self.apply_handling(bool(bulk_options.get("lenient")))
        seconds = self.get_job_wait()
        if seconds and can_wait():
            finished = wait_for_job(job, seconds)
            if finished is not None:
                try:
                    summary = job_summary(finished)
                except BulkError:
                    self.apply_preference(
                        f"wait={seconds:g}" if seconds < 1e6 else f"wait={int(seconds)}"
                    )
                    raise
                if summary is not None:
                    self.apply_preference(
                        f"wait={seconds:g}" if seconds < 1e6 else f"wait={int(seconds)}"
                    )
                    return self.get_bulk_summary_response(summary, success_status)
        if asked:
            self.apply_preference("respond-async")
        return accepted_response(job, self.request)

    def get_job_wait(self) -> float | None:
        """Seconds to wait for a job, from ``Prefer: wait=N`` capped by ``MAX_WAIT``; ``None``: answer 202 at once.

        With ``respond-async`` too, the request waits as long and answers
        202 if the job is not done by then (RFC 7240, section 4.3).
        """
        asked = parse_wait(self.get_preferences())
        if not asked:
            return None
        return min(asked, api_settings.MAX_WAIT)

    def submit_bulk_export_job(self, ids: list[str], asked: bool, filters=None):
        """Hand a bulk GET to an export job: the ids asked, or the body's filters."""
        # The jobs app is optional, and its modules need its models installed.
        from .jobs.submit import accepted_response, submit_job

        job = submit_job(
            request=self.request,
            view=self,
            operation="retrieve",
            items_or_file=ids,
            options={"filters": filters},
        )
        if asked:
            self.apply_preference("respond-async")
        return accepted_response(job, self.request)

    def check_csv_header(self, rows: CSVRows) -> None:
        """Refuse a CSV file whose header names none of the serializer's fields.

        Such a file is not what the client meant to send (a JSON file, or a
        CSV file without its header line): its rows would all be ignored.
        """
        # The serializers of a bulk view are ``Serializer``s, which have fields.
        serializer = cast("Serializer", self.get_serializer())
        fields = set(serializer.fields) | {self.get_bulk_lookup_field()}
        if not fields.intersection(rows.fieldnames):
            rows.close()
            raise RequestError(
                _("The first line of the CSV file must name the fields, such as: %(fields)s.")
                % {"fields": ", ".join(sorted(fields)[:10])},
                "csv_header",
            )

    def run_operation(self, operation, items) -> BulkResult:
        """Run ``operation`` on ``items``; you may override this to wrap every ``/bulk/`` write."""
        return operation.run(items)

    def get_bulk_endpoint_response(
        self, result: BulkResult, items: list, success_status: int
    ) -> Response:
        """The answer to a ``/bulk/`` write: its summary, with a result per item."""
        summary = result.summary(items if isinstance(items, list) else [])
        return self.get_bulk_summary_response(summary, success_status)
