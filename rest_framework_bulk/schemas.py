"""
OpenAPI descriptions of the bulk routes, for DRF's schema generator and for drf-spectacular.

The shapes every bulk view answers with (the error body, the result summary,
the ``202`` of a job) are plain OpenAPI schema objects here, with the query
parameters of ``bulk_filter_fields``. :mod:`rest_framework_bulk.contrib.spectacular`
builds drf-spectacular's schema from them; ``BulkAutoSchema`` is the one
DRF's own ``generateschema`` uses for bulk views, when
``DEFAULT_SCHEMA_CLASS`` is DRF's ``AutoSchema``::

    $ python manage.py generateschema --file openapi.yaml

DRF's generator describes each method once, so ``BulkAutoSchema`` gives the
list routes' bulk bodies as lists and leaves the rest of the ``/bulk/``
endpoint to drf-spectacular.
"""

from __future__ import annotations

import sys
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from rest_framework.permissions import BasePermission
from rest_framework.schemas.inspectors import DefaultSchema
from rest_framework.schemas.openapi import AutoSchema

from .settings import api_settings
from .targets import DEFAULT_LOOKUP_FIELD, get_model_field

__all__ = [
    "BulkAutoSchema",
    "BulkDefaultSchema",
    "bulk_filter_parameters",
    "bulk_kind",
]

#: What a request on a bulk view is, by ``bulk_kind()``.
CREATE = "create"  # POST on the list route: one object or a list
BULK_UPDATE = "bulk_update"
PARTIAL_BULK_UPDATE = "partial_bulk_update"
BULK_DESTROY = "bulk_destroy"
ENDPOINT = "endpoint"  # any verb on /bulk/

LIST_ROUTE_KINDS = {
    "POST": CREATE,
    "PUT": BULK_UPDATE,
    "PATCH": PARTIAL_BULK_UPDATE,
    "DELETE": BULK_DESTROY,
}

ITEM_STATUSES = [
    "created",
    "updated",
    "deleted",
    "would_create",
    "would_update",
    "would_delete",
    "invalid",
    "not_found",
    "permission_denied",
    "not_authenticated",
    "conflict",
    "protected",
    "version_conflict",
    "version_required",
]

#: A primary key or lookup value as the API shows it: a number, or text (UUIDs).
KEY_SCHEMA: dict[str, Any] = {"anyOf": [{"type": "integer"}, {"type": "string"}]}

#: Any JSON value.
ANY_SCHEMA: dict[str, Any] = {}


def bulk_kind(view, method: str, path: str = "") -> str | None:
    """What ``method`` on ``view`` is: a ``LIST_ROUTE_KINDS`` value, ``ENDPOINT`` or ``None``.

    ``None`` is a route that bulk views leave to DRF: a detail route, a list
    ``GET``, an action of your own.
    """
    method = method.upper()
    action = getattr(view, "action", None)
    if action in getattr(view, "bulk_actions", ()):
        return ENDPOINT
    if getattr(view, "action_map", None):
        # A view set: the router says which action a method runs.
        routed: dict[str | None, str] = {
            "create": CREATE,
            "bulk_update": BULK_UPDATE,
            "partial_bulk_update": PARTIAL_BULK_UPDATE,
            "bulk_destroy": BULK_DESTROY,
        }
        kind = routed.get(action)
        if kind == CREATE and not hasattr(view, "bulk_create"):
            return None
        return kind
    lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
    if lookup and f"{{{lookup}}}" in path:
        return None
    if not hasattr(view, method.lower()):
        return None
    kind = LIST_ROUTE_KINDS.get(method)
    # The bulk action each method needs the view to have (its bulk mixin).
    actions: dict[str | None, str] = {
        CREATE: "bulk_create",
        BULK_UPDATE: "bulk_update",
        PARTIAL_BULK_UPDATE: "partial_bulk_update",
        BULK_DESTROY: "bulk_destroy",
    }
    action_name = actions.get(kind)
    return kind if action_name is not None and hasattr(view, action_name) else None


# Facts about a view --------------------------------------------------------


