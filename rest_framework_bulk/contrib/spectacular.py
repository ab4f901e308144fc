"""
drf-spectacular extensions for the bulk views and the job API.

``rest_framework_bulk`` registers them when drf-spectacular is installed
(``pip install drf-bulk[spectacular]``); nothing needs configuring::

    REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}

Every view with a bulk mixin is described with ``BulkSchemaMixin`` on top of
the view's own schema class, below any ``@extend_schema`` of yours, which
still wins:

* the list route's bulk ``POST``, ``PUT``, ``PATCH`` and ``DELETE``: list
  bodies (each ``PUT``/``PATCH`` item carries its lookup field, a ``PATCH``
  item is partial), list answers or the result summary, the error body;
* ``/bulk/``: JSON, CSV and multipart (file upload) bodies, the result
  summary as JSON or CSV, ``202`` for a job, ``ids``, ``upsert``,
  ``dry_run`` and the ``bulk_filter_fields`` filters;
* ``Prefer`` and ``Idempotency-Key``, and the statuses each view can answer.

The job API (``rest_framework_bulk.jobs``) is described by
``BulkJobViewExtension``.
"""

from __future__ import annotations

import copy
import functools
import inspect
import re
from typing import TYPE_CHECKING, Any

from django.apps import apps
from drf_spectacular.extensions import (
    OpenApiFilterExtension,
    OpenApiSerializerExtension,
    OpenApiViewExtension,
)
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import build_array_type, is_basic_serializer
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import parsers, serializers

from .. import schemas
from ..parsers import CSVMultiPartParser
from ..schemas import (
    BULK_DESTROY,
    BULK_UPDATE,
    CREATE,
    ENDPOINT,
    PARTIAL_BULK_UPDATE,
)

__all__ = [
    "BulkComponent",
    "BulkComponentExtension",
    "BulkSchemaMixin",
    "BulkViewExtension",
    "bulk_schema_class",
]

JSON = "application/json"
CSV_MEDIA_TYPES = ("text/csv", "text/tab-separated-values")
FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

PREFER_LIST_ROUTE = (
    "RFC 7240 preferences: `handling=lenient` writes the valid items and reports the "
    "others (207); `handling=strict` (the default) writes nothing if any item fails; "
    "`return=minimal` answers with the result summary instead of the objects."
)
PREFER_ENDPOINT = (
    "RFC 7240 preferences: `handling=lenient` writes the valid items and reports the "
    "others (207); `handling=strict` (the default) writes nothing if any item fails."
)
PREFER_JOBS = (
    " `respond-async` runs the write as a job (202); `wait=N` waits up to N seconds "
    "(capped by `MAX_WAIT`) for a job to end and answers its result if it does."
)


