"""
The browsable API, for bulk work.

DRF's ``BrowsableAPIRenderer`` builds its forms for one object: on a list
route of a bulk view its HTML forms send a form, which a bulk write refuses
(``not_a_list``), and its raw-data form is prefilled with one object.
:class:`BulkBrowsableAPIRenderer` renders the same page with, on bulk routes:

* a raw-data form for POST, PUT and PATCH prefilled with a JSON *list*: an
  item of the serializer's writable fields for POST, and for PUT and PATCH
  an item that names its object by the lookup field (the first object on
  the page, when there is one). Its media types are those of the view's
  parsers that are not forms (``text/csv`` too on ``/bulk/``), and choosing
  one swaps the example;
* no HTML form for PUT and PATCH (nor for POST on ``/bulk/``), since a form
  holds one object and would only ever be refused. The list route keeps
  DRF's HTML form for POST, which creates one object;
* on ``/bulk/``, a CSV upload form: a file, the method, lenient handling
  (``Prefer: handling=lenient``) and dry run (``?dry_run=1``);
* on a bulk result, a table of the per-item results; on a job (the ``202``
  answer of a write handed to a job, or the job's status endpoint), its
  progress, updated as it runs, and links to its result files.

Views built from drf-bulk's mixins use it in place of DRF's
``BrowsableAPIRenderer`` wherever that renderer is one of theirs (as it is
with DRF's default ``DEFAULT_RENDERER_CLASSES``), through
:class:`BulkBrowsableAPIMixin`. The JSON (and CSV) responses are not
changed. Set ``browsable_api_renderer_class = None`` on a view to keep DRF's
renderer, or name a subclass of your own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django import forms
from django.utils.html import escape, format_html
from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import is_form_media_type, override_method

from .renderers import get_csv_header, iter_csv_rows
from .results import describe
from .settings import api_settings
from .targets import get_lookup_field

__all__ = ["BulkBrowsableAPIMixin", "BulkBrowsableAPIRenderer"]

#: The actions of a list route of a bulk view.
LIST_ACTIONS = frozenset({"list", "create", "bulk_update", "partial_bulk_update", "bulk_destroy"})
#: The method of the list route's bulk writes, and the view method that does each.
LIST_WRITES = {
    "POST": "bulk_create",
    "PUT": "bulk_update",
    "PATCH": "partial_bulk_update",
    "DELETE": "bulk_destroy",
}
#: The writes the raw-data and upload forms offer.
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
#: The states of a job that has ended (``BulkJob.State``; the jobs app may not be installed).
FINISHED_STATES = frozenset({"SUCCESS", "FAILURE", "CANCELLED"})
#: How many per-item results the result table shows.
MAX_RESULT_ROWS = 1000

LIST = "list"
ENDPOINT = "endpoint"


def get_bulk_route(view) -> str | None:
    """``"endpoint"`` for ``/bulk/``, ``"list"`` for the list route of a bulk view, else ``None``."""
    action_map = getattr(view, "action_map", None) or {}
    bulk_actions = getattr(view, "bulk_actions", None)
    if bulk_actions and set(action_map.values()) & bulk_actions:
        return ENDPOINT
    if not any(hasattr(view, name) for name in ("bulk_create", "bulk_update", "bulk_destroy")):
        return None
    lookup_url_kwarg = getattr(view, "lookup_url_kwarg", None) or getattr(
        view, "lookup_field", None
    )
    if lookup_url_kwarg in getattr(view, "kwargs", {}):
        return None
    if action_map and not set(action_map.values()) & LIST_ACTIONS:
        return None  # an extra action of the viewset
    return LIST


def is_scalar(value) -> bool:
    """Whether ``value`` fits in a CSV cell (it is no list or object)."""
    return not isinstance(value, (Mapping, list, tuple))


class BulkContentForm(forms.Form):
    """DRF's raw-data form (a media type and a body), with an example per media type."""

    def __init__(self, media_types: list[str], examples: dict[str, str], help_text: str = ""):
        super().__init__()
        self.fields["_content_type"] = forms.ChoiceField(
            label=_("Media type"),
            choices=[(media_type, media_type) for media_type in media_types],
            initial=media_types[0],
            widget=forms.Select(attrs={"data-override": "content-type"}),
        )
        self.fields["_content"] = forms.CharField(
            label=_("Content"),
            widget=forms.Textarea(
                attrs={"data-override": "content", "data-bulk-examples": json.dumps(examples)}
            ),
            initial=examples.get(media_types[0]),
            required=False,
            help_text=help_text,
        )


