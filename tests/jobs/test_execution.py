"""Jobs run end to end, on the embedded runner and on a Celery worker."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from rest_framework.test import APIRequestFactory, force_authenticate

from rest_framework_bulk.jobs.files import get_storage
from rest_framework_bulk.jobs.models import BulkJob
from rest_framework_bulk.jobs.running import run_job
from rest_framework_bulk.jobs.submit import submit_job
from rest_framework_bulk.parsers import CSVRows
from rest_framework_bulk.settings import api_settings
from tests.models import SimpleModel
from tests.views import SimpleBulkAPIView

from .support import wait_until
from .views import SimpleJobView

pytestmark = [pytest.mark.urls("tests.jobs.urls"), pytest.mark.django_db(transaction=True)]


def items(count: int, bad=()) -> list[dict]:
    return [{"number": n, "contents": "bad" if n in bad else f"c{n}"} for n in range(count)]


def submit(
    api, url: str, data, method: str = "post", prefer: str | None = None, **extra
) -> BulkJob:
    headers = {"HTTP_PREFER": prefer} if prefer else {}
    response = getattr(api, method)(
        url, data, format=extra.pop("format", "json"), **headers, **extra
    )
    assert response.status_code == 202, response.data
    return BulkJob.objects.get(pk=response.data["task_id"])


def finished(job: BulkJob) -> BulkJob:
    wait_until(
        lambda: BulkJob.objects.filter(pk=job.pk, state__in=BulkJob.FINISHED_STATES).exists(),
        message=f"job {job.pk} to finish",
    )
    return BulkJob.objects.get(pk=job.pk)


def status(api, job: BulkJob) -> dict:
    response = api.get(f"/bulk-operations/{job.pk}/status/")
    assert response.status_code == 200
    return response.json()


def result_lines(api, job: BulkJob, kind: str) -> list[dict]:
    response = api.get(f"/bulk-operations/{job.pk}/results/{kind}/?format=json")
    assert response.status_code == 200
    return [json.loads(line) for line in b"".join(response.streaming_content).splitlines()]


def result_rows(api, job: BulkJob, kind: str) -> list[list[str]]:
    response = api.get(f"/bulk-operations/{job.pk}/results/{kind}/?format=csv")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{job.pk}-{kind}.csv"'
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_create(runner, api):
    job = finished(submit(api, "/jobs/simple/", items(25)))

    data = status(api, job)
    assert data["state"] == "SUCCESS"
    assert data["status"] == "Job completed successfully."
    assert data["progress"]["current"] == data["progress"]["total"] == 25
    assert data["progress"]["percentage"] == 100.0
    created = list(SimpleModel.objects.order_by("number").values_list("pk", flat=True))
    assert len(created) == 25
    result = data["result"]
    assert (result["total_items"], result["success_count"], result["error_count"]) == (25, 25, 0)
    assert sorted(result["created_ids"]) == created
    assert result["errors"] == []
    assert data["results"]["successful"]["count"] == 25
    assert "Retry-After" not in api.get(f"/bulk-operations/{job.pk}/status/")
    first = result_lines(api, job, "successful")[0]
    assert first == {
        "index": 0,
        "status": "created",
        "id": created[0],
        "data": {"number": 0, "contents": "c0"},
    }
    assert result_rows(api, job, "successful")[:2] == [
        ["bulk__index", "bulk__status", "bulk__id", "number", "contents"],
        ["0", "created", str(created[0]), "0", "c0"],
    ]
    assert result_lines(api, job, "failed") == []
    assert result_rows(api, job, "unprocessed") == [[]]


def test_strict_job_with_invalid_items_writes_nothing(runner, api):
    job = finished(submit(api, "/jobs/simple/", items(25, bad={3, 17})))

    data = status(api, job)
    assert data["state"] == "FAILURE"
    assert SimpleModel.objects.count() == 0
    result = data["result"]
    assert (result["success_count"], result["error_count"], result["code"]) == (0, 2, "invalid")
    assert result["detail"] == "2 of 25 items were rejected; nothing was written."
    assert result["errors"] == [
        {
            "index": 3,
            "code": "invalid",
            "error": "contents: Bad contents.",
            "data": {"number": 3, "contents": "bad"},
        },
        {
            "index": 17,
            "code": "invalid",
            "error": "contents: Bad contents.",
            "data": {"number": 17, "contents": "bad"},
        },
    ]
    assert result["created_ids"] == []
    assert data["counts"] == {
        "total": 25,
        "processed": 2,
        "succeeded": 0,
        "failed": 2,
        "unprocessed": 23,
    }
    failed = result_lines(api, job, "failed")
    assert [line["index"] for line in failed] == [3, 17]
    assert failed[0]["detail"] == {"contents": ["Bad contents."]}
    assert failed[0]["codes"] == {"contents": ["bad"]}
    assert len(result_lines(api, job, "unprocessed")) == 23
    assert result_lines(api, job, "successful") == []


def test_lenient_job_writes_the_valid_items(runner, api):
    job = finished(submit(api, "/jobs/simple/", items(25, bad={3, 17}), prefer="handling=lenient"))

    data = status(api, job)
    assert data["state"] == "SUCCESS"
    assert data["status"] == "Job completed with 2 errors."
    assert SimpleModel.objects.count() == 23
    assert not SimpleModel.objects.filter(number__in=[3, 17]).exists()
    assert (data["result"]["success_count"], data["result"]["error_count"]) == (23, 2)
    assert data["counts"] == {
        "total": 25,
        "processed": 25,
        "succeeded": 23,
        "failed": 2,
        "unprocessed": 0,
    }
    assert result_rows(api, job, "failed") == [
        ["bulk__index", "bulk__code", "bulk__error", "number", "contents"],
        ["3", "invalid", "contents: Bad contents.", "3", "bad"],
        ["17", "invalid", "contents: Bad contents.", "17", "bad"],
    ]


def test_update_and_destroy_through_a_viewset(runner, api):
    rows = SimpleModel.objects.bulk_create(
        [SimpleModel(number=n, contents="old") for n in range(-2, 20)]
    )
    updates = [{"id": row.pk, "contents": "new"} for row in rows if row.number > 0]

    job = finished(submit(api, "/api/simple-jobs/", updates, method="patch"))

    assert job.state == "SUCCESS", job.result
    assert SimpleModel.objects.filter(contents="new").count() == 19
    assert sorted(job.result["updated_ids"]) == [row["id"] for row in updates]

    doomed = [row.pk for row in rows]
    job = finished(
        submit(api, "/api/simple-jobs/", doomed, method="delete", prefer="handling=lenient")
    )

    # The viewset's filter_queryset() hides rows numbered 0 and below.
    assert job.state == "SUCCESS"
    assert sorted(SimpleModel.objects.values_list("number", flat=True)) == [-2, -1, 0]
    assert (job.succeeded, job.failed) == (19, 3)
    assert {error["code"] for error in job.result["errors"]} == {"not_found"}
    assert len(job.result["deleted_ids"]) == 19


def test_dry_run_writes_nothing(runner, api):
    job = finished(
        submit(api, "/jobs/simple/?dry_run=1", items(12, bad={5}), prefer="handling=lenient")
    )

    assert job.state == "SUCCESS", job.result
    assert SimpleModel.objects.count() == 0
    assert (job.result["dry_run"], job.result["success_count"], job.result["error_count"]) == (
        True,
        11,
        1,
    )
    assert {line["status"] for line in result_lines(api, job, "successful")} == {"would_create"}


def test_csv_upload(runner, api):
    content = 'number,contents\n1,a\n2,bad\n3,#N/A\n4,"d, e"\n'
    upload = SimpleUploadedFile("items.csv", content.encode(), content_type="text/csv")

    job = finished(
        submit(
            api, "/jobs/simple/", {"file": upload}, format="multipart", prefer="handling=lenient"
        )
    )

    assert job.state == "SUCCESS"
    assert sorted(SimpleModel.objects.values_list("number", "contents")) == [(1, "a"), (4, "d, e")]
    failed = result_rows(api, job, "failed")
    assert failed[0] == [
        "bulk__index",
        "bulk__line",
        "bulk__code",
        "bulk__error",
        "number",
        "contents",
    ]
    assert failed[1][:3] == ["1", "3", "invalid"]
    assert failed[2][:2] == ["2", "4"]
    assert failed[2][-1] == "#N/A"
    assert [error["line"] for error in job.result["errors"]] == [3, 4]


def test_cancel_a_running_lenient_job_keeps_what_it_wrote(runner, api):
    job = submit(api, "/jobs/slow/", items(200), prefer="handling=lenient")
    wait_until(lambda: BulkJob.objects.get(pk=job.pk).checkpoint >= 20, message="two batches")

    response = api.post(f"/bulk-operations/{job.pk}/cancel/")

    assert response.status_code in (200, 202)
    job = finished(job)
    assert job.state == "CANCELLED"
    written = SimpleModel.objects.count()
    assert 20 <= written < 200
    assert written == job.checkpoint == job.succeeded == job.processed
    assert job.result["unprocessed_count"] == 200 - written
    unprocessed = result_lines(api, job, "unprocessed")
    assert [line["index"] for line in unprocessed] == list(range(written, 200))
    assert len(result_lines(api, job, "successful")) == written


def test_cancel_a_running_strict_job_writes_nothing(runner, api):
    job = submit(api, "/jobs/slow/", items(100))
    wait_until(lambda: BulkJob.objects.get(pk=job.pk).processed >= 20, message="two batches")

    api.post(f"/bulk-operations/{job.pk}/cancel/")

    job = finished(job)
    assert job.state == "CANCELLED"
    assert SimpleModel.objects.count() == 0
    assert job.result["unprocessed_count"] == 100


def test_the_job_runs_as_its_owner_with_the_views_permissions(runner, api):
    job = finished(submit(api, "/jobs/staff-only/", items(3)))

    assert job.state == "FAILURE"
    assert job.result["code"] == "staff_only"
    assert job.message == "Only staff may run this job."
    assert SimpleModel.objects.count() == 0


def test_cancel_a_strict_job_while_it_writes(runner, api):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite locks the whole database for a strict job's write phase.")
    job = submit(api, "/jobs/slow/", items(100))
    wait_until(
        lambda: BulkJob.objects.filter(pk=job.pk, phase="writing", processed__gte=20).exists(),
        message="the write phase",
    )

    response = api.post(f"/bulk-operations/{job.pk}/cancel/")

    assert response.status_code == 202
    assert response.json()["status"] == "Job is being cancelled."
    job = finished(job)
    assert job.state == "CANCELLED"
    assert SimpleModel.objects.count() == 0
    assert job.result["unprocessed_count"] == 100


@pytest.mark.parametrize("runner", ["embedded"], indirect=True)
def test_a_waiting_job_starts_when_its_owner_looks(runner, api, job_settings):
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_WORKERS": 0}
    job = submit(api, "/jobs/simple/", items(5))
    # As after a restart: a waiting job, no worker threads.
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_WORKERS": 1}

    assert status(api, job)["state"] == "PENDING"

    assert finished(job).state == "SUCCESS"
    assert SimpleModel.objects.count() == 5


def test_rows_of_a_csv_body_keep_their_line_numbers(shared_database, job_settings, user):
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_WORKERS": 0}
    request = APIRequestFactory().post("/jobs/simple/", b"", content_type="text/csv")
    force_authenticate(request, user)
    view = SimpleJobView()
    view.setup(request)
    view.request = view.initialize_request(request)
    rows = CSVRows(io.BytesIO(b"number,contents\n1,a\n\n2,bad\n3,c\n"))

    job = submit_job(
        request=view.request,
        view=view,
        operation="create",
        items_or_file=rows,
        options={"handling": "lenient"},
    )
    run_job(job.pk)

    job.refresh_from_db()
    assert (job.input_format, job.state, job.succeeded) == ("csvrows", "SUCCESS", 2)
    assert [(error["index"], error["line"]) for error in job.result["errors"]] == [(1, 4)]


def test_a_lenient_batch_that_crashes_fails_only_the_items_at_fault(runner, api):
    data = items(25, bad={4})
    data[13]["contents"] = "crash"

    job = finished(submit(api, "/jobs/fragile/", data, prefer="handling=lenient"))

    body = status(api, job)
    assert body["state"] == "SUCCESS", body
    assert body["counts"] == {
        "total": 25,
        "processed": 25,
        "succeeded": 23,
        "failed": 2,
        "unprocessed": 0,
    }
    assert [(error["index"], error["code"]) for error in body["result"]["errors"]] == [
        (4, "invalid"),
        (13, "error"),
    ]
    numbers = sorted(SimpleModel.objects.values_list("number", flat=True))
    assert numbers == [n for n in range(25) if n not in (4, 13)]
    failed = result_lines(api, job, "failed")
    assert [(line["index"], line["code"]) for line in failed] == [(4, "invalid"), (13, "error")]
    assert failed[1]["detail"] == (
        "This item could not be processed because of an unexpected error."
    )


def test_a_strict_job_reports_the_item_that_crashed_and_writes_nothing(runner, api):
    data = items(25)
    data[13]["contents"] = "crash"

    job = finished(submit(api, "/jobs/fragile/", data))

    body = status(api, job)
    assert body["state"] == "FAILURE"
    assert body["result"]["code"] == "invalid"
    assert [(error["index"], error["code"]) for error in body["result"]["errors"]] == [
        (13, "error")
    ]
    assert SimpleModel.objects.count() == 0
    assert len(result_lines(api, job, "unprocessed")) == 24


def submit_and_change(api, url: str, data, change, **extra) -> BulkJob:
    """Submit a job, then ``change()`` the world before any worker can start it.

    The runner is told once the submission commits, so whatever happens in
    the same transaction happens first.
    """
    with transaction.atomic():
        job = submit(api, url, data, **extra)
        change(job)
    return job


def test_a_job_whose_input_is_gone_fails_at_once(runner, api):
    job = submit_and_change(
        api, "/jobs/simple/", items(25), lambda job: get_storage().delete(job.input_name)
    )

    job = finished(job)
    body = status(api, job)
    assert body["state"] == "FAILURE"
    assert body["result"]["code"] == "input_missing"
    assert body["progress"]["message"].startswith("The job's stored input is missing")
    assert body["counts"]["unprocessed"] == 25
    assert SimpleModel.objects.count() == 0
    # Not taken up again by the next worker: the first attempt was the last.
    time.sleep(api_settings.JOB_STALE_AFTER + 0.5)
    job.refresh_from_db()
    assert (job.state, job.attempts, job.lease) == ("FAILURE", 1, None)
    response = api.get(f"/bulk-operations/{job.pk}/results/unprocessed/?format=csv")
    assert response.status_code == 404
    assert response.json()["code"] == "result_missing"
    response = api.post(f"/bulk-operations/{job.pk}/cancel/")
    assert (response.status_code, response.json()["code"]) == (409, "job_finished")


def test_a_missing_result_file_is_a_404(runner, api):
    job = finished(submit(api, "/jobs/simple/", items(15, bad={3}), prefer="handling=lenient"))
    get_storage().delete(job.files["failed"]["csv"])

    response = api.get(f"/bulk-operations/{job.pk}/results/failed/?format=csv")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "code": "result_missing",
        "detail": "This result file is no longer available.",
    }
    assert [line["index"] for line in result_lines(api, job, "failed")] == [3]
    job.refresh_from_db()
    assert (job.state, job.failed) == ("SUCCESS", 1)
    assert SimpleModel.objects.count() == 14


def test_a_deactivated_owner_runs_nothing(runner, api, user, client_for, staff):
    def deactivate(job):
        type(user).objects.filter(pk=user.pk).update(is_active=False)

    job = finished(submit_and_change(api, "/jobs/simple/", items(25), deactivate))

    # The owner can no longer log in; staff look at the job.
    body = status(client_for(staff), job)
    assert body["state"] == "FAILURE"
    assert body["result"]["code"] == "owner_inactive"
    assert body["progress"]["message"] == (
        "The user who submitted this job is no longer active; it was not run."
    )
    assert body["counts"]["unprocessed"] == 25
    assert SimpleModel.objects.count() == 0


def test_an_owner_who_lost_the_permission_runs_nothing(runner, api, user):
    permission = Permission.objects.get(codename="add_simplemodel")
    user.user_permissions.add(permission)

    job = finished(
        submit_and_change(
            api,
            "/jobs/model-permission/",
            items(25),
            lambda job: user.user_permissions.remove(permission),
        )
    )

    body = status(api, job)
    assert body["state"] == "FAILURE"
    assert body["result"]["code"] == "permission_denied"
    assert body["counts"]["unprocessed"] == 25
    assert SimpleModel.objects.count() == 0


def test_an_owner_who_kept_the_permission_runs(runner, api, user):
    user.user_permissions.add(Permission.objects.get(codename="add_simplemodel"))

    job = finished(submit(api, "/jobs/model-permission/", items(25)))

    assert (job.state, job.succeeded) == ("SUCCESS", 25)
    assert SimpleModel.objects.count() == 25


class SyncSimpleView(SimpleBulkAPIView):
    """The synchronous list route the job's view stands in for."""

    permission_classes = SimpleJobView.permission_classes


