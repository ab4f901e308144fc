"""Result files put together from the parts the batches wrote, compared with building them at the end.

``reference_files()`` is how result files were built before batches wrote
parts: every item read again from the input beside every outcome record,
each kind's JSON lines spooled, then every line decoded again to make the
CSV. The files made from the parts must be the same, byte for byte.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import json
import uuid
from collections.abc import Mapping

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from rest_framework_bulk.jobs import files
from rest_framework_bulk.jobs import running as execution
from rest_framework_bulk.jobs.models import BulkJob
from rest_framework_bulk.jobs.results import KINDS, ResultFiles, write_results
from rest_framework_bulk.jobs.rows import (
    FAILED,
    META_COLUMNS,
    SUCCESSFUL,
    UNPROCESSED,
    BatchRows,
    csv_cell,
)
from rest_framework_bulk.parsers import CSVRow
from rest_framework_bulk.results import describe, line_of
from tests.models import SimpleModel

from .test_execution import items as numbered
from .test_execution import submit
from .test_recovery import Crash, make_stale

# The reference ------------------------------------------------------------------


class ReferenceWriter:
    """One kind's files, as ``ResultWriter`` wrote them."""

    def __init__(self, kind: str, null: str):
        self.kind = kind
        self.null = null
        self.count = 0
        self.columns: dict[str, None] = {}
        self.meta: dict[str, None] = {}
        self.lines: list[bytes] = []

    def add(self, index, item, record) -> None:
        entry: dict = {"index": index}
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
        self.lines.append(files.dumps(entry).encode() + b"\n")
        self.count += 1

    def files(self) -> tuple[int, bytes, bytes]:
        header = [f"bulk__{key}" for key in META_COLUMNS[self.kind] if key in self.meta]
        header += list(self.columns)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow([csv_cell(name, "") for name in header])
        for line in self.lines:
            entry = json.loads(line)
            data = entry.pop("data")
            row = {f"bulk__{key}": csv_cell(value, "") for key, value in entry.items()}
            if not isinstance(data, Mapping):
                data = {"value": data}
            row.update((str(key), csv_cell(value, self.null)) for key, value in data.items())
            writer.writerow([row.get(name, "") for name in header])
        return self.count, b"".join(self.lines), text.getvalue().encode()


def reference_files(job, parts: dict, *, keep_successes: bool, end=None, null="#N/A") -> dict:
    """What the result files were, for the batches in ``parts`` (their records by start)."""
    end = job.total if end is None else end
    outcomes = []
    for start in range(0, end, job.batch_size):
        if start in parts:
            # The records went through their part's JSON lines.
            records = [json.loads(files.dumps(record)) for record in parts[start]]
            outcomes += sorted(records, key=lambda record: record["index"])
    writers = {kind: ReferenceWriter(kind, null) for kind in KINDS}
    pending = iter(outcomes)
    record = next(pending, None)
    for index, item in files.iter_input(job):
        while record is not None and record["index"] < index:
            record = next(pending, None)
        found = record if record is not None and record["index"] == index else None
        if found is None:
            kind = UNPROCESSED
        elif "code" in found:
            kind = FAILED
        else:
            kind = SUCCESSFUL if keep_successes else UNPROCESSED
        writers[kind].add(index, item, found)
    return {kind: writer.files() for kind, writer in writers.items()}


def reference_csv(kind: str, jsonl: bytes, null: str = "#N/A") -> bytes:
    """The CSV the reference made of a kind's JSON lines."""
    writer = ReferenceWriter(kind, null)
    for line in jsonl.splitlines(keepends=True):
        entry = json.loads(line)
        writer.meta.update(dict.fromkeys(entry))
        data = entry["data"]
        writer.columns.update(dict.fromkeys(data if isinstance(data, Mapping) else ["value"]))
        writer.lines.append(line)
    return writer.files()[2]


def stored_files(written: dict) -> dict:
    storage = files.get_storage()
    result = {}
    for kind, entry in written.items():
        with storage.open(entry["jsonl"], "rb") as jsonl, storage.open(entry["csv"], "rb") as table:
            result[kind] = (entry["count"], jsonl.read(), table.read())
    return result


# Jobs and their batches -------------------------------------------------------


def make_job(items, *, batch_size: int, csv_options=None, **fields) -> BulkJob:
    job = BulkJob(
        id=uuid.uuid4(),
        operation="create",
        batch_size=batch_size,
        options={"csv": csv_options or {}, **fields.pop("options", {})},
        **fields,
    )
    job.input_name, job.input_format, job.total = files.save_input(
        job.pk, items, job.options["csv"]
    )
    return job


def outcome(index: int, item) -> dict | None:
    """A made-up outcome for an item: successes with and without ids, failures, not run."""
    if index % 7 == 3:
        return None
    if index % 5 == 1:
        record = {"index": index, "status": "invalid", "code": "invalid"}
        if index % 2:
            record["lookup"] = index
        record["detail"] = {"number": [f"Bad {index}."], "non_field_errors": ["=SUM(A1)"]}
        if index % 3 == 0:
            record["codes"] = {"number": ["invalid"]}
        return record
    record = {"index": index, "status": "created" if index % 4 else "updated"}
    if index % 6 != 2:
        record["id"] = index + 1000
    return record


