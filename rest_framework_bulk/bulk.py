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

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from rest_framework import parsers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from . import lookups
from .exceptions import BulkError, RequestError, TooManyItems
from .filters import BulkFilter
from .mixins import BulkDestroyModelMixin
from .operations import CREATE, DESTROY, PARTIAL_UPDATE, UPDATE, UPSERT, BulkResult, describe
from .parsers import CSVMultiPartParser, CSVParser, CSVRows, TSVParser
from .renderers import CSVRenderer
from .settings import api_settings

__all__ = ["BulkOperationsMixin"]

TRUE = {"1", "true", "yes", "on"}

# The query parameters the endpoint reads itself; never taken as filters.
RESERVED = frozenset({"ids", "upsert", "dry_run", "format", "delimiter"})

BULK_ACTIONS = {"bulk", "bulk_post", "bulk_put", "bulk_patch", "bulk_delete"}


class BulkOperationsMixin(BulkDestroyModelMixin):
    """Adds ``{prefix}/bulk/`` to a viewset."""

    #: Fields and lookups clients may filter on, as django-filter's
    #: ``filterset_fields``: a list (exact matches) or a dict of lookups.
    #: ``None`` allows only the lookup field.
    bulk_filter_fields = None
    #: The class that validates and applies client filters.
    bulk_filter_class = BulkFilter
    #: Natural keys a client may upsert on (``?upsert=<field>``).
    bulk_upsert_fields: Iterable[str] = ()

    def get_csv_max_file_size(self) -> int:
        return getattr(self, "csv_max_file_size", None) or api_settings.CSV_MAX_FILE_SIZE

    def get_csv_null_value(self) -> str:
        return getattr(self, "csv_null_value", None) or api_settings.CSV_NULL_VALUE

    # Content negotiation ------------------------------------------------

    def bulk_action(self) -> str | None:
        name = getattr(self, "action", None)
        if name is None and getattr(self, "action_map", None) and getattr(self, "request", None) is not None:
            name = self.action_map.get(self.request.method.lower())
        return name

    def get_parsers(self):
        parser_list = super().get_parsers()
        if self.bulk_action() not in BULK_ACTIONS:
            return parser_list
        parser_list = [p for p in parser_list if not isinstance(p, parsers.MultiPartParser)]
        return [*parser_list, CSVParser(), TSVParser(), CSVMultiPartParser()]

    def get_renderers(self):
        renderer_list = super().get_renderers()
        if self.bulk_action() in BULK_ACTIONS:
            renderer_list.append(CSVRenderer())
        return renderer_list

    # Hooks the engine calls ---------------------------------------------

    def perform_bulk_create(self, serializer):
        return self.perform_create(serializer)

    def perform_bulk_update(self, serializer):
        return self.perform_update(serializer)

    def get_bulk_options(self) -> dict:
        options = super().get_bulk_options()
        options["dry_run"] = self.request.query_params.get("dry_run", "").lower() in TRUE
        return options

    # The endpoint -------------------------------------------------------

    @action(detail=False, methods=["get"], url_path="bulk", url_name="bulk")
    def bulk(self, request, *args, **kwargs):
        """Retrieve the objects named by ``?ids=`` or matching the filters."""
        queryset = self.filter_queryset(self.get_queryset())
        ids = request.query_params.get("ids")
        if ids is not None:
            return self.bulk_retrieve_ids(queryset, [value for value in ids.split(",") if value.strip()])
        body = request.data if isinstance(request.data, dict) else {}
        bulk_filter = self.bulk_filter_class(self, reserved=RESERVED | set(getattr(self, "bulk_reserved_params", ())))
        queryset = bulk_filter.filter_queryset(queryset, request.query_params)
        if body.get("filters") is not None:
            queryset = bulk_filter.filter_queryset(queryset, body["filters"])
        limit = api_settings.MAX_ITEMS
        objects = list(queryset[: limit + 1])
        if len(objects) > limit:
            raise TooManyItems(len(objects), limit)
        serializer = self.get_serializer(objects, many=True)
        return Response({"count": len(objects), "results": serializer.data, "not_found": [], "is_async": False})

    def bulk_retrieve_ids(self, queryset, raw_ids: list[str]):
        limit = api_settings.MAX_ITEMS
        if len(raw_ids) > limit:
            raise TooManyItems(len(raw_ids), limit)
        field = self.bulk_lookup_field()
        model_field = lookups.get_model_field(queryset.model, field)
        values, errors = lookups.lookup_values([{field: value.strip()} for value in raw_ids], field, model_field)
        invalid = [error for error in errors if error.code == "invalid_lookup"]
        if invalid:
            raise RequestError(
                _("Not valid values of `%(field)s`: %(values)s.")
                % {"field": field, "values": ", ".join(str(error.lookup) for error in invalid)},
                "invalid_lookup",
            )
        found = lookups.fetch(queryset, model_field, values, batch_size=api_settings.BATCH_SIZE, lock_rows=False)
        objects, missing = [], []
        for raw, value in zip(raw_ids, values):
            if value is None:
                continue  # asked twice: shown once
            obj = found.get(value)
            if obj is None:
                missing.append(lookups.display(value))
                continue
            try:
                self.check_object_permissions(self.request, obj)
            except Exception:
                missing.append(lookups.display(value))
                continue
            objects.append(obj)
        serializer = self.get_serializer(objects, many=True)
        return Response({"count": len(objects), "results": serializer.data, "not_found": missing, "is_async": False})

    @bulk.mapping.post
    def bulk_post(self, request, *args, **kwargs):
        """Create the items, or with ``?upsert=`` create or update them by natural key."""
        upsert = request.query_params.get("upsert")
        if upsert is not None and upsert.strip():
            field = self.get_upsert_field(upsert.strip())
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

    def bulk_lookup_field(self) -> str:
        serializer_class = self.get_serializer_class()
        return getattr(getattr(serializer_class, "Meta", None), "update_lookup_field", lookups.DEFAULT_LOOKUP_FIELD)

    def get_upsert_field(self, requested: str) -> str:
        """The natural key named by ``?upsert=``; ``1``/``true`` picks the first declared."""
        allowed = list(self.bulk_upsert_fields)
        if not allowed:
            raise RequestError(_("This endpoint does not support upsert."), "upsert_not_allowed")
        if requested.lower() in TRUE:
            return allowed[0]
        if requested not in allowed:
            raise RequestError(
                _("Upsert is allowed on %(fields)s, not on `%(field)s`.")
                % {"fields": ", ".join(f"`{name}`" for name in allowed), "field": requested},
                "upsert_not_allowed",
            )
        return requested

    def get_bulk_items(self) -> list:
        """The request's items as a list: a JSON list, or the rows of a CSV body or upload."""
        data = self.request.data
        if isinstance(data, CSVRows):
            limit = api_settings.MAX_ITEMS
            rows = list(itertools.islice(data, limit + 1))
            if len(rows) > limit:
                data.close()
                raise TooManyItems(len(rows), limit)
            return rows
        if hasattr(data, "getlist") and not data:
            return []
        return data

    def run_bulk_endpoint(self, action_name: str, success_status: int, **options):
        items = self.get_bulk_items()
        operation = self.get_bulk_operation(action_name, **options)
        result = self.run_operation(operation, items)
        return self.get_bulk_endpoint_response(result, items, success_status)

    def run_operation(self, operation, items) -> BulkResult:
        try:
            return operation.run(items)
        except DjangoValidationError as exc:
            raise RequestError(describe(exc.messages), "invalid") from exc
        except BulkError as exc:
            # Point CSV clients at the line of each rejected row.
            for error in exc.item_errors:
                if 0 <= error.index < len(items):
                    error.line = getattr(items[error.index], "line", None)
            exc.detail["errors"] = [error.as_dict() for error in exc.item_errors]
            raise

    def get_bulk_endpoint_response(self, result: BulkResult, items: list, success_status: int) -> Response:
        summary = result.summary(items)
        lines = {index: getattr(item, "line", None) for index, item in enumerate(items)}
        for entry in (*summary["errors"], *summary["items"]):
            line = lines.get(entry["index"])
            if line is not None:
                entry["line"] = line
        headers = {}
        applied = [name for name, on in (("handling=lenient", self.get_bulk_options().get("lenient")),) if on]
        if applied:
            headers["Preference-Applied"] = ", ".join(applied)
        status_code = success_status
        if result.dry_run:
            status_code = status.HTTP_200_OK
        if result.failed:
            status_code = status.HTTP_207_MULTI_STATUS if result.succeeded else status.HTTP_400_BAD_REQUEST
            if not result.succeeded:
                summary = {"code": "invalid", **summary}
        if getattr(self.request, "accepted_renderer", None) is not None and self.request.accepted_renderer.format == "csv":
            return Response(
                [self.csv_result_row(entry) for entry in summary["items"]], status=status_code, headers=headers
            )
        return Response(summary, status=status_code, headers=headers)

    @staticmethod
    def csv_result_row(entry: dict) -> dict:
        return {
            "index": entry["index"],
            "line": entry.get("line"),
            "status": entry["status"],
            "id": entry.get("id", entry.get("lookup")),
            "code": entry.get("code"),
            "error": describe(entry["detail"]) if entry.get("detail") is not None else None,
        }

