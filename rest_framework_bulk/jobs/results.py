"""
What a job did: the summary kept in its row and the result files.

The summary has the shape of django-bulk-drf's result::

    {"total_items": 3, "success_count": 2, "error_count": 1,
     "errors": [{"index": 1, "code": "invalid", "error": "name: This field is required.",
                 "data": {...}}],
     "created_ids": [10, 11], "updated_ids": [], "deleted_ids": []}

with ``errors`` and the id lists capped (``JOB_MAX_ERRORS``, ``JOB_MAX_IDS``;
``truncated`` says when they were; ``id_counts`` has the full counts). The
status reply shows fewer ids still (see
:class:`~rest_framework_bulk.jobs.serializers.BulkJobSerializer`). The
result files have every item, as Salesforce's Bulk API has them:

* ``successful``: the items written, with their status and id;
* ``failed``: the items refused, with the error;
* ``unprocessed``: the items never applied (the job was cancelled or failed
  first, or a strict job refused the whole input). Their CSV has the input's
  columns only, so it can be submitted again as it is.

Each comes as JSON lines and as CSV. The JSON lines keep every item exactly
as it was sent. The CSV of ``failed`` and ``unprocessed`` items can be sent
again as it is (as a CSV body or upload, to a new job or to ``/bulk/``) and
means the same rows, because its cells follow the rules by which
:class:`~rest_framework_bulk.parsers.CSVRows` reads a cell back:

* a null is the view's null token (``csv_null_value``, ``CSV_NULL_VALUE``,
  ``#N/A`` by default);
* a field the item did not give is an empty cell;
* text starting with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or
  ``'``, and text equal to the null token, get one leading ``'``, which
  spreadsheets show as plain text (they would run the first ones as
  formulas) and the parser removes again; numbers such as ``-25.75`` stay
  as they are, as they read the same either way;
* ``true``/``false``, numbers as JSON writes them, lists and objects as
  compact JSON.

Each batch writes its share of the files as soon as its outcome is known
(:func:`~rest_framework_bulk.jobs.files.write_part`): each item's JSON line
is encoded, and its cells converted, once. When the job ends,
:func:`write_results` copies the shares in item order; only the items no
batch reported (those never run) are read from the input and formatted
then. A CSV's header is the union of its rows' columns, in the order first
seen; rows whose batch used other columns than the header's (items with
different fields, blank cells in a CSV upload) are moved to the header's
columns, which reads them back as CSV: the slow path.

CSV cannot tell everything JSON can. An empty string is an empty cell, which
reads back as "not given" (for a create, the field's default or "required";
for a partial update, the field left as it is). The JSON lines file has
such items exactly: send it again (as a JSON list) when an item holds an
empty string. Lists and objects come back as their JSON text, which a
serializer field expecting a list refuses.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..results import ItemResult, line_of, summary_error
from ..settings import api_settings
from . import files
from .rows import (
    FAILED,
    KINDS,
    META_COLUMNS,
    SUCCESSFUL,
    UNPROCESSED,
    BatchRows,
    KindRows,
    csv_cell,
    csv_header,
    csv_lines,
    get_null_value,
)

__all__ = [
    "FAILED",
    "ID_LISTS",
    "KINDS",
    "META_COLUMNS",
    "SUCCESSFUL",
    "UNPROCESSED",
    "ResultFile",
    "ResultFiles",
    "Tally",
    "csv_cell",
    "error_records",
    "get_null_value",
    "outcome_records",
    "storable",
    "write_results",
]

#: Status of an item, in the summary's id lists.
ID_LISTS = {"created": "created_ids", "updated": "updated_ids", "deleted": "deleted_ids"}


# Outcome records -----------------------------------------------------------


def outcome_records(items: Iterable[ItemResult]) -> list[dict]:
    """The records a job keeps for the outcomes of a ``BulkResult`` or the errors of a ``BulkError``.

    They are the items of a synchronous answer (``ItemResult.as_dict()``).
    """
    return [item.as_dict() for item in items]


error_records = outcome_records


# The summary ----------------------------------------------------------------

#: Characters a database may refuse in text or JSON (PostgreSQL refuses NUL).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: Any) -> Any:
    """``value`` with each NUL or lone surrogate in its texts replaced by U+FFFD.

    For the job's row only: a summary that repeats a client's item must not
    make the database refuse the row. The result files keep the items exactly.
    """
    if isinstance(value, str):
        return UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, Mapping):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        # The id lists are mostly integers: no call for each.
        return [item if type(item) is int else storable(item) for item in value]
    return value


class Tally:
    """The running summary of a job, added to batch by batch."""

    def __init__(self, total: int, *, dry_run: bool = False):
        self.total = total
        self.dry_run = dry_run
        self.success_count = 0
        self.error_count = 0
        self.errors: list[dict] = []
        self.ids: dict[str, list] = {name: [] for name in ID_LISTS.values()}
        #: How many ids of each list there are, kept or not.
        self.id_counts: dict[str, int] = {name: 0 for name in ID_LISTS.values()}
        self.truncated = False
        #: Whether the lists (errors, ids) changed since ``checkpoint_fields()``.
        self.changed = False

    @classmethod
    def from_dict(
        cls,
        data: Mapping | None,
        total: int,
        *,
        dry_run: bool = False,
        progress: Mapping | None = None,
    ) -> Tally:
        """The tally ``as_dict()`` stored, with the later ``counts()`` of ``progress``."""
        tally = cls(total, dry_run=dry_run)
        if data:
            tally.success_count = data.get("success_count", 0)
            tally.error_count = data.get("error_count", 0)
            tally.errors = list(data.get("errors", []))
            counts = data.get("id_counts") or {}
            for name in ID_LISTS.values():
                tally.ids[name] = list(data.get(name, []))
                tally.id_counts[name] = counts.get(name, len(tally.ids[name]))
            tally.truncated = data.get("truncated", False)
        if data and progress:
            tally.success_count = progress["success_count"]
            tally.error_count = progress["error_count"]
            tally.id_counts.update(progress["id_counts"])
            tally.truncated = progress["truncated"]
        return tally

    def counts(self) -> dict:
        """The counts of ``as_dict()``, without its lists."""
        return {
            "success_count": self.success_count,
            "error_count": self.error_count,
            "id_counts": dict(self.id_counts),
            "truncated": self.truncated,
        }

    def checkpoint_fields(self) -> dict:
        """The fields a checkpoint writes: ``progress``, and ``result`` when the lists changed.

        Once the lists are full (``JOB_MAX_ERRORS``, ``JOB_MAX_IDS``) they no
        longer change, and writing them again at every batch would cost more
        than the batch's own inserts.
        """
        fields: dict[str, Any] = {"progress": self.counts()}
        if self.changed:
            fields["result"] = self.as_dict()
            self.changed = False
        return fields

    @property
    def processed(self) -> int:
        return self.success_count + self.error_count

    def add(self, records: Iterable[dict], items: Sequence, start: int) -> None:
        max_errors = api_settings.JOB_MAX_ERRORS
        max_ids = api_settings.JOB_MAX_IDS
        for record in records:
            if "code" in record:
                self.error_count += 1
                if len(self.errors) >= max_errors:
                    self.changed = self.changed or not self.truncated
                    self.truncated = True
                    continue
                self.changed = True
                item = items[record["index"] - start]
                self.errors.append(
                    summary_error(
                        record["index"],
                        record["code"],
                        record["detail"],
                        line=line_of(item),
                        data=item,
                    )
                )
            else:
                self.success_count += 1
                name = ID_LISTS.get(record["status"])
                if name is not None and "id" in record:
                    self.id_counts[name] += 1
                    if len(self.ids[name]) >= max_ids:
                        self.changed = self.changed or not self.truncated
                        self.truncated = True
                    else:
                        self.ids[name].append(record["id"])
                        self.changed = True

    def refuse(self) -> None:
        """Nothing was written after all: the items that passed do not count."""
        self.success_count = 0
        self.ids = {name: [] for name in ID_LISTS.values()}
        self.id_counts = {name: 0 for name in ID_LISTS.values()}

    def as_dict(self, **extra: Any) -> dict:
        return storable(
            {
                "total_items": self.total,
                "success_count": self.success_count,
                "error_count": self.error_count,
                "dry_run": self.dry_run,
                "errors": self.errors,
                **self.ids,
                "id_counts": dict(self.id_counts),
                "truncated": self.truncated,
                **extra,
            }
        )


# Result files ---------------------------------------------------------------


class ResultFile:
    """One kind's result files, put together in item order from runs of rows.

    The JSON lines go straight to their file. The CSV rows wait in a spool
    with the columns each run used: the header, the union of all of them,
    is known only at the end. A run whose columns are the header's (the
    usual case: every batch has the same fields) is copied as it is; any
    other run is read back as CSV and its cells moved to the header's
    columns, the slow path.
    """

    def __init__(self, job, kind: str):
        self.job = job
        self.kind = kind
        self.count = 0
        self.meta: dict[str, None] = {}
        self.columns: dict[str, None] = {}
        self.jsonl = files.spool()
        self.rows = files.spool()
        #: ``(length, header)`` of each run in ``rows``.
        self.runs: list[tuple[int, list[str]]] = []

    def add(
        self, count: int, meta: Iterable[str], columns: Iterable[str], jsonl: bytes, table: bytes
    ) -> None:
        """Add ``count`` entries: their JSON lines, their CSV rows under ``meta`` and ``columns``."""
        if not count:
            return
        meta, columns = list(meta), list(columns)
        self.count += count
        self.meta.update(dict.fromkeys(meta))
        self.columns.update(dict.fromkeys(columns))
        self.jsonl.write(jsonl)
        self.rows.write(table)
        self.runs.append((len(table), csv_header(self.kind, meta, columns)))

    def add_rows(self, rows: KindRows) -> None:
        self.add(rows.count, rows.meta, rows.columns, rows.jsonl(), rows.csv())

    def header(self) -> list[str]:
        return csv_header(self.kind, self.meta, self.columns)

    def save(self) -> dict:
        jsonl = files.save(files.job_path(self.job.pk, f"{self.kind}.jsonl"), self.jsonl)
        with files.spool() as table:
            header = self.header()
            table.write(csv_lines([[csv_cell(name, "") for name in header]]))
            self.rows.seek(0)
            for length, columns in self.runs:
                run = self.rows.read(length)
                table.write(run if columns == header else remap(run, columns, header))
            name = files.save(files.job_path(self.job.pk, f"{self.kind}.csv"), table)
        return {"count": self.count, "jsonl": jsonl, "csv": name}

    def close(self) -> None:
        self.jsonl.close()
        self.rows.close()


def remap(table: bytes, columns: list[str], header: list[str]) -> bytes:
    """CSV rows under ``columns`` moved to ``header``'s; a column they lack is an empty cell."""
    positions: dict[str, int] = {}
    for position, name in enumerate(columns):
        positions.setdefault(name, position)
    wanted = [positions.get(name) for name in header]
    reader = csv.reader(io.StringIO(table.decode(), newline=""))
    return csv_lines(
        [("" if position is None else cells[position]) for position in wanted] for cells in reader
    )


