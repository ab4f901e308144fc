"""``job_finished`` and ``JOB_FINISHED_CALLBACK``."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.test import override_settings

from rest_framework_bulk.jobs.models import BulkJob
from rest_framework_bulk.jobs.signals import job_finished
from tests.factories import AccountFactory, ItemFactory
from tests.models import JobFinishedLog

from .support import wait_until
from .test_bulk_endpoint import BULK, _settings, payload, wait_for

pytestmark = pytest.mark.urls("tests.urls")

CALLS = []


def record_call(job):
    CALLS.append((job.pk, job.state))


def failing_callback(job):
    raise RuntimeError("the project's callback is broken")


def test_job_finished_is_sent_once_per_job(runner, api, user):
    account = AccountFactory(owner=user)
    good = api.post(BULK, payload(account, 15), format="json", HTTP_PREFER="respond-async")
    items = payload(account, 15, start=100)
    items[3]["quantity"] = "lots"
    bad = api.post(BULK, items, format="json", HTTP_PREFER="respond-async")
    for response, state in ((good, "SUCCESS"), (bad, "FAILURE")):
        assert wait_for(api, response.data["status_url"])["state"] == state
        logs = wait_until(
            lambda response=response: list(
                JobFinishedLog.objects.filter(job_id=response.data["task_id"]).values_list(
                    "state", flat=True
                )
            ),
            message="job_finished",
        )
        assert logs == [state]


def test_an_export_job_sends_job_finished(runner, api, user):
    account = AccountFactory(owner=user)
    items = ItemFactory.create_batch(3, account=account)
    response = api.get(
        f"/v2/items/bulk/?ids={','.join(str(item.pk) for item in items)}",
        HTTP_PREFER="respond-async",
    )
    assert response.status_code == 202, response.content
    assert wait_for(api, response.data["status_url"])["state"] == "SUCCESS"
    logs = wait_until(
        lambda: list(
            JobFinishedLog.objects.filter(job_id=response.data["task_id"]).values_list(
                "state", flat=True
            )
        ),
        message="job_finished",
    )
    assert logs == ["SUCCESS"]


def test_a_cancelled_job_sends_job_finished(transactional_db, api, user, job_settings):
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "JOB_WORKERS": 0}
    account = AccountFactory(owner=user)
    response = api.post(BULK, payload(account, 15), format="json", HTTP_PREFER="respond-async")
    assert (
        api.post(f"{response.data['status_url'].removesuffix('status/')}cancel/").status_code == 200
    )
    assert list(JobFinishedLog.objects.values_list("state", flat=True)) == ["CANCELLED"]


def test_a_failing_receiver_and_callback_do_not_change_the_job(runner, api, user):
    def broken(sender, job, **kwargs):
        raise RuntimeError("broken receiver")

    job_finished.connect(broken, sender=BulkJob)
    try:
        account = AccountFactory(owner=user)
        with override_settings(
            REST_FRAMEWORK_BULK={
                **_settings(),
                "JOB_FINISHED_CALLBACK": f"{__name__}.failing_callback",
            }
        ):
            response = api.post(
                BULK, payload(account, 12), format="json", HTTP_PREFER="respond-async"
            )
            assert wait_for(api, response.data["status_url"])["state"] == "SUCCESS"
    finally:
        job_finished.disconnect(broken, sender=BulkJob)


def test_a_dotted_path_callback_is_called(transactional_db, api, user, job_settings):
    CALLS.clear()
    job_settings.REST_FRAMEWORK_BULK = {
        **job_settings.REST_FRAMEWORK_BULK,
        "JOB_RUNNER": "rest_framework_bulk.jobs.runners.EmbeddedRunner",
        "JOB_FINISHED_CALLBACK": f"{__name__}.record_call",
    }
    account = AccountFactory(owner=user)
    response = api.post(BULK, payload(account, 12), format="json", HTTP_PREFER="respond-async")
    wait_for(api, response.data["status_url"])
    wait_until(lambda: CALLS, message="the callback")
    assert [str(pk) for pk, _state in CALLS] == [response.data["task_id"]]


class Receiver(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook/"
    server.shutdown()
    server.server_close()


def test_a_url_callback_receives_the_status_json(runner, api, user, webhook, job_settings):
    job_settings.REST_FRAMEWORK_BULK = {
        **job_settings.REST_FRAMEWORK_BULK,
        "JOB_FINISHED_CALLBACK": webhook,
    }
    if runner != "embedded":
        pytest.skip(
            "The worker process reads its settings at start-up; the URL is tested on the embedded runner."
        )
    account = AccountFactory(owner=user)
    response = api.post(BULK, payload(account, 12), format="json", HTTP_PREFER="respond-async")
    wait_for(api, response.data["status_url"])
    wait_until(lambda: Receiver.received, message="the webhook")
    content_type, body = Receiver.received[0]
    assert content_type == "application/json"
    assert body["task_id"] == response.data["task_id"]
    assert body["state"] == "SUCCESS"
    assert body["result"]["success_count"] == 12


def test_a_url_callback_that_is_down_is_logged(transactional_db, user, caplog):
    from rest_framework_bulk.jobs.signals import notify_callback

    job = BulkJob(owner=user, operation="create", input_name="x", batch_size=1, state="SUCCESS")
    with override_settings(
        REST_FRAMEWORK_BULK={**_settings(), "JOB_FINISHED_CALLBACK": "http://127.0.0.1:9/"}
    ):
        notify_callback(job)
    assert "JOB_FINISHED_CALLBACK failed" in caplog.text
