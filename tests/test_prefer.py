"""``Prefer`` (RFC 7240): parsing, ``Preference-Applied`` and ``Vary`` on list routes and ``/bulk/``."""

from __future__ import annotations

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rest_framework_bulk.bulk import BulkOperationsMixin
from rest_framework_bulk.prefer import parse_preferences, parse_wait

from .factories import AccountFactory, ItemFactory
from .models import Item
from .test_mixins import ITEMS, item_payload

BULK = "/v2/items/bulk/"

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", {}),
        ("respond-async", {"respond-async": ""}),
        ("Respond-Async, WAIT=5", {"respond-async": "", "wait": "5"}),
        ("handling=lenient; foo=bar, return=minimal", {"handling": "lenient", "return": "minimal"}),
        ('return="minimal"', {"return": "minimal"}),
        ('foo="a, b; c", handling=lenient', {"foo": "a, b; c", "handling": "lenient"}),
        ('foo="say \\"hi\\"", wait=2', {"foo": 'say "hi"', "wait": "2"}),
        ("handling=strict, handling=lenient", {"handling": "strict"}),
        ("handling = lenient", {"handling": "lenient"}),
        (",,, ;x, =y", {}),
    ],
)
def test_parse_preferences(header, expected):
    assert parse_preferences(header) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5), ("0", 0), ("", None), ("-1", None), ("1.5", None), ("٣", None), ("9" * 50, None)],
)
def test_parse_wait(value, expected):
    assert parse_wait({"wait": value}) == expected


def test_list_route_reports_lenient_and_minimal(api):
    account = AccountFactory()
    response = api.bulk(
        "post", ITEMS, [item_payload(account, 1)], HTTP_PREFER="handling=lenient, return=minimal"
    )
    assert response.status_code == 201
    assert response["Preference-Applied"] == "handling=lenient, return=minimal"
    assert "Prefer" in response["Vary"]


def test_list_route_reports_strict_and_representation(api):
    account = AccountFactory()
    response = api.bulk(
        "post",
        ITEMS,
        [item_payload(account, 1)],
        HTTP_PREFER="handling=strict, return=representation",
    )
    assert response.status_code == 201
    assert response["Preference-Applied"] == "handling=strict, return=representation"
    assert response.json()[0]["sku"] == "NEW-1"


def test_strict_rejection_reports_strict(api):
    account = AccountFactory()
    response = api.bulk(
        "post", ITEMS, [item_payload(account, 1, quantity="many")], HTTP_PREFER="handling=strict"
    )
    assert response.status_code == 400
    assert response["Preference-Applied"] == "handling=strict"


def test_representation_is_not_applied_to_a_summary(api):
    account = AccountFactory()
    response = api.bulk(
        "post",
        ITEMS,
        [item_payload(account, 1)],
        HTTP_PREFER="handling=lenient, return=representation",
    )
    assert response["Preference-Applied"] == "handling=lenient"


@override_settings(REST_FRAMEWORK_BULK={"ALLOW_LENIENT": False})
def test_lenient_is_not_applied_when_not_allowed(api):
    account = AccountFactory()
    response = api.bulk("post", ITEMS, [item_payload(account, 1)], HTTP_PREFER="handling=lenient")
    assert response.status_code == 201
    assert not response.has_header("Preference-Applied")
    assert "Prefer" in response["Vary"]


def test_unknown_preferences_are_not_applied(api):
    account = AccountFactory()
    response = api.bulk("post", ITEMS, [item_payload(account, 1)], HTTP_PREFER="wait=3, foo")
    assert response.status_code == 201
    assert not response.has_header("Preference-Applied")


def test_bulk_endpoint_reports_handling(api):
    items = ItemFactory.create_batch(2)
    response = api.bulk(
        "patch", BULK, [{"id": items[0].pk, "name": "x"}], HTTP_PREFER='handling="LENIENT"'
    )
    assert response.status_code == 200
    assert response["Preference-Applied"] == "handling=lenient"
    assert "Prefer" in response["Vary"]


def test_respond_async_is_not_applied_without_jobs(api, monkeypatch):
    monkeypatch.setattr(BulkOperationsMixin, "jobs_enabled", lambda self: False)
    account = AccountFactory()
    response = api.bulk(
        "post", BULK, [item_payload(account, 1)], HTTP_PREFER="respond-async, wait=5"
    )
    assert response.status_code == 201
    assert not response.has_header("Preference-Applied")
    assert Item.objects.count() == 1


def test_list_get_does_not_vary_on_prefer(api):
    response = api.get(ITEMS)
    assert response.status_code == 200
    assert "Prefer" not in response.get("Vary", "")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.one_of(
        st.text(
            alphabet=st.characters(max_codepoint=255, blacklist_categories=("Cs",)), max_size=80
        ),
        st.lists(
            st.sampled_from(
                [
                    "respond-async",
                    "wait=",
                    "wait=99999999999",
                    "handling=",
                    '"',
                    ";",
                    ",",
                    "=",
                    "return=minimal",
                    "handling=lenient",
                ]
            ),
            max_size=8,
        ).map("".join),
    )
)
def test_any_prefer_header_is_2xx_or_4xx(api, header):
    account = AccountFactory()
    for method, url, body in (
        ("post", ITEMS, [item_payload(account, 1, sku=f"H{Item.objects.count()}")]),
        ("post", BULK, [item_payload(account, 2, sku=f"B{Item.objects.count()}")]),
        ("patch", BULK, [{"id": 999999, "name": "x"}]),
        ("get", f"{BULK}?ids=1,2", None),
    ):
        response = api.bulk(method, url, body, HTTP_PREFER=header)
        assert 200 <= response.status_code < 500, (header, response.content)
