"""``Prefer: wait=N`` on job-sized ``/bulk/`` requests, on both runners."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import override_settings

from tests.factories import AccountFactory
from tests.models import Item

from .test_bulk_endpoint import BULK, _settings, payload

pytestmark = pytest.mark.urls("tests.urls")


def test_a_job_that_ends_in_time_answers_as_a_synchronous_request(runner, api, user):
    account = AccountFactory(owner=user)
    response = api.post(
        BULK, payload(account, 25), format="json", HTTP_PREFER="respond-async, wait=8"
    )
    assert response.status_code == 201, response.content
    assert response["Preference-Applied"] == "wait=8"
    assert "Prefer" in response["Vary"]
    body = response.json()
    assert (body["total_items"], body["success_count"], body["error_count"]) == (25, 25, 0)
    assert sorted(body["created_ids"]) == sorted(Item.objects.values_list("pk", flat=True))
    assert [item["status"] for item in body["items"]] == ["created"] * 25
    sync = api.post(BULK, payload(account, 2, start=100), format="json")
    assert set(sync.json()) == set(body)


def test_a_lenient_job_with_failures_answers_207(runner, api, user):
    account = AccountFactory(owner=user)
    items = payload(account, 20)
    items[4]["quantity"] = "lots"
    with override_settings(REST_FRAMEWORK_BULK={**_settings(), "ASYNC_THRESHOLD": 10}):
        response = api.post(BULK, items, format="json", HTTP_PREFER="handling=lenient, wait=8")
    assert response.status_code == 207, response.content
    assert response["Preference-Applied"] == "handling=lenient, wait=8"
    body = response.json()
    assert [error["index"] for error in body["errors"]] == [4]
    assert body["errors"][0]["data"] == items[4]
    assert body["items"][4]["code"] == "invalid"
    assert Item.objects.count() == 19


def test_a_strict_job_with_an_invalid_item_answers_the_synchronous_400(runner, api, user):
    account = AccountFactory(owner=user)
    items = payload(account, 20)
    items[13]["quantity"] = "lots"
    response = api.post(BULK, items, format="json", HTTP_PREFER="respond-async, wait=8")
    sync = api.post(BULK, items[13:14], format="json")
    assert response.status_code == 400, response.content
    assert response["Preference-Applied"] == "wait=8"
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"] == "1 of 20 items was rejected; nothing was written."
    assert [error["index"] for error in body["errors"]] == [13]
    assert body["errors"][0]["detail"] == sync.json()["errors"][0]["detail"]
    assert Item.objects.count() == 0


def test_a_job_still_running_answers_202(runner, api, user):
    account = AccountFactory(owner=user)
    with override_settings(REST_FRAMEWORK_BULK={**_settings(), "MAX_WAIT": 0.01}):
        response = api.post(
            BULK, payload(account, 200), format="json", HTTP_PREFER="respond-async, wait=5"
        )
    assert response.status_code == 202, response.content
    assert response["Preference-Applied"] == "respond-async"


def test_wait_is_capped_by_max_wait(runner, api, user):
    account = AccountFactory(owner=user)
    with override_settings(REST_FRAMEWORK_BULK={**_settings(), "MAX_WAIT": 20}):
        response = api.post(
            BULK, payload(account, 12), format="json", HTTP_PREFER="respond-async, wait=3600"
        )
    assert response.status_code == 201, response.content
    assert response["Preference-Applied"] == "wait=20"


def test_inside_a_transaction_the_request_does_not_wait(runner, api, user):
    account = AccountFactory(owner=user)
    with transaction.atomic():
        response = api.post(
            BULK, payload(account, 12), format="json", HTTP_PREFER="respond-async, wait=8"
        )
    assert response.status_code == 202, response.content
    assert response["Preference-Applied"] == "respond-async"