def updates_naming_a_row_twice(rows) -> list[dict]:
    """Updates of every row; item 5 names item 4's row, item 17 (another batch) item 2's."""
    updates = [{"id": row.pk, "contents": f"new{n}"} for n, row in enumerate(rows)]
    updates[5]["id"] = rows[4].pk
    updates[17]["id"] = str(rows[2].pk)  # the same row, as the engine reads "7" and 7
    return updates


def sync_errors(user, updates) -> list[dict]:
    """What a synchronous request answers for ``updates``: the reference."""
    request = APIRequestFactory().patch("/bulk/", updates, format="json")
    force_authenticate(request, user)
    with transaction.atomic():
        response = SyncSimpleView.as_view()(request)
        transaction.set_rollback(True)
    assert response.status_code == 400, response.data
    return [dict(error) for error in response.data["errors"]]


def test_a_strict_job_refuses_duplicates_across_batches(runner, api, user):
    rows = SimpleModel.objects.bulk_create(
        [SimpleModel(number=n, contents="old") for n in range(25)]
    )
    updates = updates_naming_a_row_twice(rows)

    job = finished(submit(api, "/jobs/simple/", updates, method="patch"))

    body = status(api, job)
    assert body["state"] == "FAILURE"
    assert body["result"]["code"] == "invalid"
    assert [(error["index"], error["code"]) for error in body["result"]["errors"]] == [
        (5, "duplicate_lookup"),
        (17, "duplicate_lookup"),
    ]
    assert set(SimpleModel.objects.values_list("contents", flat=True)) == {"old"}
    failed = [
        {key: line[key] for key in ("index", "lookup", "code", "detail")}
        for line in result_lines(api, job, "failed")
    ]
    assert failed == sync_errors(user, updates)
    assert failed[1]["detail"] == f"Item 2 already names the object with `id` {rows[2].pk}."


