"""A bulk GET on /bulk/ with ``Prefer: respond-async`` becomes an export job."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import override_settings

from rest_framework_bulk.jobs.models import BulkJob
from tests.factories import AccountFactory, ItemFactory

from .test_bulk_endpoint import _settings, wait_for

pytestmark = pytest.mark.urls("tests.urls")

BULK = "/v2/items/bulk/"


def download(api, job, kind, fmt):
    response = api.get(f"/bulk-operations/{job['task_id']}/results/{kind}/?format={fmt}")
    assert response.status_code == 200
    content = b"".join(response.streaming_content).decode()
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(content)))
    return [json.loads(line) for line in content.splitlines() if line.strip()]


def test_ids_are_exported_in_the_order_asked(runner, api, user, other_user):
    account = AccountFactory(owner=user)
    mine = [ItemFactory(account=account, quantity=n) for n in range(12)]
    theirs = ItemFactory(account=AccountFactory(owner=other_user))
    asked = [*reversed(mine[:6]), theirs, 999999, *mine[6:]]
    response = api.get(
        f"{BULK}?ids={','.join(str(getattr(obj, 'pk', obj)) for obj in asked)}",
        HTTP_PREFER="respond-async",
    )
    assert response.status_code == 202, response.content
    assert response["Location"] == response.data["status_url"]
    assert response.data["total_items"] == 14
    body = wait_for(api, response.data["status_url"])
    assert body["state"] == "SUCCESS", body
    result = body["result"]
    assert (result["total_items"], result["success_count"], result["error_count"]) == (14, 12, 2)
    assert result["not_found"] == [theirs.pk, 999999]
    expected = [obj.pk for obj in asked if obj not in (theirs, 999999)]
    rows = download(api, response.data, "successful", "json")
    assert [row["data"]["id"] for row in rows] == expected
    assert rows[0]["data"]["name"] == mine[5].name
    rows = download(api, response.data, "successful", "csv")
    assert [int(row["id"]) for row in rows] == expected
    assert [row["name"] for row in rows[:2]] == [mine[5].name, mine[4].name]
    missing = download(api, response.data, "failed", "json")
    assert [(row["index"], row["code"]) for row in missing] == [(6, "not_found"), (7, "not_found")]


def test_prefer_respond_async_exports_a_few_ids(runner, api, user):
    account = AccountFactory(owner=user)
    first, second = ItemFactory(account=account), ItemFactory(account=account)
    response = api.get(f"{BULK}?ids={second.pk},{first.pk}", HTTP_PREFER="respond-async")
    assert response.status_code == 202, response.content
    assert response["Preference-Applied"] == "respond-async"
    body = wait_for(api, response.data["status_url"])
    assert body["state"] == "SUCCESS", body
    rows = download(api, response.data, "successful", "csv")
    assert [int(row["id"]) for row in rows] == [second.pk, first.pk]


def test_filtered_objects_are_exported(runner, api, user, other_user):
    account = AccountFactory(owner=user)
    big = [ItemFactory(account=account, quantity=100 + n) for n in range(8)]
    small = ItemFactory(account=account, quantity=1)
    locked = ItemFactory(account=account, quantity=500, name="locked item")
    ItemFactory(account=AccountFactory(owner=other_user), quantity=100)
    response = api.get(f"{BULK}?quantity__gte=50", HTTP_PREFER="respond-async")
    assert response.status_code == 202, response.content
    assert response.data["total_items"] is None
    body = wait_for(api, response.data["status_url"])
    assert body["state"] == "SUCCESS", body
    # The object permission refuses the locked item: reported, not exported.
    assert body["result"]["success_count"] == 8
    assert body["result"]["not_found"] == [locked.pk]
    rows = download(api, response.data, "successful", "json")
    assert [row["data"]["id"] for row in rows] == [obj.pk for obj in big]

    response = api.generic(
        "GET",
        BULK,
        json.dumps({"filters": {"quantity": {"lte": 104}}}),
        content_type="application/json",
        HTTP_PREFER="respond-async",
    )
    assert response.status_code == 202, response.content
    body = wait_for(api, response.data["status_url"])
    assert body["state"] == "SUCCESS", body
    rows = download(api, response.data, "successful", "csv")
    assert [int(row["id"]) for row in rows] == sorted([obj.pk for obj in (*big[:5], small)])


def test_a_filterset_filter_exports_what_the_list_route_lists(runner, api, user, other_user):
    # The worker rebuilds the view and filters with its FilterSet again.
    account = AccountFactory(owner=user, name="Kitchen")
    big = [ItemFactory(account=account, quantity=100 + n) for n in range(6)]
    ItemFactory(account=account, quantity=1)
    ItemFactory(account=AccountFactory(owner=other_user), quantity=100)
    query = "quantity__gte=50&account_name=KITCHEN"
    listed = api.get(f"/v2/filterset-items/?{query}").json()
    assert [item["id"] for item in listed] == [obj.pk for obj in big]
    response = api.get(f"/v2/filterset-items/bulk/?{query}", HTTP_PREFER="respond-async")
    assert response.status_code == 202, response.content
    body = wait_for(api, response.data["status_url"])
    assert body["state"] == "SUCCESS", body
    rows = download(api, response.data, "successful", "json")
    assert [row["data"]["id"] for row in rows] == [obj.pk for obj in big]

    response = api.get(
        "/v2/filterset-items/bulk/?account__owner__username=x", HTTP_PREFER="respond-async"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "filter_not_allowed"


def test_without_the_preference_a_get_answers_at_once(runner, api, user):
    account = AccountFactory(owner=user)
    items = [ItemFactory(account=account) for _ in range(8)]
    with override_settings(REST_FRAMEWORK_BULK={**_settings(), "RETRIEVE_ASYNC_THRESHOLD": 5}):
        response = api.get(f"{BULK}?ids={','.join(str(obj.pk) for obj in items)}")
        assert response.status_code == 200
        assert response.json()["count"] == 8
        assert api.get(BULK).status_code == 200
    assert not BulkJob.objects.exists()


def test_an_anonymous_export_is_refused(runner, client_for, user):
    account = AccountFactory(owner=user)
    items = [ItemFactory(account=account) for _ in range(6)]
    response = client_for(None).get(
        f"{BULK}?ids={','.join(str(obj.pk) for obj in items)}", HTTP_PREFER="respond-async"
    )
    assert response.status_code in (401, 403)
    assert response.json()["code"] == "not_authenticated"
    assert not BulkJob.objects.exists()
