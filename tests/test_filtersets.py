"""/bulk/ on a view with a django-filter FilterSet: the list route's filters, the same rows."""

from __future__ import annotations

import json
import subprocess
import sys
from urllib.parse import urlencode

import pytest
from django.db import DatabaseError, transaction
from django.http import QueryDict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from rest_framework_bulk import filtersets

from .factories import AccountFactory, ItemFactory, UserFactory
from .models import Item
from .views import FilterSetItemViewSet, ItemFilterSet

pytestmark = pytest.mark.django_db

LIST = "/v2/filterset-items/"
BULK = "/v2/filterset-items/bulk/"


@pytest.fixture
def rows():
    kitchen, garden = AccountFactory(name="Kitchen"), AccountFactory(name="Garden")
    return {
        "kitchen": kitchen,
        "garden": garden,
        "items": [
            ItemFactory(account=kitchen, name="Blue mug", quantity=5, price="3.00"),
            ItemFactory(account=kitchen, name="Red mug", quantity=60, price="12.50"),
            ItemFactory(account=kitchen, name="Kettle", quantity=100, price="40.00"),
            ItemFactory(account=garden, name="Hose", quantity=60, price="25.00"),
            ItemFactory(account=garden, name="Rake", quantity=1, price="9.99"),
        ],
    }


def pks(queryset=None):
    return sorted((queryset or Item.objects).values_list("pk", flat=True))


def listed(api, query):
    response = api.get(f"{LIST}?{query}")
    assert response.status_code == 200, response.content
    return sorted(item["id"] for item in response.json())


QUERIES = [
    "account={kitchen}",
    "account__in={kitchen},{garden}&quantity__gte=50",
    "quantity__lte=10",
    "quantity=60",
    "name__icontains=MUG",
    "price_min=10&price_max=30",
    "price_max=10",
    "account__name=Garden",
    "account_name=kitchen",
    "account={kitchen}&price_min=5&name__icontains=mug",
]


@pytest.mark.parametrize("template", QUERIES)
def test_a_filter_of_the_list_route_selects_the_same_rows_on_bulk(api, rows, template):
    query = template.format(kitchen=rows["kitchen"].pk, garden=rows["garden"].pk)
    expected = listed(api, query)
    assert expected and expected != pks()

    response = api.get(f"{BULK}?{query}")
    assert response.status_code == 200, response.content
    assert sorted(item["id"] for item in response.json()["results"]) == expected

    before = pks()
    response = api.delete(f"{BULK}?{query}")
    assert response.status_code == 200, response.content
    assert sorted(response.json()["deleted_ids"]) == expected
    assert pks() == sorted(set(before) - set(expected))


def test_filters_and_ids_combine(api, rows):
    blue, red, *_ = rows["items"]
    body = api.get(f"{BULK}?ids={blue.pk},{red.pk}&quantity__gte=50").json()
    assert [item["id"] for item in body["results"]] == [red.pk]
    assert body["not_found"] == [blue.pk]


def test_filtered_writes_reach_only_the_filtered_rows(api, rows):
    blue, red, *_, rake = rows["items"]
    response = api.bulk(
        "patch",
        f"{BULK}?account={rows['kitchen'].pk}",
        [{"id": blue.pk, "name": "Green mug"}, {"id": rake.pk, "name": "Shovel"}],
        HTTP_PREFER="handling=lenient",
    )
    assert response.status_code == 207, response.content
    statuses = [item["status"] for item in response.json()["items"]]
    assert statuses == ["updated", "not_found"]
    blue.refresh_from_db()
    rake.refresh_from_db()
    assert (blue.name, rake.name) == ("Green mug", "Rake")


def test_an_upsert_with_a_filter_does_not_update_rows_outside_it(api, rows):
    rake = rows["items"][-1]
    response = api.bulk(
        "post",
        f"{BULK}?upsert=sku&account={rows['kitchen'].pk}",
        [{"sku": rake.sku, "name": "Shovel"}],
    )
    # Outside the filter the key is not found: a create, which the unique sku refuses.
    assert response.status_code == 400, response.content
    rake.refresh_from_db()
    assert rake.name == "Rake"