def view_model(view) -> type[models.Model] | None:
    """The view's model, found without a request, or ``None``."""
    queryset = getattr(view, "queryset", None)
    if queryset is not None:
        return queryset.model
    try:
        serializer_class = view.get_serializer_class()
    except Exception:  # a get_serializer_class() that needs a request
        serializer_class = getattr(view, "serializer_class", None)
    model = getattr(getattr(serializer_class, "Meta", None), "model", None)
    if model is not None:
        return model
    try:
        return view.get_queryset().model
    except Exception:  # a get_queryset() that needs a request
        return None


def lookup_field_name(view) -> str:
    """The field bulk items name their objects by (``Meta.update_lookup_field``)."""
    try:
        serializer_class = view.get_serializer_class()
    except Exception:
        serializer_class = getattr(view, "serializer_class", None)
    meta = getattr(serializer_class, "Meta", None)
    return getattr(meta, "update_lookup_field", DEFAULT_LOOKUP_FIELD)


def version_field_name(view) -> str | None:
    getter = getattr(view, "get_bulk_version_field", None)
    try:
        return getter() if getter is not None else None
    except Exception:
        return None


def version_required(view) -> bool:
    getter = getattr(view, "get_bulk_version_required", None)
    return bool(getter()) if getter is not None and version_field_name(view) else False


def has_object_permissions(view) -> bool:
    """Whether a permission class of the view checks objects (items can get 403)."""
    for permission_class in getattr(view, "permission_classes", ()):
        check = getattr(permission_class, "has_object_permission", None)
        if check is not None and check is not BasePermission.has_object_permission:
            return True
    return False


def lenient_allowed() -> bool:
    return bool(api_settings.ALLOW_LENIENT)


def idempotency_installed() -> bool:
    return apps.is_installed("rest_framework_bulk.idempotency")


def jobs_installed() -> bool:
    return apps.is_installed("rest_framework_bulk.jobs")


def idempotency_key_required(view) -> bool:
    getter = getattr(view, "get_bulk_idempotency_required", None)
    return bool(getter()) if getter is not None else False


# Schemas -------------------------------------------------------------------


def model_field_schema(field) -> dict[str, Any]:
    """The JSON schema of a value of ``field``, as a lookup or filter carries it."""
    if getattr(field, "is_relation", False) and getattr(field, "target_field", None) is not None:
        if field.target_field is not field:
            return model_field_schema(field.target_field)
    internal = field.get_internal_type() if hasattr(field, "get_internal_type") else ""
    if internal.endswith(("AutoField", "IntegerField")):
        return {"type": "integer"}
    if internal == "BooleanField":
        return {"type": "boolean"}
    if internal == "FloatField":
        return {"type": "number", "format": "double"}
    if internal == "DecimalField":
        return {"type": "string", "format": "decimal"}
    if internal == "UUIDField":
        return {"type": "string", "format": "uuid"}
    if internal == "DateTimeField":
        return {"type": "string", "format": "date-time"}
    if internal == "DateField":
        return {"type": "string", "format": "date"}
    if internal == "TimeField":
        return {"type": "string", "format": "time"}
    return {"type": "string"}


def lookup_schema(view) -> dict[str, Any]:
    """The schema of the lookup value bulk items carry (``id`` by default)."""
    model = view_model(view)
    if model is None:
        return dict(KEY_SCHEMA)
    try:
        return model_field_schema(get_model_field(model, lookup_field_name(view)))
    except (FieldDoesNotExist, ImproperlyConfigured, LookupError, AttributeError):
        return dict(KEY_SCHEMA)


def version_schema(view) -> dict[str, Any] | None:
    name = version_field_name(view)
    if not name:
        return None
    model = view_model(view)
    if model is None:
        return dict(KEY_SCHEMA)
    try:
        return model_field_schema(model._meta.get_field(name))
    except (FieldDoesNotExist, AttributeError):
        return dict(KEY_SCHEMA)


def item_lookup_schema(view, *, with_version: bool = True) -> dict[str, Any]:
    """The lookup (and version) an update or delete item carries, as an object schema."""
    name = lookup_field_name(view)
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {name: {**lookup_schema(view), "description": "Names the object."}},
        "required": [name],
    }
    version = version_schema(view) if with_version else None
    if version is not None:
        field = version_field_name(view)
        schema["properties"][field] = {
            **version,
            "description": "The version the client read; a stale one fails with `version_conflict`.",
        }
        if version_required(view):
            schema["required"].append(field)
    return schema


def destroy_item_schema(view) -> dict[str, Any]:
    """An item of a bulk DELETE body: a lookup value, or an object carrying one."""
    return {"oneOf": [lookup_schema(view), item_lookup_schema(view)]}


