"""The /bulk/ endpoint hands large or async-preferring writes to a job."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
from django.test import override_settings

from rest_framework_bulk.jobs.models import BulkJob
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
        response = api.post(
            BULK, data=out.getvalue(), content_type="text/csv", HTTP_PREFER="handling=lenient"
        )
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


def test_a_lone_surrogate_in_a_job_sized_request_is_a_400(runner, api, user, job_media_root):
    account = AccountFactory(owner=user)
    items = payload(account, 25)
    items[3]["name"] = "bad \ud800 name"
    items[21]["sku"] = "\udfff"
    body = json.dumps(items)  # escapes the surrogates, as a client's JSON does
    before = stored_files(job_media_root)

    response = api.post(BULK, body, content_type="application/json", HTTP_PREFER="respond-async")
    small = api.post(BULK, json.dumps(items[3:4]), content_type="application/json")

    assert response.status_code == 400, response.content
    assert response.json() == {
        "code": "invalid",
        "detail": "2 of 25 items were rejected; nothing was written.",
        "errors": [
            {
                "index": 3,
                "code": "invalid",
                "detail": {"name": ["Surrogate characters are not allowed: U+D800."]},
                "codes": {"name": ["surrogate_characters_not_allowed"]},
            },
            {
                "index": 21,
                "code": "invalid",
                "detail": {"sku": ["Surrogate characters are not allowed: U+DFFF."]},
                "codes": {"sku": ["surrogate_characters_not_allowed"]},
            },
        ],
    }
    # The synchronous answer for the same item has the same shape.
    assert small.status_code == 400
    assert small.json()["errors"][0]["detail"] == response.json()["errors"][0]["detail"]
    assert not BulkJob.objects.exists()
    assert Item.objects.count() == 0
    assert stored_files(job_media_root) == before


def stored_files(root) -> set:
    return {str(path) for path in Path(root).rglob("*") if path.is_file()}


def test_a_huge_key_fails_only_its_item_in_a_lenient_job(runner, api, user):
    account = AccountFactory(owner=user)
    items = payload(account, 25)
    items[12]["account"] = 2**70

    response = api.post(BULK, items, format="json", HTTP_PREFER="respond-async, handling=lenient")

    assert response.status_code == 202, response.content
    body = wait_for(api, response.data["status_url"])
    assert body["state"] == "SUCCESS", body
    assert (body["result"]["success_count"], body["result"]["error_count"]) == (24, 1)
    assert [error["index"] for error in body["result"]["errors"]] == [12]
    assert Item.objects.filter(account=account).count() == 24
    assert not Item.objects.filter(sku="J12").exists()

    rows = list(Item.objects.filter(account=account).order_by("pk"))
    changes = [{"id": row.pk, "name": "renamed"} for row in rows]
    changes.insert(7, {"id": 2**70, "name": "nobody"})
    response = api.patch(
        BULK, changes, format="json", HTTP_PREFER="respond-async, handling=lenient"
    )

    assert response.status_code == 202, response.content
    body = wait_for(api, response.data["status_url"])
    assert body["state"] == "SUCCESS", body
    assert (body["result"]["success_count"], body["result"]["error_count"]) == (24, 1)
    assert [error["index"] for error in body["result"]["errors"]] == [7]
    assert set(Item.objects.values_list("name", flat=True)) == {"renamed"}