@pytest.mark.parametrize(
    "query",
    [
        "account__owner__username=alice",
        "account__owner__password__startswith=pbkdf2",
        "account__owner=1",
        "ref=ref-1",
        "quantity__gt=1",
        "price=3.00",
        "acount=1",
        "account__name__startswith=K",
    ],
)
def test_a_parameter_the_filterset_does_not_read_is_refused(api, rows, query):
    UserFactory(username="alice")
    field = query.split("=")[0]
    for method in ("get", "delete"):
        response = getattr(api, method)(f"{BULK}?{query}")
        assert response.status_code == 400, response.content
        body = response.json()
        assert body["code"] == "filter_not_allowed"
        assert body["codes"] == {field: ["filter_not_allowed"]}
        assert body["fields"][field] == [f'Filtering on "{field}" is not allowed.']
    assert len(pks()) == 5


def test_a_declared_relation_is_followed_and_no_further(api, rows):
    owner = UserFactory(username="alice")
    rows["garden"].owner = owner
    rows["garden"].save()
    response = api.get(f"{BULK}?account__name=Garden&account__owner__username=alice")
    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["account__owner__username"]
    response = api.delete(f"{BULK}?account__name=Garden")
    assert response.status_code == 200, response.content
    assert Item.objects.filter(account=rows["garden"]).count() == 0
    assert Item.objects.count() == 3


@pytest.mark.parametrize(
    "query",
    [
        "account=abc",
        "account=999999",
        "account__in=1,abc",
        "quantity__gte=many",
        "quantity__lte=NaN",
        "price_min=cheap",
    ],
)
def test_an_invalid_value_is_a_400_with_a_code_and_deletes_nothing(api, rows, query):
    field = query.split("=")[0].removesuffix("_min")
    listed_errors = api.get(f"{LIST}?{query}")
    assert listed_errors.status_code == 400
    for method in ("get", "delete"):
        response = getattr(api, method)(f"{BULK}?{query}")
        assert response.status_code == 400, response.content
        body = response.json()
        assert body["code"] == "invalid_filter_value"
        # django-filter's messages, as the list route words them.
        assert body["fields"] == listed_errors.json()
        assert body["codes"] == {field: ["invalid_filter_value"] * len(body["fields"][field])}
    assert len(pks()) == 5


@pytest.mark.parametrize(
    "query",
    [
        f"account={2**63}",
        f"account__in=1,{2**70}",
        f"quantity={-(2**63) - 1}",
        "quantity__gte=1e30",
        "quantity__lte=-1e99999",
    ],
)
def test_an_integer_out_of_the_columns_range_is_an_invalid_value(api, rows, query):
    field = query.split("=")[0]
    for method in ("get", "delete"):
        response = getattr(api, method)(f"{BULK}?{query}")
        assert response.status_code == 400, response.content
        assert response.json()["codes"] == {field: ["invalid_filter_value"]}
        assert response.json()["fields"][field] == [f'Enter a valid value for "{field}".']
    assert len(pks()) == 5


def test_reserved_parameters_are_not_filters(api, rows):
    kitchen = rows["kitchen"].pk
    response = api.get(f"{BULK}?account={kitchen}&format=json")
    assert response.status_code == 200
    assert response.json()["count"] == 3
    response = api.delete(f"{BULK}?account={kitchen}&dry_run=1")
    assert response.status_code == 200, response.content
    assert response.json()["dry_run"] is True
    assert len(pks()) == 5


def test_a_delete_without_a_filter_is_refused(api, rows):
    for query in ("", "?format=json", "?account=", "?price_min="):
        response = api.delete(f"{BULK}{query}")
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "unfiltered_delete"
    assert len(pks()) == 5