def run_batches(job, phase: str = "write", *, skip=(), kinds=KINDS) -> dict:
    """Write a part for each batch, but those in ``skip``; returns their records by start."""
    parts = {}
    for start, items in files.iter_batches(job):
        if start in skip:
            continue
        records = [r for r in (outcome(start + n, item) for n, item in enumerate(items)) if r]
        files.write_part(job, phase, start, records, items, kinds=kinds)
        parts[start] = records
    return parts


MIXED = [
    {"number": 0, "contents": "plain"},
    {"number": 1, "contents": None},
    {"number": 2, "contents": "=1+2", "extra": "x"},
    {"contents": "-5"},
    {"number": 4, "contents": "#N/A", "nested": {"a": [1, None]}},
    {"number": 5, "contents": "'quoted", "flag": True},
    {"number": 6, "contents": "line\nbreak", "price": 2.5},
    {"number": 7, "contents": 'a, b "q"'},
    "not an object",
    {"number": 9, "contents": "", "@at": "@at"},
    {"number": 10},
    [1, 2, 3],
    {"number": 12, "contents": "+x", "extra": None},
    {"number": 13, "contents": "tail"},
]


def assert_same(job, parts, **options) -> dict:
    written = write_results(job, "write", **options)
    expected = reference_files(job, parts, **options)
    assert stored_files(written) == expected
    return written


@pytest.mark.parametrize("keep_successes", [True, False])
@pytest.mark.parametrize("batch_size", [1, 3, 5, 100])
def test_mixed_json_items_give_the_same_files(keep_successes, batch_size):
    job = make_job(MIXED, batch_size=batch_size)
    parts = run_batches(job)

    written = assert_same(job, parts, keep_successes=keep_successes)

    counts = {kind: entry["count"] for kind, entry in written.items()}
    assert sum(counts.values()) == len(MIXED)
    assert bool(counts[SUCCESSFUL]) is keep_successes
    assert counts[FAILED] and counts[UNPROCESSED]


def test_a_cancelled_job_reports_its_batches_up_to_the_checkpoint():
    job = make_job(MIXED, batch_size=3)
    parts = run_batches(job)

    # The part of the batch at 6 was written, then its transaction rolled back.
    written = assert_same(job, parts, keep_successes=True, end=6)

    assert [line["index"] for line in lines(written, UNPROCESSED)] == [3, *range(6, 14)]


def test_batches_that_left_no_part_are_unprocessed():
    job = make_job(MIXED, batch_size=3)
    parts = run_batches(job, skip={3, 12})

    assert_same(job, parts, keep_successes=True)
    assert_same(job, parts, keep_successes=False)


def test_a_strict_check_keeps_the_failures_only():
    job = make_job(MIXED, batch_size=4)
    parts = run_batches(job, "check", kinds=(FAILED,))

    written = write_results(job, "check", keep_successes=False)

    assert stored_files(written) == reference_files(job, parts, keep_successes=False)
    # Without the rows a strict check never reports, there is nothing to report them from.
    with pytest.raises(ValueError, match="no successful rows"):
        write_results(job, "check", keep_successes=True)


def test_csv_rows_with_sparse_cells_and_their_lines():
    upload = SimpleUploadedFile(
        "items.csv",
        b"number,contents,extra\r\n"
        b"1,a,\r\n"
        b",b,x\r\n"
        b"3,#N/A,'=y\r\n"
        b"4,,\r\n"
        b'5,"two\r\nlines",z\r\n'
        b"6,=cmd(),\r\n"
        b",,w\r\n",
        content_type="text/csv",
    )
    job = make_job(upload, batch_size=2)
    assert job.input_format == "csv"
    parts = run_batches(job)

    written = assert_same(job, parts, keep_successes=True)

    assert [line["line"] for line in lines(written, FAILED)] == [3, 9]
    # Blank cells are left out of a row: batches used other columns than the
    # header's, and their rows were moved to its columns.
    with files.get_storage().open(written[SUCCESSFUL]["csv"], "rb") as handle:
        header = next(csv.reader(io.StringIO(handle.read().decode())))
    assert header == ["bulk__index", "bulk__status", "bulk__id", "number", "contents", "extra"]
    first = files.read_part(job, "write", 0).sections[SUCCESSFUL]
    assert first[2] == ["number", "contents"]


def test_rows_of_a_csv_body_keep_their_lines():
    rows = [CSVRow({"number": str(n), "contents": f"c{n}"}, line=n + 2) for n in range(9)]
    rows[4] = CSVRow({"contents": "only"}, line=6)
    job = make_job(rows, batch_size=4)
    assert job.input_format == "csvrows"

    assert_same(job, run_batches(job), keep_successes=True)