def test_a_lenient_job_skips_the_later_duplicates(runner, api):
    rows = SimpleModel.objects.bulk_create(
        [SimpleModel(number=n, contents="old") for n in range(25)]
    )
    updates = updates_naming_a_row_twice(rows)

    job = finished(submit(api, "/jobs/simple/", updates, method="patch", prefer="handling=lenient"))

    body = status(api, job)
    assert body["state"] == "SUCCESS"
    assert (body["counts"]["succeeded"], body["counts"]["failed"]) == (23, 2)
    assert [(error["index"], error["code"]) for error in body["result"]["errors"]] == [
        (5, "duplicate_lookup"),
        (17, "duplicate_lookup"),
    ]
    contents = dict(SimpleModel.objects.values_list("pk", "contents"))
    # The first item naming a row wins; the rows no item reached stay as they were.
    assert contents[rows[2].pk] == "new2"
    assert contents[rows[4].pk] == "new4"
    assert contents[rows[5].pk] == contents[rows[17].pk] == "old"
    assert sorted(body["result"]["updated_ids"]) == sorted(
        row.pk for n, row in enumerate(rows) if n not in (5, 17)
    )


def test_a_lenient_delete_deletes_a_row_named_twice_once(runner, api):
    rows = SimpleModel.objects.bulk_create(
        [SimpleModel(number=n, contents="old") for n in range(1, 26)]
    )
    doomed = [row.pk for row in rows]
    doomed[15] = str(rows[3].pk)

    job = finished(
        submit(api, "/api/simple-jobs/", doomed, method="delete", prefer="handling=lenient")
    )

    assert job.state == "SUCCESS"
    assert [(error["index"], error["code"]) for error in job.result["errors"]] == [
        (15, "duplicate_lookup")
    ]
    assert list(SimpleModel.objects.values_list("pk", flat=True)) == [rows[15].pk]
    assert sorted(job.result["deleted_ids"]) == sorted(row.pk for row in rows if row != rows[15])


