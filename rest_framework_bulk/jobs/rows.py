"""
How an item looks in a job's result files: one JSON line and one CSV row.

The rules of the files are in :mod:`rest_framework_bulk.jobs.results`; this
module applies them to a run of items, usually one batch. Each item's JSON
line is encoded, and each of its CSV cells converted, exactly once: a batch
writes its share of the result files as soon as its outcome is known
(:func:`rest_framework_bulk.jobs.files.write_part`), and the files are put
together from those shares at the end, without reading the lines again.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rest_framework.utils.encoders import JSONEncoder

from ..csv import format_csv_cell
from ..results import describe, line_of
from ..settings import api_settings

SUCCESSFUL = "successful"
FAILED = "failed"
UNPROCESSED = "unprocessed"
KINDS = (SUCCESSFUL, FAILED, UNPROCESSED)

#: The ``bulk__`` columns of each kind's CSV, in their order, when some item has them.
META_COLUMNS = {
    SUCCESSFUL: ("index", "status", "id"),
    FAILED: ("index", "line", "lookup", "code", "error"),
    UNPROCESSED: (),
}

_encoder = JSONEncoder(ensure_ascii=False, separators=(",", ":"))

#: Values whose CSV cell is the same whether taken as they are or read back from their JSON.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def dumps(value: Any) -> str:
    """``value`` as compact JSON, as every job file stores it."""
    return _encoder.encode(value)


def csv_cell(value: Any, null: str) -> str:
    """The cell for ``value`` (a JSON value) in a result CSV; see :mod:`~rest_framework_bulk.jobs.results`."""
    return format_csv_cell(value, null_value=null)


def get_null_value(job) -> str:
    """The null token of the job's view, as stored when it was submitted."""
    return job.options.get("csv_null_value") or api_settings.CSV_NULL_VALUE


def as_json(value: Any) -> Any:
    """``value`` as it reads back from its JSON line.

    A cell shows the value its JSON line holds: a ``Decimal`` a serializer
    returned is the number JSON wrote, a ``datetime`` its ISO text. Plain
    values are taken as they are, so the items of an input are not encoded
    twice.
    """
    if type(value) in _PLAIN:
        return value
    return json.loads(dumps(value))


def csv_header(kind: str, meta: Iterable[str], columns: Iterable[str]) -> list[str]:
    """The CSV header of ``kind`` for the ``meta`` keys and item ``columns`` its rows have."""
    present = set(meta)
    return [*(f"bulk__{key}" for key in META_COLUMNS[kind] if key in present), *columns]


def csv_lines(rows: Iterable[Sequence[str]]) -> bytes:
    """``rows`` of cells as CSV: RFC 4180, CRLF, UTF-8."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    return text.getvalue().encode()


class KindRows:
    """One kind's entries for a run of items: their JSON lines, their CSV rows, their columns."""

    def __init__(self, kind: str, null: str):
        self.kind = kind
        self.null = null
        self.count = 0
        #: The ``bulk__`` keys some entry has, in the order first seen.
        self.meta: dict[str, None] = {}
        #: The item's fields some entry has, in the order first seen.
        self.columns: dict[str, None] = {}
        self.lines: list[str] = []
        self.rows: list[dict[str, str]] = []

    def add(self, index: int, item: Any, record: dict | None) -> None:
        """Add the item at ``index``, with its outcome ``record`` (``None``: it was not run)."""
        entry: dict[str, Any] = {"index": index}
        if self.kind == SUCCESSFUL and record is not None:
            entry["status"] = record["status"]
            if "id" in record:
                entry["id"] = record["id"]
        elif self.kind == FAILED and record is not None:
            # An error's detail may hold lazy texts or a hook's own types:
            # the line and the cells show what its JSON says.
            record = json.loads(dumps(record))
            if line_of(item) is not None:
                entry["line"] = line_of(item)
            for key in ("lookup", "code"):
                if key in record:
                    entry[key] = record[key]
            entry["error"] = describe(record["detail"])
            entry["detail"] = record["detail"]
            if "codes" in record:
                entry["codes"] = record["codes"]
        entry["data"] = item
        self.lines.append(dumps(entry))
        row: dict[str, str] = {}
        for key in META_COLUMNS[self.kind]:
            if key in entry:
                self.meta[key] = None
                value = entry[key]
                # An index, a line, most ids: the cell is the number.
                row[f"bulk__{key}"] = (
                    str(value) if type(value) is int else format_csv_cell(as_json(value))
                )
        data = item if isinstance(item, Mapping) else {"value": item}
        columns = self.columns
        null = self.null
        for key, value in data.items():
            name = key if type(key) is str else str(key)
            if name not in columns:
                columns[name] = None
            if type(value) not in _PLAIN:
                value = as_json(value)
            row[name] = format_csv_cell(value, null_value=null)
        self.rows.append(row)
        self.count += 1

    def header(self) -> list[str]:
        return csv_header(self.kind, self.meta, self.columns)

    def jsonl(self) -> bytes:
        """The JSON lines, each ending in a newline."""
        if not self.lines:
            return b""
        return ("\n".join(self.lines) + "\n").encode()

    def csv(self, header: Sequence[str] | None = None) -> bytes:
        """The CSV rows under ``header`` (by default their own columns), without the header line."""
        names = self.header() if header is None else header
        return csv_lines([row.get(name, "") for name in names] for row in self.rows)


class BatchRows(dict):
    """The :class:`KindRows` of a run of items, by kind (``kinds``: those wanted)."""

    def __init__(self, null: str, kinds: Iterable[str] = KINDS):
        super().__init__((kind, KindRows(kind, null)) for kind in kinds)
        #: The indexes of the items that failed, wanted or not.
        self.failed: list[int] = []

    def add_items(
        self,
        items: Iterable[tuple[int, Any]],
        records: Iterable[dict] = (),
        *,
        keep_successes: bool = True,
    ) -> None:
        """Sort ``(index, item)`` pairs by their outcome among ``records``.

        An item without a record was not run (unprocessed); one whose record
        has a ``code`` failed; the others succeeded, unless the job kept
        nothing (``keep_successes=False``: they are unprocessed).
        """
        by_index: dict[int, dict] = {}
        for record in records:
            by_index.setdefault(record["index"], record)
        for index, item in items:
            found = by_index.get(index)
            if found is None:
                kind = UNPROCESSED
            elif "code" in found:
                kind = FAILED
                self.failed.append(index)
            else:
                kind = SUCCESSFUL if keep_successes else UNPROCESSED
            rows = self.get(kind)
            if rows is not None:
                rows.add(index, item, found)

    @property
    def count(self) -> int:
        return sum(rows.count for rows in self.values())
