"""
CSV output.

:class:`CSVRenderer` renders a response's rows as ``text/csv``;
:func:`iter_csv_rows` yields the same bytes line by line for a
``StreamingHttpResponse`` or a file written in pieces. Both share one cell
formatter, which defends spreadsheets against formula injection.

Cells are written as follows:

* ``None`` is the null token (for :class:`CSVRenderer` the view's
  ``csv_null_value``, ``#N/A`` by default; for :func:`iter_csv_rows` and
  :func:`format_csv_cell` their ``null_value`` argument, without which it is
  an empty cell), which the parser reads back as ``None``;
* a key the row does not have is an empty cell, which the parser reads back
  as "not given" (the field is left out of the row);
* ``True``/``False`` are ``true``/``false``;
* numbers, dates, times, UUIDs and the like are written as DRF's JSON encoder
  writes them (without the quotes);
* dicts and lists are written as compact JSON;
* text that a spreadsheet would run as a formula (starting with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return) gets a leading ``'``, which
  spreadsheets show as plain text. Plain numbers such as ``-25.75`` or
  ``+1e3`` are left alone, since a spreadsheet reads them as numbers, not
  formulas, and escaping them would turn numbers into text; ``-1+cmd`` is
  not a plain number and is escaped;
* so that the escaping can be undone, text that starts with ``'`` itself, and
  text equal to the null token, get a leading ``'`` too (``'x`` is written
  ``''x``, the text ``#N/A`` is written ``'#N/A``);
* lone surrogates, which no encoding can write, and NUL characters, which
  CSV cannot carry, become U+FFFD.

Reading a file written here with
:class:`~rest_framework_bulk.parsers.CSVParser` (same delimiter, same null
token) gives back the same rows: the parser removes one leading ``'`` where
this module added it. The one exception is the empty string, which is
written as an empty cell and so reads back as "not given", like a key the
row does not have (and a row of nothing else is skipped). Strings that are
not text cannot make the trip: lone surrogates are written as U+FFFD, and
the parser refuses a NUL character. ``escape_formulas=False`` writes
formulas as they are but keeps the other two rules, so its output reads
back the same way too.
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

from .parsers import CSV_DELIMITERS, CSV_ESCAPE, CSV_ESCAPED_PREFIXES, DEFAULT_CSV_NULL_VALUE

__all__ = ["CSVRenderer", "escape_formula", "format_csv_cell", "get_csv_header", "iter_csv_rows"]

_FORMULA_PREFIXES = tuple(prefix for prefix in CSV_ESCAPED_PREFIXES if prefix != CSV_ESCAPE)
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SURROGATE = re.compile("[\ud800-\udfff]")
_encoder = JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# A key the row does not have: an empty cell, unlike None.
_MISSING = object()


def escape_formula(text: str) -> str:
    """
    Prefix ``'`` to text a spreadsheet would otherwise run as a formula, and
    to text that starts with ``'`` (so that the parser can tell them apart).

    >>> escape_formula("=HYPERLINK(...)")
    "'=HYPERLINK(...)"
    >>> escape_formula("-25.75")
    '-25.75'
    >>> escape_formula("'quoted")
    "''quoted"
    """
    if text.startswith(CSV_ESCAPE) or (
        text.startswith(_FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(text)
    ):
        return CSV_ESCAPE + text
    return text


def format_csv_cell(
    value: Any,
    *,
    escape_formulas: bool = True,
    null_value: str | None = None,
) -> str:
    """
    The text of one CSV cell for ``value``, escaped against formula injection.

    ``None`` is ``null_value``, and text equal to ``null_value`` is escaped
    with a leading ``'`` so that it does not read back as ``None``. Without a
    ``null_value``, ``None`` is an empty cell, which the parser reads as "not
    given"; pass the parser's null token (``"#N/A"`` by default) for output
    that reads back as it was.
    """
    if value is None:
        return "" if null_value is None else null_value
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
    # CSV carries no NUL characters (Python 3.10's writer refuses them, and
    # the parser refuses them on the way back in).
    text = text.replace("\x00", "\ufffd")
    if null_value and text == null_value:
        return CSV_ESCAPE + text
    if escape_formulas:
        return escape_formula(text)
    return CSV_ESCAPE + text if text.startswith(CSV_ESCAPE) else text


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
    null_value: str | None = None,
) -> Iterator[bytes]:
    """
    Yield a CSV file one encoded line at a time: the header (unless
    ``include_header`` is false), then one line per row, with the values of
    ``header``'s keys in that order (missing keys are empty cells, other keys
    are left out). Lines end with CRLF, as RFC 4180 asks. ``None`` is
    ``null_value``: pass the parser's null token (``"#N/A"`` by default) for
    a file that reads back as the same rows; without one it is an empty cell.
    Pass ``escape_formulas=False`` only for files no spreadsheet will open.

        response = StreamingHttpResponse(
            iter_csv_rows(queryset.values("sku", "name").iterator(), ["sku", "name"]),
            content_type="text/csv; charset=utf-8",
        )
    """
    buffer = io.StringIO()
    delimiter = CSV_DELIMITERS.get(delimiter, delimiter)
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")

    def cell(value: Any) -> str:
        if value is _MISSING:
            return ""
        return format_csv_cell(value, escape_formulas=escape_formulas, null_value=null_value)

    def line(cells: Iterable[Any]) -> bytes:
        writer.writerow([cell(value) for value in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        try:
            return text.encode(encoding)
        except UnicodeEncodeError:
            # Text holding lone surrogates (which can reach a response from
            # a client's own invalid JSON) is not text any encoding can write.
            return _SURROGATE.sub("\ufffd", text).encode(encoding)

    if include_header:
        yield line(header)
    for row in rows:
        if not isinstance(row, Mapping):
            row = {"value": row}
        yield line(row.get(key, _MISSING) for key in header)


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
    null_value: str | None = DEFAULT_CSV_NULL_VALUE

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
        view = renderer_context.get("view")
        getter = getattr(view, "get_csv_null_value", None)
        value = getter() if callable(getter) else getattr(view, "csv_null_value", None)
        return self.null_value if value is None else value

    def _context_value(self, name: str, renderer_context: Mapping[str, Any]) -> Any:
        if renderer_context.get(name) is not None:
            return renderer_context[name]
        return getattr(renderer_context.get("view"), name, None)