def item_error_schema() -> dict[str, Any]:
    """One rejected item in the error body (``errors[]``)."""
    return {
        "type": "object",
        "properties": {
            "index": {"type": "integer", "description": "The item's position, from 0."},
            "line": {"type": "integer", "description": "CSV input: the line the row starts on."},
            "lookup": {**KEY_SCHEMA, "description": "The value naming the item's object."},
            "code": {"type": "string", "description": "The item's stable code."},
            "detail": {
                "oneOf": [
                    {"type": "string"},
                    {"type": "object", "additionalProperties": {}},
                ],
                "description": "A message, or for `invalid` items `{field: [messages]}`.",
            },
            "codes": {
                "type": "object",
                "additionalProperties": {},
                "description": "For `invalid` items: DRF's error codes, keyed as `detail`.",
            },
            "current_version": {
                "description": "For `version_conflict` items: the row's version now.",
                "nullable": True,
            },
        },
        "required": ["index", "code", "detail"],
    }


def error_schema(item_error: dict[str, Any] | None = None) -> dict[str, Any]:
    """The error body of every 4xx: ``{code, detail, errors, fields, codes, line, column}``."""
    return {
        "type": "object",
        "properties": {
            "code": {"type": "string", "description": "A stable code for the whole request."},
            "detail": {"type": "string", "description": "A sentence for a human."},
            "errors": {
                "type": "array",
                "items": item_error or item_error_schema(),
                "description": "The rejected items, in payload order.",
            },
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
                "description": "A request refused field by field: DRF's `{name: [messages]}`.",
            },
            "codes": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
                "description": "The codes of `fields`.",
            },
            "line": {"type": "integer", "description": "Unreadable CSV: the line at fault."},
            "column": {"type": "integer", "description": "Unreadable CSV: the column at fault."},
        },
        "required": ["code", "detail"],
    }


def item_status_schema() -> dict[str, Any]:
    return {"type": "string", "enum": list(ITEM_STATUSES)}


def item_result_schema(status: dict[str, Any] | None = None) -> dict[str, Any]:
    """One item of a result summary (``items[]``)."""
    return {
        "type": "object",
        "properties": {
            "index": {"type": "integer"},
            "status": status or item_status_schema(),
            "id": {**KEY_SCHEMA, "description": "The primary key."},
            "lookup": {
                **KEY_SCHEMA,
                "description": "Without a primary key: the value the item named its object by.",
            },
            "code": {"type": "string", "description": "A rejected item's code."},
            "detail": {
                "oneOf": [
                    {"type": "string"},
                    {"type": "object", "additionalProperties": {}},
                ]
            },
            "codes": {"type": "object", "additionalProperties": {}},
            "current_version": {"nullable": True},
            "line": {"type": "integer", "description": "CSV input: the line the row starts on."},
        },
        "required": ["index", "status"],
    }


def result_schema(item_result: dict[str, Any] | None = None) -> dict[str, Any]:
    """The result summary of a bulk write."""
    ids = {"type": "array", "items": KEY_SCHEMA}
    return {
        "type": "object",
        "properties": {
            "code": {
                "type": "string",
                "description": "`invalid`, only when every item was rejected (400).",
            },
            "total_items": {"type": "integer"},
            "success_count": {"type": "integer"},
            "error_count": {"type": "integer"},
            "dry_run": {"type": "boolean"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "index": {"type": "integer"},
                        "code": {"type": "string"},
                        "error": {"type": "string"},
                        "data": {"description": "The item as sent."},
                        "line": {"type": "integer"},
                    },
                    "required": ["index", "code", "error"],
                },
            },
            "created_ids": ids,
            "updated_ids": ids,
            "deleted_ids": ids,
            "items": {"type": "array", "items": item_result or item_result_schema()},
        },
        "required": [
            "total_items",
            "success_count",
            "error_count",
            "dry_run",
            "errors",
            "created_ids",
            "updated_ids",
            "deleted_ids",
            "items",
        ],
    }


def job_accepted_schema() -> dict[str, Any]:
    """The ``202 Accepted`` body of a write or export handed to a job."""
    return {
        "type": "object",
        "properties": {
            "message": {"type": "string"},
            "task_id": {"type": "string", "format": "uuid"},
            "total_items": {"type": "integer", "nullable": True},
            "status_url": {"type": "string", "format": "uri"},
        },
        "required": ["message", "task_id", "total_items", "status_url"],
    }