def test_filters_in_the_body_are_refused(api, rows):
    response = api.generic(
        "GET",
        BULK,
        json.dumps({"filters": {"account": rows["kitchen"].pk}}),
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "filter_not_allowed"
    assert list(body["fields"]) == ["filters"]


def test_the_filterset_scopes_within_get_queryset(api, rows):
    alice = UserFactory()
    mine = AccountFactory(owner=alice, name="Mine")
    own = ItemFactory(account=mine, quantity=60)
    api.force_authenticate(alice)
    response = api.delete(f"{BULK}?quantity=60")
    assert response.status_code == 200, response.content
    assert response.json()["deleted_ids"] == [own.pk]
    assert len(pks()) == 5
    # Another user's account is a valid choice (the FilterSet's own queryset
    # decides, as on the list route), but its rows are outside her scope.
    response = api.delete(f"{BULK}?account={rows['kitchen'].pk}")
    assert response.status_code == 200, response.content
    assert response.json()["deleted_ids"] == []
    assert len(pks()) == 5


def test_with_bulk_filter_fields_too_they_decide_and_the_filterset_still_filters(api, rows):
    blue, red, *_ = rows["items"]
    url = "/v2/filterset-fields-items/bulk/"
    kitchen = rows["kitchen"].pk
    # `sku` is the FilterSet's only: refused, as before django-filter was read.
    response = api.delete(f"{url}?sku={blue.sku}")
    assert response.status_code == 400
    assert response.json()["codes"] == {"sku": ["filter_not_allowed"]}
    # `name` is bulk_filter_fields' only; `account` is in both.
    response = api.get(f"{url}?name={blue.name}&account={kitchen}")
    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()["results"]] == [blue.pk]
    # The FilterSet's errors come in the bulk error body.
    response = api.delete(f"{url}?account=abc")
    assert response.status_code == 400
    assert response.json()["codes"] == {"account": ["invalid_filter_value"]}
    # Body filters go through bulk_filter_fields, as on any view without a FilterSet.
    response = api.generic(
        "GET", url, json.dumps({"filters": {"name": red.name}}), content_type="application/json"
    )
    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()["results"]] == [red.pk]
    assert len(pks()) == 5


def test_without_a_filterset_the_view_keeps_bulk_filter_fields(api, rows):
    # The same model on a view without django-filter: its allow-list still rules.
    assert filtersets.get_filterset_backend(FilterSetItemViewSet()) is not None
    response = api.get(f"/v2/items/bulk/?sku={rows['items'][0].sku}")
    assert response.status_code == 400
    assert response.json()["code"] == "filter_not_allowed"
    response = api.get(f"/v2/items/bulk/?quantity__gte=50&account={rows['kitchen'].pk}")
    assert response.status_code == 200
    assert response.json()["count"] == 2


def test_the_list_route_is_unchanged(api, rows):
    # django-filter ignores what it does not read there; only /bulk/ refuses it.
    assert listed(api, "acount=1") == pks()
    response = api.get(f"{LIST}?account=abc")
    assert response.status_code == 400
    assert "code" not in response.json()


@pytest.mark.parametrize("count", [3, 30])
def test_a_filtered_delete_takes_the_same_queries_however_many_rows_match(
    api, count, django_assert_num_queries
):
    account = AccountFactory()
    ItemFactory.create_batch(count, account=account, quantity=60)
    ItemFactory(account=account, quantity=1)
    ItemFactory(quantity=60)
    # The account choice, validated once (1); the primary keys to delete (1);
    # the tags through table and the items (2); the request's savepoint and
    # the delete's (4). As many as with `bulk_filter_fields`, plus the choice.
    with django_assert_num_queries(8) as queries:
        response = api.delete(f"{BULK}?account={account.pk}&quantity__gte=50")
    assert response.status_code == 200, response.content
    assert sum("tests_account" in query["sql"] for query in queries.captured_queries) == 1
    assert len(response.json()["deleted_ids"]) == count
    assert Item.objects.count() == 2


# Any query string: never a 500, never a row outside the filter's result --------

_NAMES = sorted(set(ItemFilterSet.base_filters) - {"price"}) + ["price_min", "price_max"]
_JUNK = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_OTHER_KEYS = st.one_of(
    st.sampled_from(
        [
            "account__owner__username",
            "account__owner__password__startswith",
            "account__owner",
            "tags__name",
            "price",
            "ids",
            "format",
            "dry_run",
            "upsert",
            "delimiter",
            "page",
            "ordering",
            "search",
        ]
    ),
    _JUNK,
)
_VALUES = st.one_of(
    st.sampled_from(["1", "2", "60", "-1", "0", "1.5", "1e400", "nan", "", "Kitchen", "mug"]),
    st.sampled_from(["json", "csv", "true", "1,2", "1,,2", "x\x00y", str(2**70), "9" * 60]),
    st.integers(-(2**80), 2**80).map(str),
    _JUNK,
)