def test_the_status_of_a_large_job_shows_a_hundred_ids(runner, api):
    job = finished(submit(api, "/jobs/simple/", items(130)))

    response = api.get(f"/bulk-operations/{job.pk}/status/")

    result = response.json()["result"]
    created = sorted(SimpleModel.objects.values_list("pk", flat=True))
    assert len(created) == 130
    assert result["success_count"] == 130
    assert len(result["created_ids"]) == 100
    assert set(result["created_ids"]) <= set(created)
    assert result["ids_truncated"] is True
    assert result["id_counts"] == {"created_ids": 130, "updated_ids": 0, "deleted_ids": 0}
    url = result["ids_urls"]["created_ids"]
    assert url == f"http://testserver/bulk-operations/{job.pk}/results/successful/"
    assert sorted(line["id"] for line in result_lines(api, job, "successful")) == created
    # The row keeps every id (up to `JOB_MAX_IDS`); only the reply is cut.
    job.refresh_from_db()
    assert len(job.result["created_ids"]) == 130


def test_the_status_of_a_small_job_shows_every_id(runner, api, job_settings):
    job = finished(submit(api, "/jobs/simple/", items(12)))

    result = status(api, job)["result"]

    assert sorted(result["created_ids"]) == sorted(SimpleModel.objects.values_list("pk", flat=True))
    assert result["ids_truncated"] is False
    assert result["id_counts"]["created_ids"] == 12
    assert "ids_urls" not in result