def retrieved_schema(objects: dict[str, Any]) -> dict[str, Any]:
    """The answer of ``GET /bulk/`` without pagination; ``objects`` is the list's schema."""
    return {
        "type": "object",
        "properties": {
            "count": {"type": "integer"},
            "results": objects,
            "not_found": {
                "type": "array",
                "items": KEY_SCHEMA,
                "description": "The ids asked for that are not found or not permitted.",
            },
            "is_async": {"type": "boolean"},
        },
        "required": ["count", "results", "not_found", "is_async"],
    }


def csv_result_schema() -> dict[str, Any]:
    return {
        "type": "string",
        "description": "One row per item, with the columns index, line, status, id, code, error.",
    }


def multipart_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "file": {"type": "string", "format": "binary", "description": "The CSV file."},
            "delimiter": {"type": "string", "enum": [",", ";", "|", "tab"]},
            "charset": {"type": "string", "description": "The file's charset; UTF-8 by default."},
        },
        "required": ["file"],
    }


# Parameters ----------------------------------------------------------------


def query_parameter(name: str, schema: dict, description: str, **extra) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
        **extra,
    }


def bulk_filter_parameters(view, filter_class=None) -> list[dict[str, Any]]:
    """The query parameters ``bulk_filter_fields`` allows, as OpenAPI parameter objects.

    ``filter_class`` is the ``BulkFilter`` class that reads them, by default
    the view's ``bulk_filter_class``.
    """
    filter_class = filter_class or getattr(view, "bulk_filter_class", None)
    if filter_class is None:
        return []
    model = view_model(view)
    if model is None:
        return []
    bulk_filter = filter_class(view)
    parameters = []
    for path, lookup_names in bulk_filter.get_filter_fields().items():
        try:
            value_field = bulk_filter._resolve(model, path, lookup_names).value_field
        except ImproperlyConfigured:
            continue  # reported by the filter itself, at request time
        value = model_field_schema(value_field)
        for lookup in lookup_names:
            name = path if lookup == "exact" else f"{path}__{lookup}"
            if lookup in ("in", "range"):
                schema: dict[str, Any] = {"type": "array", "items": value}
                if lookup == "range":
                    schema.update(minItems=2, maxItems=2)
                    text = f"`{path}` between two values, comma-separated."
                else:
                    text = f"`{path}` is one of these comma-separated values."
                parameters.append(query_parameter(name, schema, text, style="form", explode=False))
                continue
            if lookup == "isnull":
                schema, text = {"type": "boolean"}, f"`{path}` is (or is not) null."
            elif lookup in filter_class.text_lookups:
                schema, text = {"type": "string"}, f"`{path}` matches as text ({lookup})."
            else:
                schema, text = dict(value), f"`{path}` ({lookup})."
            parameters.append(query_parameter(name, schema, text))
    return parameters


def filter_backend_parameters(view) -> list[dict[str, Any]]:
    """The parameters of the view's filter backends, as DRF's generator asks them.

    A backend without ``get_schema_operation_parameters()`` (django-filter
    25 dropped it) adds none, rather than stopping the generator.
    """
    parameters = []
    for backend_class in getattr(view, "filter_backends", None) or ():
        backend = backend_class()
        if hasattr(backend, "get_schema_operation_parameters"):
            parameters += backend.get_schema_operation_parameters(view)
    return parameters


# DRF's generator -----------------------------------------------------------