def _flag_parameter(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(
        name,
        OpenApiTypes.STR,
        OpenApiParameter.QUERY,
        enum=["1", "true", "yes", "on", "0", "false", "no", "off"],
        description=description,
    )


def _raw_parameter(parameter: dict[str, Any]) -> OpenApiParameter:
    """An OpenAPI parameter object (a filter backend's, a paginator's) as drf-spectacular's."""
    return OpenApiParameter(
        parameter["name"],
        parameter.get("schema", {"type": "string"}),
        parameter.get("in", OpenApiParameter.QUERY),
        required=parameter.get("required", False),
        description=parameter.get("description", ""),
        style=parameter.get("style"),
        explode=parameter.get("explode"),
    )


class BulkComponent(serializers.Serializer):
    """A stand-in for a schema of ``rest_framework_bulk.schemas``, named ``component_name``.

    drf-spectacular registers it as a component through
    ``BulkComponentExtension``, like any serializer.
    """

    component_name = ""

    def get_component_schema(self, auto_schema, direction) -> dict[str, Any]:
        raise NotImplementedError


class BulkItemErrorComponent(BulkComponent):
    component_name = "BulkItemError"

    def get_component_schema(self, auto_schema, direction):
        return schemas.item_error_schema()


class BulkErrorComponent(BulkComponent):
    component_name = "BulkError"

    def get_component_schema(self, auto_schema, direction):
        item = auto_schema.resolve_serializer(BulkItemErrorComponent(), direction).ref
        return schemas.error_schema(item)


class BulkItemStatusComponent(BulkComponent):
    # A component of its own, so that drf-spectacular's enum naming leaves
    # the project's own `status` choices alone.
    component_name = "BulkItemStatus"

    def get_component_schema(self, auto_schema, direction):
        return schemas.item_status_schema()


class BulkItemResultComponent(BulkComponent):
    component_name = "BulkItemResult"

    def get_component_schema(self, auto_schema, direction):
        status = auto_schema.resolve_serializer(BulkItemStatusComponent(), direction).ref
        return schemas.item_result_schema(status)


class BulkResultComponent(BulkComponent):
    component_name = "BulkResult"

    def get_component_schema(self, auto_schema, direction):
        item = auto_schema.resolve_serializer(BulkItemResultComponent(), direction).ref
        return schemas.result_schema(item)


class BulkJobAcceptedComponent(BulkComponent):
    component_name = "BulkJobAccepted"

    def get_component_schema(self, auto_schema, direction):
        return schemas.job_accepted_schema()


class BulkComponentExtension(OpenApiSerializerExtension):
    target_class = BulkComponent
    match_subclasses = True

    def get_name(self, auto_schema, direction):
        return self.target.component_name

    def get_identity(self, auto_schema, direction):
        return f"rest_framework_bulk.{self.target.component_name}"

    def map_serializer(self, auto_schema, direction):
        return self.target.get_component_schema(auto_schema, direction)


def _is_library(cls) -> bool:
    return (getattr(cls, "__module__", "") or "").startswith("rest_framework_bulk.")


def project_doc(view_class, name: str | None = None) -> str:
    """The docstring drf-spectacular would describe an operation with, unless it is drf-bulk's.

    drf-spectacular falls back on the docstrings of base classes (and of the
    methods they define), stopping at DRF's own. drf-bulk's docstrings
    document the library for developers, not a project's API: the search
    stops at them too. ``name`` is the action's method; without it, the
    view class's own docstring.
    """
    if spectacular_settings.DISABLE_DOCSTRING_DESCRIPTIONS:
        return ""
    for cls in view_class.__mro__:
        if _is_library(cls) or cls.__module__.startswith("rest_framework."):
            return ""
        if name is None:
            doc = cls.__dict__.get("__doc__")
        elif name in cls.__dict__:
            doc = getattr(cls.__dict__[name], "__doc__", None)
        else:
            continue
        if doc:
            return "\n".join(line.rstrip() for line in inspect.cleandoc(doc).rstrip().split("\n"))
    return ""


if TYPE_CHECKING:
    _AutoSchema = AutoSchema
else:
    _AutoSchema = object


class BulkSchemaMixin(_AutoSchema):
    """Describes the bulk routes of a view; mixed into drf-spectacular's ``AutoSchema``.

    You may want to override ``get_bulk_responses()`` to add a status your
    hooks answer, or ``get_bulk_parameters()`` for a header of your own.
    """

    # drf-spectacular's AutoSchema.get_description() takes no arguments,
    # unlike DRF's ViewInspector's, and says so with the same ignore.
    def get_description(self) -> str:  # type: ignore[override]
        """The project's docstrings, as drf-spectacular reads them, but never drf-bulk's own."""
        view_class = type(self.view)
        action = getattr(self.view, "action", None) or self.method.lower()
        return project_doc(view_class, action) or project_doc(view_class)

    # What the operation is ----------------------------------------------

    def get_bulk_kind(self) -> str | None:
        return schemas.bulk_kind(self.view, self.method, self.path)

    def is_upsert_allowed(self) -> bool:
        return bool(list(getattr(self.view, "bulk_upsert_fields", ()) or ()))

    # Shared components --------------------------------------------------

    def component_ref(self, component: type[BulkComponent]) -> dict[str, Any]:
        return self.resolve_serializer(component(), "response").ref

    def error_ref(self) -> dict[str, Any]:
        return self.component_ref(BulkErrorComponent)

    def result_ref(self) -> dict[str, Any]:
        return self.component_ref(BulkResultComponent)

    def job_accepted_ref(self) -> dict[str, Any]:
        return self.component_ref(BulkJobAcceptedComponent)

    # The view's serializer ----------------------------------------------

    def bulk_serializer(self, direction: str = "request", *, partial: bool = False):
        """The view's serializer, or ``None`` when it is no plain serializer."""
        getter = (
            super().get_request_serializer
            if direction == "request"
            else super().get_response_serializers
        )
        serializer = getter()
        if not is_basic_serializer(serializer):
            return None
        if partial:
            # As drf-spectacular does for PATCH: a copy, so no other view sees it.
            serializer = copy.copy(serializer)
            serializer.partial = True
        return serializer

    def item_schema(self, *, partial: bool = False, lookup: bool = False) -> dict | None:
        """An item of a bulk body: the serializer, with its lookup field for updates."""
        serializer = self.bulk_serializer(partial=partial)
        if serializer is None:
            return None
        ref = self.resolve_serializer(serializer, "request").ref
        if not lookup:
            return ref
        return {"allOf": [ref, schemas.item_lookup_schema(self.view)]}

    def object_ref(self) -> dict | None:
        serializer = self.bulk_serializer("response")
        return self.resolve_serializer(serializer, "response").ref if serializer else None

    # Requests -------------------------------------------------------------

    def get_request_serializer(self):
        kind = self.get_bulk_kind()
        if kind is None or self.method not in ("POST", "PUT", "PATCH"):
            return super().get_request_serializer()
        item = self.item_schema(
            partial=self.method == "PATCH",
            lookup=self.method in ("PUT", "PATCH"),
        )
        if item is None:
            return super().get_request_serializer()
        content: dict[str, Any] = {}
        for parser in self.view.get_parsers():
            media_type = parser.media_type.split(";")[0]
            if media_type in content:
                continue
            if isinstance(parser, CSVMultiPartParser):
                content[media_type] = schemas.multipart_schema()
            elif media_type in CSV_MEDIA_TYPES:
                content[media_type] = {"type": "string", "description": "CSV rows, with a header."}
            elif isinstance(parser, (parsers.FormParser, parsers.MultiPartParser)):
                if kind == CREATE:
                    content[media_type] = self.bulk_serializer()  # one object
            elif kind == CREATE:
                content[media_type] = {"oneOf": [item, build_array_type(item)]}
            else:
                content[media_type] = build_array_type(item)
        return content

    def get_destroy_request_body(self) -> dict[str, Any] | None:
        """The body of a bulk ``DELETE``: the objects' lookup values (or objects carrying them)."""
        items = build_array_type(schemas.destroy_item_schema(self.view))
        content = {}
        for parser in self.view.get_parsers():
            media_type = parser.media_type.split(";")[0]
            if isinstance(parser, CSVMultiPartParser):
                content[media_type] = {"schema": schemas.multipart_schema()}
            elif media_type in CSV_MEDIA_TYPES:
                content[media_type] = {
                    "schema": {"type": "string", "description": "CSV rows naming the objects."}
                }
            elif not isinstance(parser, (parsers.FormParser, parsers.MultiPartParser)):
                content.setdefault(media_type, {"schema": items})
        if not content:
            return None
        return {
            "content": content,
            "required": False,
            "description": (
                "The objects to delete. Without a body, the objects the query's filters "
                "select are deleted, if the filters narrow the list."
            ),
        }

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if (
            operation is not None
            and self.method == "DELETE"
            and self.get_bulk_kind() in (BULK_DESTROY, ENDPOINT)
        ):
            body = self.get_destroy_request_body()
            if body is not None:
                # In drf-spectacular's order: the body before security and responses.
                ordered = {}
                for key, value in operation.items():
                    if key in ("security", "responses", "deprecated") and body is not None:
                        ordered["requestBody"], body = body, None
                    ordered[key] = value
                operation = ordered
        return operation

    # Parameters -----------------------------------------------------------

    def get_filter_backends(self):
        kind = self.get_bulk_kind()
        if kind in (BULK_UPDATE, PARTIAL_BULK_UPDATE, BULK_DESTROY, ENDPOINT):
            backends = getattr(self.view, "filter_backends", None) or []
        else:
            backends = super().get_filter_backends()
        # A backend that cannot describe itself adds nothing rather than stop the generator.
        return [
            backend
            for backend in backends
            if OpenApiFilterExtension.get_match(backend())
            or hasattr(backend, "get_schema_operation_parameters")
        ]

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if self.get_bulk_kind() is not None:
            parameters += self.get_bulk_parameters()
        return parameters

    def get_bulk_parameters(self) -> list[OpenApiParameter]:
        """The query parameters and headers of a bulk operation, and its response headers."""
        kind = self.get_bulk_kind()
        view = self.view
        jobs = kind == ENDPOINT and schemas.jobs_installed()
        parameters = []
        if kind == ENDPOINT and self.method == "GET":
            parameters.append(
                OpenApiParameter(
                    "ids",
                    build_array_type(schemas.lookup_schema(view)),
                    OpenApiParameter.QUERY,
                    style="form",
                    explode=False,
                    description=(
                        f"The objects to read, by `{schemas.lookup_field_name(view)}`, "
                        "comma-separated; without it, the filters select them."
                    ),
                )
            )
            paginator = self._get_paginator()
            if paginator is not None and hasattr(paginator, "get_schema_operation_parameters"):
                parameters += [
                    _raw_parameter(parameter)
                    for parameter in paginator.get_schema_operation_parameters(view)
                ]
            if jobs:
                parameters.append(
                    OpenApiParameter(
                        "Prefer",
                        OpenApiTypes.STR,
                        OpenApiParameter.HEADER,
                        enum=["respond-async"],
                        description="`respond-async` exports the objects as a job (202).",
                    )
                )
        if kind == ENDPOINT:
            parameters += [_raw_parameter(p) for p in schemas.bulk_filter_parameters(view)]
        if self.method == "GET":
            return parameters
        if kind == ENDPOINT and self.method == "POST" and self.is_upsert_allowed():
            fields = list(getattr(view, "bulk_upsert_fields", ()))
            parameters.append(
                OpenApiParameter(
                    "upsert",
                    OpenApiTypes.STR,
                    OpenApiParameter.QUERY,
                    enum=["1", "true", "yes", "on", "0", "false", "no", "off", *fields],
                    description=(
                        "Create or update by a natural key: a field name, or a true flag "
                        f"for the first of {', '.join(f'`{name}`' for name in fields)}."
                    ),
                )
            )
        parameters.append(
            _flag_parameter(
                "dry_run", "Validate and report what would happen, and write nothing (200)."
            )
        )
        prefer = PREFER_ENDPOINT if kind == ENDPOINT else PREFER_LIST_ROUTE
        if jobs:
            prefer += PREFER_JOBS
        parameters.append(
            OpenApiParameter(
                "Prefer", OpenApiTypes.STR, OpenApiParameter.HEADER, description=prefer
            )
        )
        if schemas.idempotency_installed():
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    {"type": "string", "minLength": 1, "maxLength": 255},
                    OpenApiParameter.HEADER,
                    required=schemas.idempotency_key_required(view),
                    description=(
                        "Run the request once: a retry with the same key gets the first "
                        "answer again, with `Idempotent-Replayed: true`."
                    ),
                )
            )
            parameters.append(
                OpenApiParameter(
                    "Idempotent-Replayed",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    enum=["true"],
                    response=True,
                    description="Set when the answer is the replay of a first request's.",
                )
            )
        parameters.append(
            OpenApiParameter(
                "Preference-Applied",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                response=[200, 201, 202, 207],
                description="The preferences of `Prefer` that the answer honours.",
            )
        )
        if jobs:
            parameters.append(
                OpenApiParameter(
                    "Location",
                    {"type": "string", "format": "uri"},
                    OpenApiParameter.HEADER,
                    response=[202],
                    description="The job's status URL.",
                )
            )
        return parameters

    # Responses ------------------------------------------------------------

    def get_response_serializers(self):
        kind = self.get_bulk_kind()
        if kind is None:
            return super().get_response_serializers()
        responses = self.get_bulk_responses(kind)
        return responses if responses is not None else super().get_response_serializers()

    def error_response(self, description: str) -> OpenApiResponse:
        return OpenApiResponse(self.error_ref(), description=description)

    def get_bulk_responses(self, kind: str) -> dict | None:
        """The answers of a bulk operation, by status code."""
        obj = self.object_ref()
        if obj is None:
            return None
        result = self.result_ref()
        view = self.view
        responses: dict[Any, Any] = {}
        if kind == ENDPOINT and self.method == "GET":
            listed = build_array_type(obj)
            paginator = self._get_paginator()
            body = (
                paginator.get_paginated_response_schema(listed)
                if paginator is not None
                else schemas.retrieved_schema(listed)
            )
            responses[(200, JSON)] = OpenApiResponse(
                body, description="The objects, in the order asked for."
            )
            responses[(200, "text/csv")] = OpenApiResponse(
                {"type": "string"}, description="The objects as CSV rows, with a header."
            )
            if schemas.jobs_installed():
                responses[(202, JSON)] = OpenApiResponse(
                    self.job_accepted_ref(),
                    description="With `Prefer: respond-async`: an export job was started.",
                )
            responses[(400, JSON)] = self.error_response(
                "A filter or an id is not valid (`filter_not_allowed`, "
                "`invalid_filter_value`, `invalid_lookup`, `invalid_ids`)."
            )
            responses[(413, JSON)] = self.error_response(
                "More objects match than `MAX_ITEMS` (`too_many_items`)."
            )
            return responses

        lenient = schemas.lenient_allowed()
        if kind == ENDPOINT:
            success = 201 if self.method == "POST" else 200
            text = {
                "POST": "Every item was created.",
                "PUT": "Every item was replaced.",
                "PATCH": "Every item was updated.",
                "DELETE": "Every item was deleted.",
            }[self.method]
            responses[(success, JSON)] = OpenApiResponse(result, description=text)
            responses[(success, "text/csv")] = OpenApiResponse(
                schemas.csv_result_schema(), description=text
            )
            ok_200 = "A dry run, or an upsert: every item succeeded."
            if success != 200:
                responses[(200, JSON)] = OpenApiResponse(result, description=ok_200)
                responses[(200, "text/csv")] = OpenApiResponse(
                    schemas.csv_result_schema(), description=ok_200
                )
            if schemas.jobs_installed():
                responses[(202, JSON)] = OpenApiResponse(
                    self.job_accepted_ref(),
                    description=(
                        "The write runs as a job: more items than `ASYNC_THRESHOLD`, or "
                        "`Prefer: respond-async`. Follow `status_url`."
                    ),
                )
        else:
            listed = build_array_type(obj)
            if kind == CREATE:
                responses[201] = OpenApiResponse(
                    {"oneOf": [obj, listed, result]},
                    description=(
                        "The object created; for a list, the objects created in payload "
                        "order, or the result summary with `Prefer: return=minimal` or "
                        "`handling=lenient`."
                    ),
                )
                responses[200] = OpenApiResponse(
                    result, description="A dry run: the result summary; nothing was written."
                )
            elif kind == BULK_DESTROY:
                responses[204] = OpenApiResponse(description="The objects were deleted.")
                responses[200] = OpenApiResponse(
                    result,
                    description=(
                        "The result summary: with `Prefer: return=minimal` or "
                        "`handling=lenient`, or a dry run."
                    ),
                )
            else:
                responses[200] = OpenApiResponse(
                    {"oneOf": [listed, result]},
                    description=(
                        "The objects written, in payload order, or the result summary with "
                        "`Prefer: return=minimal` or `handling=lenient`, or a dry run."
                    ),
                )
        if lenient:
            responses[(207, JSON)] = OpenApiResponse(
                result,
                description=(
                    "`Prefer: handling=lenient`: some items were written, the others were rejected."
                ),
            )
            if kind == ENDPOINT:
                responses[(207, "text/csv")] = OpenApiResponse(
                    schemas.csv_result_schema(), description="The same, as CSV."
                )
        bad_request = (
            "The request or an item was rejected and nothing was written: the error body. "
            "With `Prefer: handling=lenient`, every item was rejected: the result summary "
            'with `"code": "invalid"`.'
        )
        if kind == CREATE:
            bad_request += " The creation of one object answers DRF's field errors."
            responses[(400, JSON)] = OpenApiResponse(
                {
                    "oneOf": [
                        self.error_ref(),
                        result,
                        {"type": "object", "additionalProperties": {}},
                    ]
                },
                description=bad_request,
            )
        else:
            responses[(400, JSON)] = OpenApiResponse(
                {"oneOf": [self.error_ref(), result]}, description=bad_request
            )
        if kind != CREATE and schemas.has_object_permissions(view):
            responses[(403, JSON)] = self.error_response(
                "An item's object is refused by the view's object permissions "
                "(`permission_denied`)."
            )
        conflict = (
            "The database refused an item (`conflict`), an object to delete is protected "
            "(`protected`), or a concurrent request won (`transaction_conflict`)"
        )
        if schemas.version_field_name(view) and kind != CREATE:
            conflict += ", or an item's version is stale (`version_conflict`)"
        if schemas.idempotency_installed():
            conflict += ", or the first request with this `Idempotency-Key` still runs"
        responses[(409, JSON)] = self.error_response(conflict + ".")
        too_large = "More items than `MAX_ITEMS` (`too_many_items`)"
        if kind == ENDPOINT:
            too_large += ", or a CSV file over `CSV_MAX_FILE_SIZE` (`csv_too_large`)"
        responses[(413, JSON)] = self.error_response(too_large + ".")
        if schemas.idempotency_installed():
            responses[(422, JSON)] = self.error_response(
                "The `Idempotency-Key` was used for another request (`idempotency_key_mismatch`)."
            )
        if kind != CREATE and schemas.version_required(view):
            responses[(428, JSON)] = self.error_response(
                "An item carries no version and the view requires one (`version_required`)."
            )
        return responses

    # Names ------------------------------------------------------------------

    def get_operation_id(self):
        kind = self.get_bulk_kind()
        if kind is None or kind == CREATE:
            return super().get_operation_id()
        if kind == ENDPOINT:
            # The path ends in `bulk` already: `products_bulk_patch`.
            action = self.method.lower()
        else:
            # Not the detail route's `update`, `partial_update` and `destroy`.
            action = {
                BULK_UPDATE: "bulk_update",
                PARTIAL_BULK_UPDATE: "partial_bulk_update",
                BULK_DESTROY: "bulk_destroy",
            }[kind]
        tokens = [token.replace("-", "_") for token in self._tokenize_path()] or ["root"]
        if re.search(r"<drf_format_suffix\w*:\w+>", self.path_regex):
            tokens.append("formatted")
        if spectacular_settings.OPERATION_ID_METHOD_POSITION == "PRE":
            return "_".join([action, *tokens])
        return "_".join([*tokens, action])


