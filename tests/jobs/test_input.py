"""Reading a job's input: ranges in order, decoded a run of lines at a time, as stored."""

from __future__ import annotations

import json
import uuid

import pytest

from rest_framework_bulk.csv import CSVRow
from rest_framework_bulk.jobs import files
from rest_framework_bulk.jobs.models import BulkJob


def stored_job(lines: list[bytes], input_format: str = "jsonl") -> BulkJob:
    job_id = uuid.uuid4()
    name = files.job_path(job_id, "input.jsonl")
    with files.spool() as buffer:
        buffer.write(b"".join(line + b"\n" for line in lines))
        files.save(name, buffer)
    return BulkJob(id=job_id, input_name=name, input_format=input_format, options={})


def lines_of(items) -> list[bytes]:
    return [json.dumps(item).encode() for item in items]


def test_ranges_read_on_one_cursor_are_the_items_at_those_indexes():
    items = [{"n": n, "text": f"item {n}"} for n in range(600)]
    size = files.InputCursor.DECODE_AT_ONCE
    with files.InputCursor(stored_job(lines_of(items))) as cursor:
        first = list(cursor.take(0, 3))
        # Across the end of a decoded run, and skipping part of the next one.
        second = list(cursor.take(3, size + 10))
        third = list(cursor.take(size + 40))

    assert first == list(enumerate(items))[:3]
    assert second == list(enumerate(items))[3 : size + 10]
    assert third == list(enumerate(items))[size + 40 :]


def test_rows_of_a_csv_body_keep_their_lines():
    records = [{"line": n + 2, "row": {"name": f"r{n}", "note": None}} for n in range(300)]
    with files.InputCursor(stored_job(lines_of(records), "csvrows")) as cursor:
        taken = list(cursor.take(0))

    assert [index for index, _row in taken] == list(range(300))
    assert all(type(row) is CSVRow for _index, row in taken)
    assert [(row.line, dict(row)) for _index, row in taken] == [
        (record["line"], record["row"]) for record in records
    ]


def test_a_line_that_does_not_decode_fails_as_decoding_it_alone_does():
    lines = lines_of({"n": n} for n in range(400))
    lines[300] = b'{"n": 300,'
    with pytest.raises(json.JSONDecodeError) as alone:
        json.loads(lines[300] + b"\n")  # the line as stored

    with files.InputCursor(stored_job(lines)) as cursor:
        taken = []
        with pytest.raises(json.JSONDecodeError) as read:
            for index, item in cursor.take(0):
                taken.append((index, item))

    assert str(read.value) == str(alone.value)
    # The run before the bad one was read whole.
    assert taken[: files.InputCursor.DECODE_AT_ONCE] == [
        (n, {"n": n}) for n in range(files.InputCursor.DECODE_AT_ONCE)
    ]
