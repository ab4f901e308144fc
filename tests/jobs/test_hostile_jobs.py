"""Hostile input in job-sized /bulk/ requests, on a real runner.

The same promises as ``tests/test_hostile.py``, for requests that become
jobs: the submission answers 202 or a 4xx with a ``code`` (never a 5xx), a
lenient job writes its valid items and reports the others, a strict or dry
job with a bad item writes nothing.
"""

from __future__ import annotations

import json

import pytest

from tests.factories import AccountFactory, ItemFactory
from tests.models import Item

from .test_bulk_endpoint import wait_for

pytestmark = pytest.mark.urls("tests.urls")

BULK = "/v2/items/bulk/"
COUNT = 25  # more than two job batches (JOB_BATCH_SIZE is 10 in the job tests)


def payload(account, count=COUNT):
    return [
        {"account": account.pk, "sku": f"H{n}", "ref": f"r{n}", "name": f"job {n}"}
        for n in range(count)
    ]


def submit(api, method, items, *, query="", prefer="respond-async"):
    body = json.dumps(items, ensure_ascii=True, allow_nan=True)
    return api.generic(
        method, BULK + query, body, content_type="application/json", HTTP_PREFER=prefer
    )


def assert_client_error(response):
    assert 400 <= response.status_code < 500, response.content
    assert isinstance(response.json()["code"], str)


@pytest.mark.parametrize("bad", [2**70, -(2**70), 1.5, "\x00", "\ud800", [1], {"id": 1}, True])
def test_a_lenient_job_reports_a_bad_account_and_writes_the_others(runner, api, user, bad):
    account = AccountFactory(owner=user)
    items = payload(account)
    items[13]["account"] = bad
    response = submit(api, "post", items, prefer="respond-async, handling=lenient")
    if response.status_code != 202:
        assert_client_error(response)
        assert Item.objects.count() == 0
        return
    body = wait_for(api, response.data["status_url"])
    assert body["state"] == "SUCCESS", body
    assert (body["result"]["success_count"], body["result"]["error_count"]) == (COUNT - 1, 1), body[
        "result"
    ]
    assert [error["index"] for error in body["result"]["errors"]] == [13]
    assert Item.objects.filter(account=account).count() == COUNT - 1
    assert not Item.objects.filter(sku="H13").exists()


@pytest.mark.parametrize("where", ["sku", "name"])
def test_a_lone_surrogate_in_a_job_is_a_clean_answer(runner, api, user, where):
    account = AccountFactory(owner=user)
    items = payload(account)
    items[3][where] = "\ud800"
    response = submit(api, "post", items)
    if response.status_code != 202:
        assert_client_error(response)
        assert Item.objects.count() == 0
        return
    body = wait_for(api, response.data["status_url"])
    assert body["state"] == "FAILURE", body
    assert [error["index"] for error in body["result"]["errors"]] == [3]
    assert Item.objects.count() == 0


@pytest.mark.parametrize("bad", [2.9, 2**70, "2.9", True, None])
def test_a_strict_delete_job_with_a_bad_id_deletes_nothing(runner, api, user, bad):
    account = AccountFactory(owner=user)
    items = ItemFactory.create_batch(COUNT, account=account)
    ids = [item.pk for item in items]
    ids[17] = bad if bad != 2.9 else ids[1] + 0.9
    response = submit(api, "delete", ids)
    if response.status_code != 202:
        assert_client_error(response)
    else:
        body = wait_for(api, response.data["status_url"])
        assert body["state"] == "FAILURE", body
        assert [error["index"] for error in body["result"]["errors"]] == [17]
    assert Item.objects.count() == COUNT


def test_a_job_refuses_the_same_row_named_in_two_batches(runner, api, user):
    account = AccountFactory(owner=user)
    items = ItemFactory.create_batch(COUNT, account=account)
    patch = [{"id": item.pk, "name": "patched"} for item in items]
    patch[15] = {"id": items[2].pk, "name": "twice"}
    response = submit(api, "patch", patch)
    assert response.status_code == 202, response.content
    body = wait_for(api, response.data["status_url"])
    assert body["state"] == "FAILURE", body
    assert 15 in [error["index"] for error in body["result"]["errors"]]
    assert not Item.objects.filter(name__in=["patched", "twice"]).exists()


@pytest.mark.parametrize(
    "query", ["?dry_run=maybe", "?dry_run=2", "?dry_run=", "?dry_run=1&dry_run=0"]
)
def test_a_job_sized_request_with_a_bad_flag_is_refused(runner, api, user, query):
    account = AccountFactory(owner=user)
    response = submit(api, "post", payload(account), query=query)
    assert response.status_code == 400, response.content
    assert isinstance(response.json()["code"], str)
    assert Item.objects.count() == 0


def test_a_dry_run_job_writes_nothing(runner, api, user):
    account = AccountFactory(owner=user)
    items = payload(account)
    items[20]["account"] = 2**70
    response = submit(
        api, "post", items, query="?dry_run=1", prefer="respond-async, handling=lenient"
    )
    if response.status_code != 202:
        assert_client_error(response)
    else:
        body = wait_for(api, response.data["status_url"])
        assert body["state"] in ("SUCCESS", "FAILURE"), body
    assert Item.objects.count() == 0