@functools.cache
def bulk_schema_class(schema_class: type) -> type:
    """``schema_class`` with ``BulkSchemaMixin`` below its ``@extend_schema`` layers.

    drf-spectacular's decorators subclass the view's schema class; the mixin
    goes between them and drf-spectacular's ``AutoSchema``, so that what a
    decorator says still wins.
    """
    if issubclass(schema_class, BulkSchemaMixin):
        return schema_class
    base = AutoSchema.__mro__
    above = tuple(cls for cls in schema_class.__mro__ if cls not in base)
    return type(f"Bulk{schema_class.__name__}", (*above, BulkSchemaMixin, *base), {})


class BulkViewExtension(OpenApiViewExtension):
    """Describes the bulk views whose ``schema`` is their own.

    The bulk mixins' ``DefaultSchema`` adds ``BulkSchemaMixin`` already; a
    view that sets ``schema`` itself, or a class-level ``@extend_schema``,
    gets it here.
    """

    target_class = "rest_framework_bulk.mixins.BulkViewMixin"
    match_subclasses = True

    def view_replacement(self):
        schema_class = type(self.target.schema)
        if not issubclass(schema_class, AutoSchema) or issubclass(schema_class, BulkSchemaMixin):
            return self.target  # not drf-spectacular's, or described already
        return type(
            self.target.__name__,
            (self.target,),
            {
                "schema": bulk_schema_class(schema_class)(),
                "__doc__": self.target.__doc__,
                "__module__": self.target.__module__,
                "__qualname__": self.target.__qualname__,
            },
        )


