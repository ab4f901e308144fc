"""
CSV output.

:class:`CSVRenderer` renders a response's rows as ``text/csv``;
:func:`iter_csv_rows` yields the same bytes line by line for a
``StreamingHttpResponse`` or a file written in pieces. Both share one cell
formatter, which defends spreadsheets against formula injection.

Cells are written as follows:

* ``None`` is an empty cell;
* ``True``/``False`` are ``true``/``false``;
* numbers, dates, times, UUIDs and the like are written as DRF's JSON encoder
  writes them (without the quotes);
* dicts and lists are written as compact JSON;
* text that a spreadsheet would run as a formula (starting with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return) gets a leading ``'``, which
  spreadsheets show as plain text. Plain numbers such as ``-25.75`` or
  ``+1e3`` are left alone, since a spreadsheet reads them as numbers, not
  formulas, and escaping them would turn numbers into text.

The escaping is one-way: a file written here and read back by
:class:`~rest_framework_bulk.parsers.CSVParser` keeps the ``'``.
"""

from __future__ import annotations

import csv
import decimal
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from django.utils.http import parse_header_parameters
from rest_framework.renderers import BaseRenderer
from rest_framework.utils.encoders import JSONEncoder

from .parsers import CSV_DELIMITERS

__all__ = ["CSVRenderer", "escape_formula", "format_csv_cell", "get_csv_header", "iter_csv_rows"]

_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_encoder = JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def escape_formula(text: str) -> str:
    """
    Prefix ``'`` to text a spreadsheet would otherwise run as a formula.

    >>> escape_formula("=HYPERLINK(...)")
    "'=HYPERLINK(...)"
    >>> escape_formula("-25.75")
    '-25.75'
    """
    if text.startswith(_FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def format_csv_cell(value: Any, *, escape_formulas: bool = True) -> str:
    """The text of one CSV cell for ``value``, escaped against formula injection."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, decimal.Decimal):
        # "f" keeps 1E+2 from appearing as it would with str().
        text = format(value, "f") if value.is_finite() else str(value)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, (Mapping, list, tuple)):
        text = _encoder.encode(value)
    else:
        text = _format_other(value)
    return escape_formula(text) if escape_formulas else text


def _format_other(value: Any) -> str:
    # Dates, times, UUIDs, lazy strings...: whatever DRF's JSON renderer would write.
    try:
        encoded = _encoder.default(value)
        return encoded if isinstance(encoded, str) else _encoder.encode(encoded)
    except (TypeError, ValueError):
        return str(value)


def get_csv_header(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key of ``rows``, in the order first seen."""
    header: dict[str, None] = {}
    for row in rows:
        for key in row:
            header.setdefault(str(key), None)
    return list(header)


def iter_csv_rows(
    rows: Iterable[Mapping[str, Any]],
    header: Sequence[str],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    include_header: bool = True,
    escape_formulas: bool = True,
) -> Iterator[bytes]:
    """
    Yield a CSV file one encoded line at a time: the header (unless
    ``include_header`` is false), then one line per row, with the values of
    ``header``'s keys in that order (missing keys are empty cells, other keys
    are left out). Lines end with CRLF, as RFC 4180 asks. Pass
    ``escape_formulas=False`` only for files no spreadsheet will open.

        response = StreamingHttpResponse(
            iter_csv_rows(queryset.values("sku", "name").iterator(), ["sku", "name"]),
            content_type="text/csv; charset=utf-8",
        )
    """
    buffer = io.StringIO()
    delimiter = CSV_DELIMITERS.get(delimiter, delimiter)
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")

    def line(cells: Iterable[Any]) -> bytes:
        writer.writerow([format_csv_cell(cell, escape_formulas=escape_formulas) for cell in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text.encode(encoding)

    if include_header:
        yield line(header)
    for row in rows:
        if not isinstance(row, Mapping):
            row = {"value": row}
        yield line(row.get(key) for key in header)


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
    """

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"
    delimiter = ","
    results_keys = ("results", "items")
    #: Set to False only if no spreadsheet will ever open the output.
    escape_formulas = True

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
        params = parse_header_parameters(accepted_media_type or "")[1]
        return CSV_DELIMITERS.get(params.get("delimiter", ""), self.delimiter)

    def _context_value(self, name: str, renderer_context: Mapping[str, Any]) -> Any:
        if renderer_context.get(name) is not None:
            return renderer_context[name]
        return getattr(renderer_context.get("view"), name, None)