class BulkAutoSchema(AutoSchema):
    """DRF's ``AutoSchema``, with list bodies for the bulk routes of the list route.

    Bulk views use it when ``DEFAULT_SCHEMA_CLASS`` is DRF's own
    ``AutoSchema`` (the default); set ``schema = BulkAutoSchema()`` on a view
    to use it elsewhere.
    """

    def get_bulk_kind(self, path: str, method: str) -> str | None:
        return bulk_kind(self.view, method, path)

    def allows_filters(self, path, method):
        kind = self.get_bulk_kind(path, method)
        if kind in (BULK_UPDATE, PARTIAL_BULK_UPDATE, BULK_DESTROY, ENDPOINT):
            return getattr(self.view, "filter_backends", None) is not None
        return super().allows_filters(path, method)

    def get_filter_parameters(self, path, method):
        if not self.allows_filters(path, method):
            return []
        parameters = filter_backend_parameters(self.view)
        if self.get_bulk_kind(path, method) == ENDPOINT:
            names = {parameter["name"] for parameter in parameters}
            parameters += [p for p in bulk_filter_parameters(self.view) if p["name"] not in names]
        return parameters

    def get_operation_id(self, path, method):
        kind = self.get_bulk_kind(path, method)
        if kind in (BULK_UPDATE, PARTIAL_BULK_UPDATE, BULK_DESTROY):
            # Not the detail route's `update`, `partialUpdate` and `destroy`.
            name = self.get_operation_id_base(path, method, "list")
            prefix = {
                BULK_UPDATE: "bulkUpdate",
                PARTIAL_BULK_UPDATE: "partialBulkUpdate",
                BULK_DESTROY: "bulkDestroy",
            }[kind]
            return prefix + name
        return super().get_operation_id(path, method)

    def get_request_body(self, path, method):
        body = super().get_request_body(path, method)
        kind = self.get_bulk_kind(path, method)
        if kind not in (CREATE, BULK_UPDATE, PARTIAL_BULK_UPDATE, ENDPOINT) or not body:
            return body
        for media_type, content in list(body["content"].items()):
            if kind == ENDPOINT and media_type.startswith("text/"):
                content["schema"] = {"type": "string", "description": "CSV rows, with a header."}
            elif kind == ENDPOINT and media_type.startswith("multipart/"):
                content["schema"] = multipart_schema()
            elif kind != CREATE and media_type.startswith(
                ("multipart/", "application/x-www-form-urlencoded")
            ):
                del body["content"][media_type]  # refused: not a list
            elif not media_type.startswith(("multipart/", "application/x-www-form-urlencoded")):
                # Forms carry one object; JSON carries a list.
                listed = {"type": "array", "items": content["schema"]}
                content["schema"] = (
                    {"oneOf": [content["schema"], listed]} if kind == CREATE else listed
                )
        return body

    def get_responses(self, path, method):
        responses = super().get_responses(path, method)
        kind = self.get_bulk_kind(path, method)
        if kind == ENDPOINT and method == "GET":
            for response in responses.values():
                for content in response.get("content", {}).values():
                    listed = {"type": "array", "items": content["schema"]}
                    paginator = self.get_paginator()
                    content["schema"] = (
                        paginator.get_paginated_response_schema(listed)
                        if paginator is not None
                        else retrieved_schema(listed)
                    )
            return responses
        if kind == ENDPOINT:
            return {
                "200": {
                    "description": "The result summary.",
                    "content": {"application/json": {"schema": result_schema()}},
                }
            }
        if kind not in (CREATE, BULK_UPDATE, PARTIAL_BULK_UPDATE):
            return responses
        for response in responses.values():
            for content in response.get("content", {}).values():
                listed = {"type": "array", "items": content["schema"]}
                content["schema"] = (
                    {"oneOf": [content["schema"], listed]} if kind == CREATE else listed
                )
        return responses


class BulkDefaultSchema(DefaultSchema):
    """DRF's ``DefaultSchema``, with the bulk description on top of ``DEFAULT_SCHEMA_CLASS``.

    DRF's ``AutoSchema`` becomes ``BulkAutoSchema``; drf-spectacular's (or a
    subclass of it) gains ``BulkSchemaMixin``, so that an
    ``@extend_schema`` on one action still stacks on the bulk description.
    Any other class is used as it is.
    """

    def __get__(self, instance, owner):
        if instance is not None and instance in self.instance_schemas:
            return self.instance_schemas[instance]  # set on the view: used as it is
        inspector = super().__get__(instance, owner)
        if type(inspector) is AutoSchema:
            inspector = BulkAutoSchema()
            inspector.view = instance
            return inspector
        spectacular = sys.modules.get("drf_spectacular.openapi")
        if spectacular is not None and isinstance(inspector, spectacular.AutoSchema):
            # drf-spectacular is in use, and so loaded already; the core
            # imports its integration only then.
            from .contrib.spectacular import bulk_schema_class

            schema_class = bulk_schema_class(type(inspector))
            if type(inspector) is not schema_class:
                inspector = schema_class()
                inspector.view = instance
        return inspector
