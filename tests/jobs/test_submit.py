from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIRequestFactory

from rest_framework_bulk.jobs.files import get_storage
from rest_framework_bulk.jobs.models import BulkJob
from rest_framework_bulk.jobs.runners import BaseRunner
from rest_framework_bulk.jobs.submit import JobNotAuthenticated, submit_job

from .views import SimpleJobView

pytestmark = [pytest.mark.urls("tests.jobs.urls"), pytest.mark.django_db]


class RecordingRunner(BaseRunner):
    enqueued: list = []

    def enqueue(self, job_id):
        RecordingRunner.enqueued.append(job_id)


@pytest.fixture(autouse=True)
def recording_runner(job_settings):
    RecordingRunner.enqueued = []
    job_settings.REST_FRAMEWORK_BULK = {
        **job_settings.REST_FRAMEWORK_BULK,
        "JOB_RUNNER": "tests.jobs.test_submit.RecordingRunner",
    }


def test_accepted_response(api, user):
    items = [{"number": n, "contents": f"c{n}"} for n in range(3)]

    response = api.post("/jobs/simple/", items, format="json")

    assert response.status_code == 202
    job = BulkJob.objects.get()
    status_url = f"http://testserver/bulk-operations/{job.pk}/status/"
    assert response.data == {
        "message": "Bulk create job accepted for 3 items.",
        "task_id": str(job.pk),
        "total_items": 3,
        "status_url": status_url,
    }
    assert response["Location"] == status_url
    assert job.owner == user
    assert (job.operation, job.handling, job.state, job.total) == ("create", "strict", "PENDING", 3)
    assert job.view_class == "tests.jobs.views.SimpleJobView"
    assert job.request_meta["method"] == "POST"
    assert job.batch_size == 10
    with get_storage().open(job.input_name) as handle:
        assert [json.loads(line) for line in handle] == items


def test_accepted_message_is_singular_for_one_item(api):
    response = api.post("/jobs/simple/", [{"number": 1, "contents": "c1"}], format="json")

    assert response.status_code == 202
    assert response.data["message"] == "Bulk create job accepted for 1 item."


def test_enqueued_only_on_commit(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post("/jobs/simple/", [{"number": 1, "contents": "a"}], format="json")
        assert RecordingRunner.enqueued == []
    assert len(callbacks) == 1
    assert RecordingRunner.enqueued == [BulkJob.objects.get(pk=response.data["task_id"]).pk]


def test_options_from_the_request(api):
    response = api.patch(
        "/jobs/simple/?dry_run=1",
        [{"id": 1, "contents": "a"}],
        format="json",
        HTTP_PREFER="handling=lenient",
    )

    assert response.status_code == 202
    job = BulkJob.objects.get()
    assert (job.operation, job.handling, job.dry_run) == ("partial_update", "lenient", True)
    assert job.request_meta["query_string"] == "dry_run=1"


def test_viewset_is_described_for_the_worker(api):
    response = api.delete("/api/simple-jobs/", [1, 2], format="json")

    assert response.status_code == 202
    job = BulkJob.objects.get()
    assert job.view_class == "tests.jobs.views.SimpleJobViewSet"
    assert job.view_actions["delete"] == "bulk_destroy"
    assert job.view_action == "bulk_destroy"
    assert job.view_initkwargs["basename"] == "simple-job"
    assert job.operation == "destroy"


def test_csv_file_is_stored_as_uploaded(api):
    content = b'number,contents\n1,a\n2,"b, c"\n3,#N/A\n'
    upload = SimpleUploadedFile("items.csv", content, content_type="text/csv")

    response = api.post("/jobs/simple/", {"file": upload}, format="multipart")

    assert response.status_code == 202, response.data
    job = BulkJob.objects.get()
    assert (job.input_format, job.total) == ("csv", 3)
    with get_storage().open(job.input_name) as handle:
        assert handle.read() == content


def test_malformed_csv_is_refused_before_any_job(api):
    upload = SimpleUploadedFile("items.csv", b"number,number\n1,2\n", content_type="text/csv")

    response = api.post("/jobs/simple/", {"file": upload}, format="multipart")

    assert response.status_code == 400
    assert response.data["detail"].code == "csv_header"
    assert not BulkJob.objects.exists()
    assert RecordingRunner.enqueued == []


def test_anonymous_users_cannot_submit():
    request = APIRequestFactory().post("/jobs/simple/", [{"number": 1}], format="json")
    view = SimpleJobView()
    view.setup(request)
    view.request = view.initialize_request(request)

    with pytest.raises(JobNotAuthenticated) as raised:
        submit_job(
            request=view.request, view=view, operation="create", items_or_file=[{"number": 1}]
        )

    assert raised.value.detail["code"] == "not_authenticated"
    assert not BulkJob.objects.exists()


def test_anonymous_request_gets_401_or_403(client_for):
    response = client_for(None).post(
        "/jobs/simple/", [{"number": 1, "contents": "a"}], format="json"
    )

    assert response.status_code in (401, 403)
    assert not BulkJob.objects.exists()