def test_the_job_api_answers_errors_in_json_for_a_finished_job(runner, api, client_for):
    job = finished(submit(api, "/jobs/simple/", items(12, bad={2}), prefer="handling=lenient"))
    base = f"/bulk-operations/{job.pk}/"

    answers = {
        "unknown kind": api.get(f"{base}results/everything/", HTTP_ACCEPT="text/csv"),
        "bad format": api.get(f"{base}results/failed/?format=xml"),
        "cancel": api.post(f"{base}cancel/"),
        "method": api.put(base, {}, format="json"),
        "anonymous": client_for(None).get(f"{base}results/failed/"),
    }

    codes = {
        name: (r.status_code, r["Content-Type"], r.json()["code"]) for name, r in answers.items()
    }
    assert codes == {
        "unknown kind": (404, "application/json", "unknown_result_kind"),
        "bad format": (404, "application/json", "not_found"),
        "cancel": (409, "application/json", "job_finished"),
        "method": (405, "application/json", "method_not_allowed"),
        "anonymous": (codes["anonymous"][0], "application/json", "not_authenticated"),
    }
    assert codes["anonymous"][0] in (401, 403)
    assert all(isinstance(r.json()["detail"], str) for r in answers.values())
    job.refresh_from_db()
    assert (job.state, job.cancel_requested, job.succeeded) == ("SUCCESS", False, 11)
    assert SimpleModel.objects.count() == 11