class ResultFiles(dict):
    """The :class:`ResultFile` of each kind of a job; ``save()`` writes them."""

    def __init__(self, job):
        super().__init__((kind, ResultFile(job, kind)) for kind in KINDS)
        self.null = get_null_value(job)

    def add_rows(self, batch: BatchRows) -> None:
        for kind, rows in batch.items():
            self[kind].add_rows(rows)

    def add_items(
        self, items: Iterable[tuple[int, Any]], records=(), *, keep_successes: bool, chunk: int
    ) -> None:
        """Format ``(index, item)`` pairs now, ``chunk`` at a time; see ``BatchRows.add_items()``."""
        pairs = iter(items)
        while True:
            run = list(itertools.islice(pairs, chunk))
            if not run:
                return
            batch = BatchRows(self.null)
            batch.add_items(run, records, keep_successes=keep_successes)
            self.add_rows(batch)

    def save(self) -> dict:
        return {kind: writer.save() for kind, writer in self.items()}

    def close(self) -> None:
        for writer in self.values():
            writer.close()


def write_results(job, phase: str | None, *, keep_successes: bool, end: int | None = None) -> dict:
    """Write the result files of a finished job; returns them for ``job.files``.

    ``phase`` names the batches to report (``None``: none, every item is
    unprocessed), ``end`` the index where the committed batches end (a
    cancelled lenient job's checkpoint). Without ``keep_successes`` the
    items that passed were not kept (a strict job failed or was cancelled)
    and count as unprocessed.

    The files are the parts the batches wrote (``files.write_part()``),
    copied in item order. Only the items no part reports are read from the
    input and formatted here: those never run (past ``end``, or in a batch
    that left no part) and, without ``keep_successes``, every item that did
    not fail.
    """
    end = job.total if end is None else end
    chunk = job.batch_size
    results = ResultFiles(job)
    try:
        with files.InputCursor(job) as source:
            position = 0
            while phase is not None and position < end:
                part = files.read_part(job, phase, position)
                if part is None:
                    # A batch that left no part of this release: perhaps the
                    # outcome records of an earlier one, else it never ran.
                    records = files.read_legacy_part(job, phase, position) or ()
                    stop = position + job.batch_size
                    results.add_items(
                        source.take(position, stop),
                        records,
                        keep_successes=keep_successes,
                        chunk=chunk,
                    )
                    position = stop
                    continue
                # Every part has items; an empty one must not stall the walk.
                stop = position + (part.size or job.batch_size)
                kinds = KINDS if keep_successes else (FAILED,)
                for kind in kinds:
                    if kind not in part.sections:
                        raise ValueError(f"The part of batch {position} has no {kind} rows.")
                    results[kind].add(*part.sections[kind])
                if not keep_successes:
                    failed = set(part.failed)
                    results.add_items(
                        (pair for pair in source.take(position, stop) if pair[0] not in failed),
                        keep_successes=False,
                        chunk=chunk,
                    )
                position = stop
            if position < job.total:
                results.add_items(source.take(position), keep_successes=False, chunk=chunk)
        return results.save()
    finally:
        results.close()