if apps.is_installed("rest_framework_bulk.jobs"):
    from ..jobs.models import BulkJob
    from ..jobs.results import KINDS
    from ..jobs.serializers import BulkJobSerializer
    from ..jobs.views import BulkJobViewSet

    def _counted_link() -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "count": {"type": "integer"},
                "url": {"type": "string", "format": "uri"},
            },
            "required": ["count", "url"],
        }

    class BulkJobChoicesComponent(BulkComponent):
        """The choices of a job's field, named after the job, not the field."""

        choices: Any = None

        def get_component_schema(self, auto_schema, direction):
            return {
                "type": "string",
                "enum": list(self.choices.values),
                "description": "\n".join(
                    f"* `{value}` - {label}" for value, label in self.choices.choices
                ),
            }

    class BulkJobStateComponent(BulkJobChoicesComponent):
        component_name = "BulkJobState"
        choices = BulkJob.State

    class BulkJobOperationComponent(BulkJobChoicesComponent):
        component_name = "BulkJobOperation"
        choices = BulkJob.Operation

    class BulkJobHandlingComponent(BulkJobChoicesComponent):
        component_name = "BulkJobHandling"
        choices = BulkJob.Handling

    JOB_CHOICES = {
        "state": BulkJobStateComponent,
        "operation": BulkJobOperationComponent,
        "handling": BulkJobHandlingComponent,
    }

    class BulkJobSerializerExtension(OpenApiSerializerExtension):
        """Spells out the computed fields of a job (``progress``, ``counts``, ``results``)."""

        target_class = BulkJobSerializer
        match_subclasses = True

        def map_serializer(self, auto_schema, direction):
            schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
            properties = schema.get("properties", {})
            integer = {"type": "integer"}
            computed = {
                "progress": {
                    "type": "object",
                    "properties": {
                        "current": integer,
                        "total": integer,
                        "percentage": {"type": "number"},
                        "message": {"type": "string"},
                        "phase": {"type": "string", "nullable": True},
                    },
                    "required": ["current", "total", "percentage", "message", "phase"],
                },
                "counts": {
                    "type": "object",
                    "properties": {
                        name: integer
                        for name in ("total", "processed", "succeeded", "failed", "unprocessed")
                    },
                    "required": ["total", "processed", "succeeded", "failed", "unprocessed"],
                },
                "result": {
                    "type": "object",
                    "additionalProperties": {},
                    "nullable": True,
                    "description": (
                        "Once the job has finished: its result summary, the id lists cut "
                        "to `JOB_STATUS_MAX_IDS` (`ids_truncated`, `id_counts`, `ids_urls`)."
                    ),
                },
                "status_url": {"type": "string", "format": "uri"},
                "results": {
                    "type": "object",
                    "properties": {kind: _counted_link() for kind in KINDS},
                    "nullable": True,
                    "description": "Once the job has finished: its result files.",
                },
            }
            for name, component in JOB_CHOICES.items():
                # Not `StateEnum`: the project may have a `state` of its own.
                computed[name] = {
                    "allOf": [auto_schema.resolve_serializer(component(), direction).ref]
                }
            for name, field_schema in computed.items():
                if name in properties:
                    properties[name] = {**field_schema, "readOnly": True}
            return schema

    class BulkJobViewExtension(OpenApiViewExtension):
        """Describes the job API: list, status, cancel, delete and result files."""

        target_class = BulkJobViewSet

        def view_replacement(self):
            def error(description: str) -> OpenApiResponse:
                return OpenApiResponse(BulkErrorComponent, description=description)

            not_found = error("No such job, or another user's (`not_found`).")
            task_id = OpenApiParameter(
                "task_id",
                OpenApiTypes.UUID,
                OpenApiParameter.PATH,
                description="The job's id, as `task_id` in its representation.",
            )
            retry_after = OpenApiParameter(
                "Retry-After",
                OpenApiTypes.INT,
                OpenApiParameter.HEADER,
                response=[200, 202],
                description="While the job waits or runs: seconds to wait before asking again.",
            )

            job = self.target.serializer_class

            @extend_schema_view(
                list=extend_schema(
                    parameters=[
                        OpenApiParameter(
                            "state",
                            OpenApiTypes.STR,
                            OpenApiParameter.QUERY,
                            enum=[state.lower() for state in BulkJob.State.values],
                            description="Only the jobs in this state (any case).",
                        )
                    ],
                    description="Your jobs, newest first (every job for staff).",
                ),
                retrieve=extend_schema(
                    parameters=[task_id, retry_after],
                    responses={200: job, 404: not_found},
                    description="The job: its state, progress and, once it has finished, its result.",
                ),
                job_status=extend_schema(
                    parameters=[task_id, retry_after], responses={200: job, 404: not_found}
                ),
                cancel=extend_schema(
                    request=None,
                    parameters=[task_id, retry_after],
                    responses={
                        200: OpenApiResponse(job, description="The job was cancelled."),
                        202: OpenApiResponse(job, description="The running job is stopping."),
                        404: not_found,
                        409: error("The job has already finished (`job_finished`)."),
                    },
                ),
                destroy=extend_schema(
                    parameters=[task_id],
                    description="Delete the job and its result files.",
                    responses={
                        204: OpenApiResponse(description="The job and its files were deleted."),
                        404: not_found,
                        409: error("The job is still running; cancel it first (`job_running`)."),
                    },
                ),
                results=extend_schema(
                    parameters=[
                        task_id,
                        OpenApiParameter(
                            "kind", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(KINDS)
                        ),
                    ],
                    responses={
                        (200, "application/jsonl"): OpenApiResponse(
                            OpenApiTypes.BINARY, description="One JSON document per item."
                        ),
                        (200, "text/csv"): OpenApiResponse(
                            OpenApiTypes.BINARY, description="One CSV row per item."
                        ),
                        (404, JSON): error(
                            "No such job, kind (`unknown_result_kind`) or file (`result_missing`)."
                        ),
                        (409, JSON): error("The job has not finished (`job_not_finished`)."),
                    },
                ),
            )
            class View(self.target):
                __doc__ = self.target.__doc__

            View.__name__ = self.target.__name__
            View.__qualname__ = self.target.__qualname__
            View.__module__ = self.target.__module__
            return View
