"""A job-sized bulk write retried with its ``Idempotency-Key`` answers the same job."""

from __future__ import annotations

import pytest

from rest_framework_bulk.jobs.models import BulkJob
from tests.factories import AccountFactory
from tests.models import Item

from .test_bulk_endpoint import BULK, payload, wait_for

pytestmark = pytest.mark.urls("tests.urls")

KEY = {"HTTP_IDEMPOTENCY_KEY": "job-1"}


@pytest.mark.parametrize("prefer", ["respond-async", None])
def test_retry_answers_the_same_job(runner, api, user, job_settings, prefer):
    job_settings.REST_FRAMEWORK_BULK = {**job_settings.REST_FRAMEWORK_BULK, "ASYNC_THRESHOLD": 20}
    account = AccountFactory(owner=user)
    headers = {"HTTP_PREFER": prefer} if prefer else {}
    first = api.post(BULK, payload(account, 25), format="json", **KEY, **headers)
    assert first.status_code == 202, first.content
    second = api.post(BULK, payload(account, 25), format="json", **KEY, **headers)

    assert second.status_code == 202
    assert second.json()["task_id"] == first.json()["task_id"]
    assert second["Location"] == first["Location"]
    assert second["Idempotent-Replayed"] == "true"
    if prefer:
        assert second["Preference-Applied"] == "respond-async"
    assert BulkJob.objects.count() == 1
    assert wait_for(api, first.json()["status_url"])["state"] == "SUCCESS"
    assert Item.objects.filter(account=account).count() == 25

    other = api.post(BULK, payload(account, 26), format="json", **KEY, **headers)
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_mismatch"
    assert BulkJob.objects.count() == 1