def test_the_null_token_of_the_view():
    job = make_job(MIXED, batch_size=3, options={"csv_null_value": "NULL"})
    parts = run_batches(job)

    written = write_results(job, "write", keep_successes=True)

    assert stored_files(written) == reference_files(job, parts, keep_successes=True, null="NULL")


def test_a_rerun_batch_replaces_its_part():
    job = make_job(MIXED, batch_size=5)
    parts = run_batches(job)
    # The batch at 5 runs again after a crash: this time every item fails.
    items = [item for index, item in files.iter_input(job) if 5 <= index < 10]
    again = [
        {"index": 5 + n, "status": "error", "code": "error", "detail": "Again."}
        for n in range(len(items))
    ]
    files.write_part(job, "write", 5, again, items)
    parts[5] = again

    written = assert_same(job, parts, keep_successes=True)

    indexes = [line["index"] for kind in KINDS for line in lines(written, kind)]
    assert sorted(indexes) == list(range(len(MIXED)))
    failed = [line["index"] for line in lines(written, FAILED)]
    assert failed == sorted(set(failed))
    assert set(range(5, 10)) <= set(failed)


def test_outcome_records_of_an_earlier_release_are_still_reported():
    # A job that was running when the package was upgraded: its first
    # batches left outcome records only.
    job = make_job(MIXED, batch_size=4)
    parts = run_batches(job, skip={0, 4})
    for start in (0, 4):
        records = [outcome(start + n, None) for n in range(4)]
        parts[start] = [record for record in records if record]
        files.write_lines(files.legacy_part_name(job, "write", start), parts[start])

    assert_same(job, parts, keep_successes=True)


def test_a_job_whose_batches_all_left_parts_does_not_read_its_input():
    job = make_job(MIXED, batch_size=3)
    parts = run_batches(job)
    expected = reference_files(job, parts, keep_successes=True)

    files.get_storage().delete(job.input_name)
    written = write_results(job, "write", keep_successes=True)

    assert stored_files(written) == expected
    with pytest.raises(files.InputMissing):
        write_results(job, "write", keep_successes=True, end=6)


def test_values_of_a_serializer_show_in_the_csv_as_their_json():
    # Export rows are a serializer's data, not decoded JSON.
    job = make_job([], batch_size=10)
    results = ResultFiles(job)
    rows = BatchRows(results.null)
    item = {
        "price": decimal.Decimal("1.10"),
        "at": datetime.datetime(2024, 5, 1, 12, 30),
        "uid": uuid.UUID(int=1),
        "tags": ("a", "=b"),
        "nothing": None,
    }
    rows[SUCCESSFUL].add(0, item, {"status": "retrieved", "id": uuid.UUID(int=2)})
    reference = ReferenceWriter(SUCCESSFUL, results.null)
    reference.add(0, item, {"status": "retrieved", "id": uuid.UUID(int=2)})
    results.add_rows(rows)
    try:
        written = results.save()
    finally:
        results.close()

    assert stored_files(written)[SUCCESSFUL] == reference.files()


def lines(written: dict, kind: str) -> list[dict]:
    with files.get_storage().open(written[kind]["jsonl"], "rb") as handle:
        return [json.loads(line) for line in handle]


@pytest.mark.urls("tests.jobs.urls")
@pytest.mark.django_db(transaction=True)
def test_a_job_resumed_after_a_crash_mid_batch_reports_each_item_once(
    job_settings, shared_database, api, monkeypatch
):
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_WORKERS": 0}
    bad = {3, 12, 25}
    job = submit(api, "/jobs/simple/", numbered(30, bad=bad), prefer="handling=lenient")
    calls = []
    save_checkpoint = execution.Execution.save_checkpoint

    def crashing(self, *args):
        calls.append(1)
        if len(calls) == 2:
            # The second batch wrote its part; its transaction rolls back.
            raise Crash
        return save_checkpoint(self, *args)

    monkeypatch.setattr(execution.Execution, "save_checkpoint", crashing)
    with pytest.raises(Crash):
        execution.run_job(job.pk)
    monkeypatch.undo()
    job.refresh_from_db()
    assert (job.checkpoint, SimpleModel.objects.count()) == (10, 9)
    assert files.read_part(job, "write", 10) is not None
    make_stale(job)

    call_command("run_bulk_jobs", "--once")

    job.refresh_from_db()
    assert (job.state, job.attempts, job.succeeded, job.failed) == ("SUCCESS", 2, 27, 3)
    stored = stored_files(job.files)
    successful = [json.loads(line) for line in stored[SUCCESSFUL][1].splitlines()]
    assert [line["index"] for line in successful] == [n for n in range(30) if n not in bad]
    # The ids are those of the rows the second attempt wrote, not the rolled-back ones.
    ids = dict(SimpleModel.objects.values_list("number", "pk"))
    assert [line["id"] for line in successful] == [
        ids[line["data"]["number"]] for line in successful
    ]
    failed = [json.loads(line) for line in stored[FAILED][1].splitlines()]
    assert [line["index"] for line in failed] == sorted(bad)
    for kind in KINDS:
        count, jsonl, table = stored[kind]
        assert table == reference_csv(kind, jsonl)
