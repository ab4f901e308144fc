"""Result files: a failed or unprocessed CSV sent again as it is means the same rows."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from rest_framework_bulk.jobs.models import BulkJob
from tests.models import SimpleModel

from .test_execution import finished, result_lines, submit

pytestmark = [pytest.mark.urls("tests.jobs.urls"), pytest.mark.django_db(transaction=True)]


def padded(items: list[dict]) -> list[dict]:
    """``items``, then plain ones, so that the job has more than one batch."""
    return [*items, *({"number": 100 + n, "contents": f"plain {n}"} for n in range(15))]


def result_csv(api, job: BulkJob, kind: str) -> bytes:
    response = api.get(f"/bulk-operations/{job.pk}/results/{kind}/?format=csv")
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def upload(api, content: bytes) -> BulkJob:
    file = SimpleUploadedFile("again.csv", content, content_type="text/csv")
    return finished(
        submit(api, "/jobs/simple/", {"file": file}, format="multipart", prefer="handling=lenient")
    )


def outcome(api, job: BulkJob) -> tuple[set, dict]:
    """The rows in the table, and the error code of each refused item by its number."""
    rows = set(SimpleModel.objects.values_list("number", "contents"))
    errors = {
        int(line["data"]["number"]): line["code"] for line in result_lines(api, job, "failed")
    }
    return rows, errors


def assert_round_trip(api, originals: list[dict]) -> None:
    # What the items do when sent as they are: the reference.
    reference = finished(submit(api, "/jobs/simple/", originals, prefer="handling=lenient"))
    expected_rows, expected_errors = outcome(api, reference)
    assert expected_errors, "the items must include some that are refused"
    SimpleModel.objects.all().delete()

    # A strict job refuses them all: the valid items are unprocessed, the others failed.
    refused = finished(submit(api, "/jobs/simple/", originals))
    assert refused.state == "FAILURE"
    assert SimpleModel.objects.count() == 0
    unprocessed = result_csv(api, refused, "unprocessed")
    failed = result_csv(api, refused, "failed")

    again_unprocessed = upload(api, unprocessed)
    again_failed = upload(api, failed)

    rows = set(SimpleModel.objects.values_list("number", "contents"))
    assert rows == expected_rows
    assert again_unprocessed.failed == 0
    assert again_failed.succeeded == 0
    assert outcome(api, again_failed)[1] == expected_errors


def test_nulls_and_fields_not_given_survive_the_round_trip(runner, api):
    assert_round_trip(
        api,
        padded(
            [
                {"number": 1, "contents": "plain"},
                {"number": 2, "contents": None},  # null: refused, and again from the CSV
                {"number": 3},  # not given: required
                {"number": 4, "contents": "-5"},
                {"number": 5, "contents": "1e3"},
                {"number": 6, "contents": 'a, b "q"'},
                {"number": 7, "contents": "bad"},
                {"number": -8, "contents": "line\nbreak"},
            ]
        ),
    )


def test_formula_escaped_cells_survive_the_round_trip(runner, api):
    # Needs the CSV parser to remove the `'` the result file adds.
    assert_round_trip(
        api,
        padded(
            [
                {"number": 1, "contents": "=1+2"},
                {"number": 2, "contents": "+x"},
                {"number": 3, "contents": "-y"},
                {"number": 4, "contents": "@z"},
                {"number": 5, "contents": "'q"},
                {"number": 6, "contents": "''"},
                {"number": 7, "contents": "bad"},
                {"number": 8, "contents": "=bad"},
                {"number": 9, "contents": "#N/A"},  # the text, not a null
            ]
        ),
    )


def test_the_cells_of_a_result_csv(runner, api):
    items = [
        {"number": 1, "contents": "=cmd()"},
        {"number": 2, "contents": None},
        {"number": 3},
        {"number": 4, "contents": "'quoted"},
        {"number": 5, "contents": ""},
        {"number": -6, "contents": "-6"},
        {"number": 7, "contents": "bad"},
        {"number": 8, "contents": "#N/A"},
    ]

    job = finished(submit(api, "/jobs/simple/", padded(items)))

    assert job.state == "FAILURE"
    rows = list(csv.reader(io.StringIO(result_csv(api, job, "failed").decode())))
    assert rows[0] == ["bulk__index", "bulk__code", "bulk__error", "number", "contents"]
    cells = {row[3]: row[4] for row in rows[1:]}
    assert cells == {"2": "#N/A", "3": "", "5": "", "7": "bad"}
    rows = list(csv.reader(io.StringIO(result_csv(api, job, "unprocessed").decode())))
    assert rows[0] == ["number", "contents"]
    cells = dict(rows[1:6])
    assert cells == {"1": "'=cmd()", "4": "''quoted", "-6": "-6", "8": "'#N/A", "100": "plain 0"}
    # JSON lines keep what CSV cannot tell apart: "" is not "not given".
    data = {line["data"]["number"]: line["data"] for line in result_lines(api, job, "failed")}
    assert data[5] == {"number": 5, "contents": ""}
    assert data[3] == {"number": 3}
    assert SimpleModel.objects.count() == 0