class BulkBrowsableAPIRenderer(BrowsableAPIRenderer):
    """DRF's browsable API, with forms that send lists on bulk routes; see the module."""

    template = "rest_framework_bulk/api.html"
    #: Set by ``BrowsableAPIRenderer.render()``; the stubs do not declare it.
    renderer_context: dict[str, Any]

    def get_context(self, data, accepted_media_type, renderer_context):
        view = renderer_context["view"]
        request = renderer_context["request"]
        self.bulk_route = get_bulk_route(view)
        context = super().get_context(data, accepted_media_type, renderer_context)
        context["bulk_route"] = self.bulk_route
        context["bulk_upload_form"] = self.get_upload_form(data, view, request)
        context["bulk_result"] = self.get_result(data)
        context["bulk_job"] = self.get_job(data)
        return context

    # Forms ----------------------------------------------------------------

    def takes_list(self, view, method: str) -> bool:
        """Whether ``method`` on this page writes a list (rather than one object, as in DRF)."""
        route = getattr(self, "bulk_route", None)
        if route == ENDPOINT:
            return method in WRITE_METHODS
        return route == LIST and hasattr(view, LIST_WRITES.get(method, ""))

    def get_rendered_html_form(self, data, view, method, request):
        if method != "DELETE" and self.takes_list(view, method):
            # A form holds one object, and a bulk write takes a list; the
            # list route's POST form still creates one object.
            if not (method == "POST" and self.bulk_route == LIST):
                return None
        return super().get_rendered_html_form(data, view, method, request)

    def get_raw_data_form(self, data, view, method, request):
        if not self.takes_list(view, method):
            return super().get_raw_data_form(data, view, method, request)
        with override_method(view, request, method) as request:
            if not self.show_form_for_method(view, method, request, None):
                return None
            media_types = self.get_raw_media_types(view)
            if not media_types or not hasattr(view, "get_serializer"):
                return None
            serializer = view.get_serializer()
            serializer = getattr(serializer, "child", serializer)
            items = self.get_example(data, view, method, serializer)
            examples = self.render_examples(items, media_types, view)
            return BulkContentForm(
                media_types, examples, self.get_raw_help_text(method, serializer)
            )

    def get_raw_help_text(self, method: str, serializer) -> str:
        """The text under the raw-data form (HTML)."""
        if method in ("PUT", "PATCH"):
            return format_html(
                escape(_("A list of objects; each names its object by {field}.")),
                field=format_html("<code>{}</code>", get_lookup_field(serializer)),
            )
        if self.bulk_route == LIST:
            return escape(_("A list of objects, or one object."))
        return escape(_("A list of objects."))

    def get_raw_media_types(self, view) -> list[str]:
        """The media types the raw-data form offers: the view's parsers that are not forms."""
        media_types = []
        for parser in view.get_parsers():
            if not is_form_media_type(parser.media_type) and parser.media_type not in media_types:
                media_types.append(parser.media_type)
        return media_types

    def get_example(self, data, view, method: str, serializer) -> list[dict]:
        """The list the raw-data form starts with, for ``method``.

        POST gets one item of the serializer's writable fields. PUT and
        PATCH get one that names its object by the lookup field: the first
        object of the page, with its current values, when there is one.
        """
        fields = {
            name: field
            for name, field in serializer.fields.items()
            if not field.read_only and not isinstance(field, serializers.HiddenField)
        }
        item = {name: field.get_initial() for name, field in fields.items()}
        if method not in ("PUT", "PATCH"):
            return [item]
        lookup_field = get_lookup_field(serializer)
        row = self.get_first_row(data)
        if row is None or lookup_field not in row:
            return [{lookup_field: None, **item}]
        example = {lookup_field: row[lookup_field]}
        version_field = getattr(view, "get_bulk_version_field", lambda: None)()
        if version_field and version_field in row:
            example[version_field] = row[version_field]
        example.update({name: row.get(name, value) for name, value in item.items()})
        return [example]

    @staticmethod
    def get_first_row(data) -> Mapping | None:
        if isinstance(data, Mapping):
            data = data.get("results")
        if isinstance(data, (list, tuple)) and data and isinstance(data[0], Mapping):
            return data[0]
        return None

    def render_examples(self, items: list[dict], media_types: list[str], view) -> dict[str, str]:
        """The example ``items`` written in each of ``media_types`` that can show them."""
        examples = {}
        null_value = getattr(view, "get_csv_null_value", lambda: None)()
        # A cell holds text: lists and objects (a many-to-many, a nested
        # serializer) have no place in a CSV file.
        rows = [{key: value for key, value in item.items() if is_scalar(value)} for item in items]
        for media_type in media_types:
            if media_type in ("text/csv", "text/tab-separated-values"):
                delimiter = "\t" if media_type == "text/tab-separated-values" else ","
                lines = iter_csv_rows(
                    rows, get_csv_header(rows), delimiter=delimiter, null_value=null_value
                )
                examples[media_type] = b"".join(lines).decode("utf-8").replace("\r\n", "\n")
            elif "json" in media_type:
                context = {**self.renderer_context, "indent": 4}
                examples[media_type] = (
                    JSONRenderer().render(items, "application/json", context).decode("utf-8")
                )
        return examples

    def get_upload_form(self, data, view, request) -> dict | None:
        """What the CSV upload form of ``/bulk/`` needs, or ``None`` where there is none."""
        if getattr(self, "bulk_route", None) != ENDPOINT:
            return None
        methods = []
        for method in WRITE_METHODS:
            with override_method(view, request, method) as method_request:
                if not self.show_form_for_method(view, method, method_request, None):
                    continue
                if any(parser.media_type == "multipart/form-data" for parser in view.get_parsers()):
                    methods.append(method)
        if not methods:
            return None

        with override_method(view, request, "POST"):
            serializer = view.get_serializer()
        serializer = getattr(serializer, "child", serializer)
        fields = [
            name
            for name, field in serializer.fields.items()
            if not field.read_only
            and not isinstance(field, serializers.HiddenField)
            and is_scalar(field.get_initial())
        ]
        lookup_field = get_lookup_field(serializer)
        return {
            "action": request.get_full_path(),
            "methods": methods,
            "lenient": bool(api_settings.ALLOW_LENIENT),
            "upsert_fields": list(getattr(view, "bulk_upsert_fields", ()) or ()),
            "header": ",".join(fields),
            "lookup_field": lookup_field,
            "async_threshold": view.get_async_threshold() if view.jobs_enabled() else None,
        }

    # Results ----------------------------------------------------------------

    def get_result(self, data) -> dict | None:
        """A bulk write's summary, with its per-item results as the rows of a table."""
        if not isinstance(data, Mapping) or "success_count" not in data:
            return None
        items = data.get("items")
        if not isinstance(items, list):
            return None

        rows = []
        for entry in items[:MAX_RESULT_ROWS]:
            if not isinstance(entry, Mapping):
                continue
            detail = entry.get("detail")
            rows.append(
                {
                    "index": entry.get("index"),
                    "line": entry.get("line"),
                    "status": entry.get("status"),
                    "id": entry.get("id", entry.get("lookup")),
                    "code": entry.get("code"),
                    "error": describe(detail) if detail is not None else "",
                }
            )
        return {
            "total": data.get("total_items"),
            "succeeded": data.get("success_count"),
            "failed": data.get("error_count"),
            "dry_run": bool(data.get("dry_run")),
            "rows": rows,
            "truncated": len(items) > MAX_RESULT_ROWS,
        }

    def get_job(self, data) -> dict | None:
        """A job's progress and result files, for a job answer or a job's status."""
        if not isinstance(data, Mapping) or "status_url" not in data or "task_id" not in data:
            return None
        progress: Mapping = data["progress"] if isinstance(data.get("progress"), Mapping) else {}
        state = data.get("state") or "PENDING"
        total = progress.get("total", data.get("total_items"))
        results = []
        if isinstance(data.get("results"), Mapping):
            for kind, result in data["results"].items():
                if isinstance(result, Mapping) and result.get("url"):
                    results.append(
                        {
                            "kind": kind,
                            "count": result.get("count"),
                            "json_url": _with_format(result["url"], "json"),
                            "csv_url": _with_format(result["url"], "csv"),
                        }
                    )
        return {
            "task_id": data["task_id"],
            "status_url": data["status_url"],
            "state": state,
            "status": data.get("status") or data.get("message") or "",
            "message": progress.get("message") or "",
            "processed": progress.get("current", 0),
            "total": total,
            "percentage": progress.get("percentage", 0),
            "finished": state in FINISHED_STATES,
            "results": results,
        }


def _with_format(url: str, format: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}format={format}"


class BulkBrowsableAPIMixin:
    """Renders the browsable API with ``browsable_api_renderer_class``.

    It stands in for DRF's ``BrowsableAPIRenderer`` (that class, not a
    subclass of it) wherever the view's renderers have it, so that a project
    which left the browsable API out keeps it out.
    """

    #: The renderer used in place of DRF's ``BrowsableAPIRenderer``; ``None`` keeps DRF's.
    browsable_api_renderer_class: type[BrowsableAPIRenderer] | None = BulkBrowsableAPIRenderer

    def get_renderers(self):
        renderers = super().get_renderers()
        renderer_class = self.get_browsable_api_renderer_class()
        if renderer_class is None:
            return renderers
        return [
            renderer_class() if type(renderer) is BrowsableAPIRenderer else renderer
            for renderer in renderers
        ]

    def get_browsable_api_renderer_class(self) -> type[BrowsableAPIRenderer] | None:
        """The class that renders this view's browsable API in place of DRF's."""
        return self.browsable_api_renderer_class
