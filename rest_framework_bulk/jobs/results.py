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
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..csv import format_csv_cell
from ..results import ItemResult, describe, line_of, summary_error
from ..settings import api_settings
from . import files

SUCCESSFUL = "successful"
FAILED = "failed"
UNPROCESSED = "unprocessed"
KINDS = (SUCCESSFUL, FAILED, UNPROCESSED)

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
        return [storable(item) for item in value]
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

    @classmethod
    def from_dict(cls, data: Mapping | None, total: int, *, dry_run: bool = False) -> Tally:
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
        return tally

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
                    self.truncated = True
                    continue
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
                        self.truncated = True
                    else:
                        self.ids[name].append(record["id"])

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


def csv_cell(value: Any, null: str) -> str:
    """The cell for ``value`` (a JSON value) in a result CSV; see the module's docstring."""
    return format_csv_cell(value, null_value=null)


def get_null_value(job) -> str:
    """The null token of the job's view, as stored when it was submitted."""
    return job.options.get("csv_null_value") or api_settings.CSV_NULL_VALUE


META_COLUMNS = {
    SUCCESSFUL: ("index", "status", "id"),
    FAILED: ("index", "line", "lookup", "code", "error"),
    UNPROCESSED: (),
}


class ResultWriter:
    """Writes one kind of result file, as JSON lines and then as CSV."""

    def __init__(self, job, kind: str):
        self.job = job
        self.kind = kind
        self.count = 0
        self.columns: dict[str, None] = {}
        self.meta: dict[str, None] = {}
        self.buffer = files.spool()

    def add(self, index: int, item: Any, record: dict | None) -> None:
        entry: dict[str, Any] = {"index": index}
        # Only an unprocessed item has no record.
        if self.kind == SUCCESSFUL and record is not None:
            entry["status"] = record["status"]
            if "id" in record:
                entry["id"] = record["id"]
        elif self.kind == FAILED and record is not None:
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
        for key in entry:
            self.meta.setdefault(key, None)
        for key in item if isinstance(item, Mapping) else ("value",):
            self.columns.setdefault(str(key), None)
        self.buffer.write(files.dumps(entry).encode())
        self.buffer.write(b"\n")
        self.count += 1

    def save(self) -> dict:
        try:
            jsonl = files.save(files.job_path(self.job.pk, f"{self.kind}.jsonl"), self.buffer)
            with files.spool() as csv_buffer:
                for line in self.csv_lines():
                    csv_buffer.write(line)
                table = files.save(files.job_path(self.job.pk, f"{self.kind}.csv"), csv_buffer)
        finally:
            self.buffer.close()
        return {"count": self.count, "jsonl": jsonl, "csv": table}

    def csv_lines(self) -> Iterable[bytes]:
        """The CSV file, line by line: RFC 4180, CRLF, UTF-8."""
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        header = self.csv_header()
        for cells in (
            [csv_cell(name, "") for name in header],
            *([row.get(name, "") for name in header] for row in self.csv_rows()),
        ):
            writer.writerow(cells)
            yield text.getvalue().encode()
            text.seek(0)
            text.truncate()

    def csv_header(self) -> list[str]:
        meta = [f"bulk__{key}" for key in META_COLUMNS[self.kind] if key in self.meta]
        return [*meta, *self.columns]

    def csv_rows(self) -> Iterable[dict]:
        """Each row's cells by column; a field the item did not give is left out (an empty cell)."""
        null = get_null_value(self.job)
        self.buffer.seek(0)
        for line in self.buffer:
            entry = json.loads(line)
            data = entry.pop("data")
            row = {f"bulk__{key}": csv_cell(value, "") for key, value in entry.items()}
            if not isinstance(data, Mapping):
                data = {"value": data}
            row.update((str(key), csv_cell(value, null)) for key, value in data.items())
            yield row


def write_results(job, phase: str | None, *, keep_successes: bool, end: int | None = None) -> dict:
    """Write the result files of a finished job; returns them for ``job.files``.

    ``phase`` names the recorded outcomes to report (``None``: none, every
    item is unprocessed), ``end`` the index where the committed outcomes
    end (a cancelled lenient job's checkpoint). Without ``keep_successes`` the items that passed
    were not kept (a strict job failed or was cancelled) and count as
    unprocessed.
    """
    writers = {kind: ResultWriter(job, kind) for kind in KINDS}
    try:
        outcomes = files.iter_outcomes(job, phase, end)
        pending = next(outcomes, None)
        for index, item in files.iter_input(job):
            while pending is not None and pending["index"] < index:
                pending = next(outcomes, None)
            record = pending if pending is not None and pending["index"] == index else None
            if record is None:
                kind = UNPROCESSED
            elif "code" in record:
                kind = FAILED
            else:
                kind = SUCCESSFUL if keep_successes else UNPROCESSED
            writers[kind].add(index, item, record)
        return {kind: writer.save() for kind, writer in writers.items()}
    finally:
        for writer in writers.values():
            writer.buffer.close()
