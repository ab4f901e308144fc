"""The /bulk/ endpoint hands large or async-preferring writes to a job."""

from __future__ import annotations

import csv
import io
import time

import pytest
from django.test import override_settings

from tests.factories import AccountFactory
from tests.models import Item

pytestmark = pytest.mark.urls("tests.urls")

BULK = "/v2/items/bulk/"


def wait_for(api, status_url, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(status_url).json()
        if body["state"] in ("SUCCESS", "FAILURE", "CANCELLED"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"job still {body['state']} after {timeout} s")


def payload(account, count, start=0):
    return [
        {"account": account.pk, "sku": f"J{n}", "ref": f"r{n}", "name": f"job {n}", "quantity": n}
        for n in range(start, start + count)
    ]


def test_prefer_respond_async_runs_a_job(runner, api, user):
    account = AccountFactory(owner=user)
    response = api.post(BULK, payload(account, 25), format="json", HTTP_PREFER="respond-async")
    assert response.status_code == 202, response.content
    assert response["Preference-Applied"] == "respond-async"
    assert response["Location"] == response.data["status_url"]
    assert response.data["total_items"] == 25
    body = wait_for(api, response.data["status_url"])
    assert body["state"] == "SUCCESS", body
    assert body["result"]["success_count"] == 25
    assert Item.objects.filter(account=account).count() == 25


def test_above_the_threshold_a_csv_upload_becomes_a_job(runner, api, user):
    account = AccountFactory(owner=user)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["account", "sku", "ref", "name"])
    for n in range(30):
        writer.writerow([account.pk, f"C{n}", f"r{n}", "" if n == 7 else f"csv {n}"])
    with override_settings(REST_FRAMEWORK_BULK={**_settings(), "ASYNC_THRESHOLD": 10}):
        response = api.post(BULK, data=out.getvalue(), content_type="text/csv", HTTP_PREFER="handling=lenient")
    assert response.status_code == 202, response.content
    assert response["Preference-Applied"] == "handling=lenient"
    body = wait_for(api, response.data["status_url"])
    assert body["state"] == "SUCCESS", body
    result = body["result"]
    assert (result["success_count"], result["error_count"]) == (29, 1)
    assert result["errors"][0]["index"] == 7
    assert Item.objects.filter(account=account).count() == 29


def test_a_strict_job_with_an_invalid_item_writes_nothing(runner, api, user):
    account = AccountFactory(owner=user)
    items = payload(account, 20)
    items[13]["quantity"] = "lots"
    response = api.post(BULK, items, format="json", HTTP_PREFER="respond-async")
    assert response.status_code == 202
    body = wait_for(api, response.data["status_url"])
    assert body["state"] == "FAILURE", body
    assert [error["index"] for error in body["result"]["errors"]] == [13]
    assert Item.objects.count() == 0


def test_another_users_job_is_404(runner, api, user, client_for, other_user):
    account = AccountFactory(owner=user)
    response = api.post(BULK, payload(account, 3), format="json", HTTP_PREFER="respond-async")
    status_url = response.data["status_url"]
    wait_for(api, status_url)
    assert client_for(other_user).get(status_url).status_code == 404


def _settings():
    from django.conf import settings

    return dict(getattr(settings, "REST_FRAMEWORK_BULK", {}))
