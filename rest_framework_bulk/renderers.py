"""
DRF renderers for bulk responses.

``CSVRenderer`` renders a response's rows as ``text/csv``. How cells are
written (nulls, formulas, JSON values) is described in
:mod:`rest_framework_bulk.csv`, whose ``format_csv_cell()`` and
``iter_csv_rows()`` it uses and which are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.http import parse_header_parameters
from rest_framework.renderers import BaseRenderer

from .csv import (
    CSV_DELIMITERS,
    escape_formula,
    format_csv_cell,
    get_csv_header,
    iter_csv_rows,
)
from .settings import FROM_SETTINGS, api_settings, get_view_option

__all__ = ["CSVRenderer", "escape_formula", "format_csv_cell", "get_csv_header", "iter_csv_rows"]


class CSVRenderer(BaseRenderer):
    """
    Renders a response's data as CSV.

    The rows are found in this order:

    * a list (or any other iterable) is a list of rows;
    * a dict holding a list under ``csv_results_key`` (a view attribute or a
      renderer context key), ``"results"`` (pagination) or ``"items"``
      renders that list;
    * any other dict is one row.

    Rows that are not dicts are rendered in a single ``value`` column.

    The header is every key in the order first seen, unless the view sets
    ``csv_header`` (or ``get_renderer_context()`` returns one) to choose and
    order the columns. A client may ask for another delimiter with
    ``Accept: text/csv; delimiter=";"`` (``,`` ``;`` ``|`` or ``tab``).

    ``None`` is written as the view's null token (``csv_null_value`` or
    ``get_csv_null_value()``, as :class:`~rest_framework_bulk.parsers.CSVParser`
    reads it; ``#N/A`` by default), so that the output can be sent back as it
    is. See the module's documentation for the exact rules.
    """

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"
    delimiter = ","
    results_keys = ("results", "items")
    #: Set to False only if no spreadsheet will ever open the output.
    escape_formulas = True
    #: The text written for ``None`` when the view names none.
    #: The text for ``None``; ``FROM_SETTINGS``: the ``CSV_NULL_VALUE`` setting.
    null_value: str | None = FROM_SETTINGS

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context=None
    ) -> bytes:
        if data is None:
            return b""
        renderer_context = renderer_context or {}
        rows = self.get_rows(data, renderer_context)
        header = self.get_header(rows, renderer_context)
        if not header:
            return b""
        delimiter = self.get_delimiter(accepted_media_type)
        lines = iter_csv_rows(
            rows,
            header,
            delimiter=delimiter,
            encoding=self.charset,
            escape_formulas=self.escape_formulas,
            null_value=self.get_null_value(renderer_context),
        )
        return b"".join(lines)

    def get_rows(self, data: Any, renderer_context: Mapping[str, Any]) -> list[Any]:
        """The list of rows to render from the response's ``data``."""
        if isinstance(data, Mapping):
            keys = list(self.results_keys)
            key = self._context_value("csv_results_key", renderer_context)
            if key is not None:
                keys.insert(0, key)
            for key in keys:
                if isinstance(data.get(key), (list, tuple)):
                    return list(data[key])
            return [data]
        if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
            return list(data)
        return [data]

    def get_header(self, rows: list[Any], renderer_context: Mapping[str, Any]) -> list[str]:
        """The column names: the view's ``csv_header``, or every key in the order first seen."""
        header = self._context_value("csv_header", renderer_context)
        if header is not None:
            return [str(name) for name in header]
        return get_csv_header(row if isinstance(row, Mapping) else {"value": row} for row in rows)

    def get_delimiter(self, accepted_media_type: str | None) -> str:
        """The delimiter the client asked for in ``Accept``, if supported, else ``delimiter``."""
        try:
            params = parse_header_parameters(accepted_media_type or "")[1]
        except ValueError:
            params = {}
        return CSV_DELIMITERS.get(params.get("delimiter", ""), self.delimiter)

    def get_null_value(self, renderer_context: Mapping[str, Any]) -> str | None:
        """The text for ``None``: the context's or view's ``csv_null_value``, else ``null_value``."""
        if renderer_context.get("csv_null_value") is not None:
            return renderer_context["csv_null_value"]
        value = get_view_option(
            renderer_context.get("view"), "csv_null_value", "CSV_NULL_VALUE", self.null_value
        )
        if value is None:
            value = self.null_value
        return api_settings.CSV_NULL_VALUE if value is FROM_SETTINGS else value

    def _context_value(self, name: str, renderer_context: Mapping[str, Any]) -> Any:
        if renderer_context.get(name) is not None:
            return renderer_context[name]
        return getattr(renderer_context.get("view"), name, None)
