"""The status API: what a client sees of its jobs, and what it may not see of others'."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest

from rest_framework_bulk.jobs.files import get_storage, job_path
from rest_framework_bulk.jobs.models import BulkJob

pytestmark = [pytest.mark.urls("tests.jobs.urls"), pytest.mark.django_db]

ITEMS = [
    {"number": 1, "contents": "a"},
    {"number": 2, "contents": None},
    {"number": 3, "contents": "c"},
]


@pytest.fixture(autouse=True)
def no_workers(job_settings):
    # Jobs stay waiting: nothing in this module runs them.
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_WORKERS": 0}


@pytest.fixture
def submit(client_for):
    def submit(user, items=ITEMS) -> BulkJob:
        response = client_for(user).post("/jobs/simple/", items, format="json")
        assert response.status_code == 202, response.data
        return BulkJob.objects.get(pk=response.data["task_id"])

    return submit


def urls(job: BulkJob) -> dict:
    base = f"/bulk-operations/{job.pk}/"
    return {
        "detail": base,
        "status": f"{base}status/",
        "cancel": f"{base}cancel/",
        "results": f"{base}results/failed/",
    }


def test_status_of_a_waiting_job(api, user, submit):
    job = submit(user)

    response = api.get(f"/bulk-operations/{job.pk}/status/")

    assert response.status_code == 200
    assert response["Retry-After"] == "1"
    data = response.json()
    assert data["task_id"] == str(job.pk)
    assert data["state"] == "PENDING"
    assert data["progress"] == {
        "current": 0,
        "total": 3,
        "percentage": 0.0,
        "message": "Waiting to run.",
        "phase": None,
    }
    assert data["result"] is None
    assert data["status"] == "Job is waiting to run."
    assert data["counts"] == {
        "total": 3,
        "processed": 0,
        "succeeded": 0,
        "failed": 0,
        "unprocessed": 3,
    }
    assert data["results"] is None
    assert data["status_url"] == f"http://testserver/bulk-operations/{job.pk}/status/"
    assert api.get(f"/bulk-operations/{job.pk}/").json() == data


def test_list_shows_own_jobs_and_staff_sees_all(client_for, user, other_user, staff, submit):
    mine = submit(user)
    theirs = submit(other_user)

    assert [job["task_id"] for job in client_for(user).get("/bulk-operations/").json()] == [
        str(mine.pk)
    ]
    listed = {job["task_id"] for job in client_for(staff).get("/bulk-operations/").json()}
    assert listed == {str(mine.pk), str(theirs.pk)}
    assert client_for(user).get("/bulk-operations/?state=success").json() == []
    assert "result" not in client_for(user).get("/bulk-operations/").json()[0]


@pytest.mark.parametrize("name", ["detail", "status", "cancel", "results"])
def test_another_users_job_is_not_found(client_for, user, other_user, submit, name):
    job = submit(user)
    client = client_for(other_user)

    if name == "cancel":
        response = client.post(urls(job)[name])
    else:
        response = client.get(urls(job)[name])

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}
    assert client.delete(urls(job)["detail"]).status_code == 404
    job.refresh_from_db()
    assert (job.state, job.cancel_requested) == ("PENDING", False)


HOSTILE_PATHS = [
    "{job}/results/everything/",
    "not-a-uuid/status/",
    "abc.def/status/",
    "%00/",
    "%00{job}/status/",
    "{job}%00/status/",
    "{long}/",
    "{long}/results/failed/",
    "{job}/nothing-here/",
    "{job}/results/failed/extra/",
    "a/b/c/",
    "%2e%2e/status/",
    "{job}%2Fstatus/",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_what_names_no_job_is_a_json_404(api, user, client_for, other_user, submit, path):
    job = submit(other_user)
    url = "/bulk-operations/" + path.format(job=job.pk, long="f" * 5000)

    response = api.get(url)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"
    assert isinstance(response.json()["detail"], str)
    # Other verbs: not found either, or not allowed where the path is a known route.
    for response in (api.post(url), api.delete(url)):
        expected = {404: "not_found", 405: "method_not_allowed"}
        assert response.status_code in expected
        assert response.json()["code"] == expected[response.status_code]
    job.refresh_from_db()
    assert (job.state, job.cancel_requested) == ("PENDING", False)


@pytest.mark.parametrize("task_id", [uuid.uuid4(), "not-a-uuid"])
def test_unknown_job_is_not_found(api, task_id):
    response = api.get(f"/bulk-operations/{task_id}/status/")

    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "Not found."}


def test_staff_sees_any_job(client_for, user, staff, submit):
    job = submit(user)

    assert client_for(staff).get(urls(job)["status"]).status_code == 200


def test_anonymous_clients_see_nothing(client_for, user, submit):
    job = submit(user)
    client = client_for(None)

    for response in (
        client.get("/bulk-operations/"),
        client.get(urls(job)["status"]),
        client.post(urls(job)["cancel"]),
        client.get(f"/bulk-operations/{uuid.uuid4()}/"),
    ):
        assert response.status_code in (401, 403)
        assert response.json() == {
            "code": "not_authenticated",
            "detail": "Authentication credentials were not provided.",
        }
    job.refresh_from_db()
    assert (job.state, job.cancel_requested) == ("PENDING", False)


def test_cancel_a_waiting_job(api, user, submit):
    job = submit(user)

    response = api.post(urls(job)["cancel"])

    assert response.status_code == 200
    data = response.json()
    assert data["state"] == "CANCELLED"
    assert data["status"] == "Job was cancelled."
    assert data["counts"] == {
        "total": 3,
        "processed": 0,
        "succeeded": 0,
        "failed": 0,
        "unprocessed": 3,
    }
    assert data["result"]["unprocessed_count"] == 3
    assert data["results"]["unprocessed"]["count"] == 3
    assert "Retry-After" not in response
    # The unprocessed items come back as they were sent; the CSV can be sent again.
    lines = api.get(f"/bulk-operations/{job.pk}/results/unprocessed/?format=json")
    assert lines["Content-Type"] == "application/jsonl; charset=utf-8"
    assert [json.loads(line) for line in b"".join(lines.streaming_content).splitlines()] == [
        {"index": index, "data": item} for index, item in enumerate(ITEMS)
    ]
    table = api.get(f"/bulk-operations/{job.pk}/results/unprocessed/", HTTP_ACCEPT="text/csv")
    assert table["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(b"".join(table.streaming_content).decode())))
    assert rows == [["number", "contents"], ["1", "a"], ["2", "#N/A"], ["3", "c"]]
    assert BulkJob.objects.get().state == "CANCELLED"


@pytest.mark.parametrize("state", ["SUCCESS", "FAILURE", "CANCELLED"])
def test_cancel_a_finished_job_is_a_conflict(api, user, submit, state):
    job = submit(user)
    BulkJob.objects.filter(pk=job.pk).update(state=state, cancel_requested=False)

    response = api.post(urls(job)["cancel"])

    assert response.status_code == 409
    assert response.json() == {"code": "job_finished", "detail": "The job has already finished."}
    job.refresh_from_db()
    assert (job.state, job.cancel_requested) == (state, False)


def test_results_wait_for_the_end(api, user, submit):
    job = submit(user)

    response = api.get(urls(job)["results"])

    assert response.status_code == 409
    assert response.json()["code"] == "job_not_finished"
    unknown = api.get(f"/bulk-operations/{job.pk}/results/other/")
    assert unknown.status_code == 404
    assert unknown.json() == {
        "code": "unknown_result_kind",
        "detail": "There are no results of that kind; the kinds are successful, failed, unprocessed.",
    }
    response = api.get(f"{urls(job)['results']}?format=xml")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_methods_the_api_does_not_have_are_a_json_405(api, user, submit):
    job = submit(user)

    for response in (
        api.put(urls(job)["detail"], {}, format="json"),
        api.patch(urls(job)["status"], {}, format="json"),
        api.get(urls(job)["cancel"]),
        api.post("/bulk-operations/", {}, format="json"),
    ):
        assert response.status_code == 405
        assert response.json()["code"] == "method_not_allowed"
    job.refresh_from_db()
    assert (job.state, job.cancel_requested) == ("PENDING", False)


def test_cancel_a_waiting_job_whose_input_is_gone(api, user, submit):
    job = submit(user)
    get_storage().delete(job.input_name)

    response = api.post(urls(job)["cancel"])

    assert response.status_code == 200
    assert response.json()["state"] == "CANCELLED"
    assert response.json()["counts"]["unprocessed"] == 3
    job.refresh_from_db()
    assert (job.state, job.files) == ("CANCELLED", {})
    response = api.get(f"/bulk-operations/{job.pk}/results/unprocessed/")
    assert (response.status_code, response.json()["code"]) == (404, "result_missing")


def test_delete_a_running_job_is_a_conflict(api, user, submit):
    job = submit(user)

    response = api.delete(urls(job)["detail"])

    assert response.status_code == 409
    assert response.json()["code"] == "job_running"
    assert BulkJob.objects.filter(pk=job.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_delete_a_finished_job_and_its_files(api, user, submit):
    job = submit(user)
    api.post(urls(job)["cancel"])
    storage = get_storage()
    job.refresh_from_db()
    assert storage.exists(job.input_name)
    assert storage.exists(job.files["unprocessed"]["csv"])

    response = api.delete(urls(job)["detail"])

    assert response.status_code == 204
    assert not BulkJob.objects.filter(pk=job.pk).exists()
    assert not storage.exists(job.input_name)
    assert not storage.exists(job.files["unprocessed"]["csv"])
    assert str(job.pk) not in storage.listdir(job_path(""))[0]
