"""A job in the browsable API: its answer and its status page show its progress and results."""

from __future__ import annotations

import json
import re

import pytest

from rest_framework_bulk.browsable import BulkBrowsableAPIRenderer
from rest_framework_bulk.jobs.models import BulkJob

from .test_execution import finished

pytestmark = [pytest.mark.urls("tests.jobs.urls"), pytest.mark.django_db(transaction=True)]

HTML = {"HTTP_ACCEPT": "text/html"}
ITEMS = [{"number": 1, "contents": "a"}, {"number": 2, "contents": "bad"}]


def test_a_job_answer_shows_the_job_until_it_ends(runner, api):
    response = api.post(
        "/jobs/simple/", ITEMS, format="json", HTTP_PREFER="handling=lenient", **HTML
    )

    assert response.status_code == 202
    assert type(response.accepted_renderer) is BulkBrowsableAPIRenderer
    job = response.context["bulk_job"]
    task_id = job["task_id"]
    assert job["status_url"] == f"http://testserver/bulk-operations/{task_id}/status/"
    assert job["total"] == 2
    assert job["finished"] is False
    html = response.content.decode()
    assert f'data-status-url="{job["status_url"]}"' in html
    assert 'data-finished="false"' in html


def test_the_status_page_of_a_finished_job_links_its_result_files(runner, api):
    response = api.post("/jobs/simple/", ITEMS, format="json", HTTP_PREFER="handling=lenient")
    finished(BulkJob.objects.get(pk=response.json()["task_id"]))

    page = api.get(f"/bulk-operations/{response.json()['task_id']}/status/", **HTML)

    assert page.status_code == 200
    job = page.context["bulk_job"]
    assert job["state"] == "SUCCESS"
    assert job["finished"] is True
    assert (job["processed"], job["total"]) == (2, 2)
    assert [result["kind"] for result in job["results"]] == ["successful", "failed", "unprocessed"]
    html = page.content.decode()
    assert 'data-finished="true"' in html
    failed = next(result for result in job["results"] if result["kind"] == "failed")
    assert failed["count"] == 1
    for url in (failed["json_url"], failed["csv_url"]):
        assert url in html
    lines = fetch(api, failed["json_url"]).splitlines()
    assert [(json.loads(line)["index"], json.loads(line)["code"]) for line in lines] == [
        (1, "invalid")
    ]
    assert fetch(api, failed["csv_url"]).splitlines()[1].endswith(",2,bad")


def fetch(api, url: str) -> str:
    path = re.sub(r"^http://testserver", "", url)
    response = api.get(path)
    assert response.status_code == 200, path
    return b"".join(response.streaming_content).decode()


def test_the_job_list_page_is_no_job(api):
    response = api.get("/bulk-operations/", **HTML)
    assert response.status_code == 200
    assert response.context["bulk_job"] is None
    assert 'id="bulk-job"' not in response.content.decode()