def _params(accounts):
    """Mostly the FilterSet's own parameters with plausible values, some junk."""
    plausible = st.one_of(
        st.sampled_from([str(account.pk) for account in accounts]),
        st.sampled_from([",".join(str(account.pk) for account in accounts), "1", "60", "2"]),
        st.sampled_from([account.name for account in accounts] + ["mug", "MUG", "10", "5.5"]),
    )
    own = st.tuples(st.sampled_from(_NAMES), st.one_of(plausible, plausible, _VALUES))
    other = st.tuples(_OTHER_KEYS, _VALUES)
    return st.tuples(
        st.lists(own, max_size=3),
        st.one_of(st.just([]), st.just([]), st.lists(other, max_size=2)),
    ).flatmap(lambda lists: st.permutations(lists[0] + lists[1]))


def _expected(params: list[tuple[str, str]]) -> set[int] | None:
    """The rows the FilterSet selects from these parameters; None if it refuses them."""
    data = QueryDict(mutable=True)
    for key, value in params:
        if key not in {"ids", "format", "dry_run", "upsert", "delimiter"}:
            data.appendlist(key, value)
    filterset = ItemFilterSet(data=data, queryset=Item.objects.all())
    try:
        with transaction.atomic():
            if not filterset.is_valid():
                return None
            return set(filterset.qs.values_list("pk", flat=True))
    except (DatabaseError, OverflowError):  # Out of range on Django 4.2.
        return None


@settings(
    max_examples=120,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_any_query_string_answers_4xx_or_deletes_exactly_the_filters_rows(data):
    client = APIClient()
    with transaction.atomic():
        kitchen, garden = AccountFactory(name="Kitchen"), AccountFactory(name="Garden")
        for account, quantity in ((kitchen, 1), (kitchen, 60), (garden, 2), (garden, 60)):
            ItemFactory(account=account, quantity=quantity, name=f"{account.name} mug")
        params = data.draw(_params([kitchen, garden]), label="params")
        query = urlencode(params)
        before = set(pks())
        expected = _expected(params)

        response = client.get(f"{BULK}?{query}", HTTP_ACCEPT="application/json")
        assert response.status_code < 500, response.content

        response = client.delete(f"{BULK}?{query}", HTTP_ACCEPT="application/json")
        assert response.status_code < 500, response.content
        deleted = before - set(pks())
        summary = response.json() if response["Content-Type"] == "application/json" else None
        if deleted:
            assert response.status_code == 200, response.content
            assert expected is not None and deleted == expected
            if summary is not None:
                assert sorted(summary["deleted_ids"]) == sorted(deleted)
        elif response.status_code == 200 and summary is not None and not summary["dry_run"]:
            assert expected == set()
        transaction.set_rollback(True)


def test_the_core_does_not_import_django_filter():
    code = """
import sys
import django
from django.conf import settings
settings.configure(INSTALLED_APPS=[
    "django.contrib.auth", "django.contrib.contenttypes", "rest_framework", "rest_framework_bulk",
])
django.setup()
from rest_framework import viewsets
import rest_framework_bulk, rest_framework_bulk.bulk, rest_framework_bulk.generics
from rest_framework_bulk import filtersets

class View(rest_framework_bulk.bulk.BulkOperationsMixin, viewsets.GenericViewSet):
    bulk_filter_fields = ["name"]

assert filtersets.get_filterset_backend(View()) is None
assert "django_filters" not in sys.modules, "django_filters was imported"
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_without_django_filter_the_view_falls_back_to_bulk_filter_fields(api, rows, monkeypatch):
    monkeypatch.setattr(filtersets, "HAS_DJANGO_FILTER", False)
    # FilterSetItemViewSet has no bulk_filter_fields: only the lookup field is allowed.
    blue = rows["items"][0]
    response = api.get(f"{BULK}?pk={blue.pk}")
    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()["results"]] == [blue.pk]
    response = api.get(f"{BULK}?quantity__gte=50")
    assert response.status_code == 400
    assert response.json()["code"] == "filter_not_allowed"
