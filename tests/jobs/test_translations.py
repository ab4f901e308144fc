"""A job's messages: in the submitting request's language, with plural forms."""

from __future__ import annotations

import pytest
from django.utils import translation

from rest_framework_bulk.jobs.models import BulkJob

from .support import wait_until

pytestmark = [pytest.mark.urls("tests.jobs.urls"), pytest.mark.django_db(transaction=True)]


@pytest.fixture
def locale_middleware(settings):
    """Django's LocaleMiddleware, which picks the language from ``Accept-Language``."""
    settings.MIDDLEWARE = [
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.locale.LocaleMiddleware",
        *settings.MIDDLEWARE[1:],
    ]
    yield
    # The middleware leaves the request's language active in the thread.
    translation.deactivate()


def finished(task_id: str) -> BulkJob:
    wait_until(
        lambda: BulkJob.objects.filter(pk=task_id, state__in=BulkJob.FINISHED_STATES).exists(),
        message=f"job {task_id} to finish",
    )
    return BulkJob.objects.get(pk=task_id)


def test_a_job_submitted_in_german_reports_in_german(runner, api, locale_middleware):
    items = [{"number": n, "contents": "bad" if n == 1 else f"c{n}"} for n in range(3)]

    response = api.post(
        "/jobs/simple/",
        items,
        format="json",
        HTTP_ACCEPT_LANGUAGE="de",
        HTTP_PREFER="handling=lenient",
    )

    assert response.status_code == 202
    assert response.data["message"] == "Sammelauftrag (erstellen) für 3 Elemente angenommen."
    job = finished(response.data["task_id"])
    # Written by the worker, in the language the job was submitted in.
    assert job.message == "2 von 3 Elementen erfolgreich, 1 fehlgeschlagen."
    status = api.get(f"/bulk-operations/{job.pk}/status/", HTTP_ACCEPT_LANGUAGE="de")
    assert status.json()["status"] == "Auftrag mit 1 Fehler abgeschlossen."


def test_a_job_of_one_item_says_item(runner, api):
    response = api.post("/jobs/simple/", [{"number": 1, "contents": "c1"}], format="json")

    assert response.status_code == 202
    assert response.data["message"] == "Bulk create job accepted for 1 item."
    job = finished(response.data["task_id"])
    assert job.message == "1 of 1 item succeeded, 0 failed."
