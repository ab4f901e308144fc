"""Queries per request stay constant as the number of items grows.

Each test runs the same request at two sizes and asserts the same number of
queries, under a fixed ceiling.
"""

from __future__ import annotations

import pytest

from .factories import AccountFactory, ItemFactory, TagFactory
from .models import Item

pytestmark = pytest.mark.django_db

ITEMS = "/api/items/"
SIZES = (10, 100)


def run(django_assert_max_num_queries, api, method, body, ceiling):
    with django_assert_max_num_queries(ceiling) as captured:
        response = api.bulk(method, ITEMS, body)
    assert response.status_code in (200, 201, 204), response.content
    return len(captured.captured_queries)


def test_create(api, django_assert_max_num_queries):
    accounts = AccountFactory.create_batch(3)
    counts = []
    for size in SIZES:
        body = [
            {
                "account": accounts[i % 3].pk,
                "sku": f"S{size}-{i}",
                "ref": f"R{size}-{i}",
                "name": "n",
                "price": "1.00",
                "quantity": i,
            }
            for i in range(size)
        ]
        # savepoint, accounts, sku, (account, ref), savepoint, insert, release x2, tags
        counts.append(run(django_assert_max_num_queries, api, "post", body, 9))
    assert counts[0] == counts[1]
    assert Item.objects.count() == sum(SIZES)


def test_put(api, django_assert_max_num_queries):
    accounts = AccountFactory.create_batch(3)
    counts = []
    for size in SIZES:
        items = [ItemFactory(account=accounts[i % 3]) for i in range(size)]
        body = [
            {
                "id": item.pk,
                "account": item.account_id,
                "sku": item.sku + "x",
                "ref": item.ref,
                "name": f"put{size}",
                "price": "2.00",
                "quantity": 5,
            }
            for item in items
        ]
        counts.append(run(django_assert_max_num_queries, api, "put", body, 11))
        assert set(
            Item.objects.filter(pk__in=[i.pk for i in items]).values_list("name", flat=True)
        ) == {f"put{size}"}
    assert counts[0] == counts[1]


def test_patch(api, django_assert_max_num_queries):
    counts = []
    for size in SIZES:
        items = ItemFactory.create_batch(size)
        body = [{"id": item.pk, "quantity": size} for item in items]
        counts.append(run(django_assert_max_num_queries, api, "patch", body, 9))
        assert set(
            Item.objects.filter(pk__in=[i.pk for i in items]).values_list("quantity", flat=True)
        ) == {size}
    assert counts[0] == counts[1]


def test_delete(api, django_assert_max_num_queries):
    counts = []
    for size in SIZES:
        items = ItemFactory.create_batch(size)
        counts.append(
            run(django_assert_max_num_queries, api, "delete", [item.pk for item in items], 8)
        )
    assert counts[0] == counts[1]
    assert Item.objects.count() == 0


def test_many_to_many_lookups_are_batched(api, django_assert_max_num_queries):
    account = AccountFactory()
    tags = TagFactory.create_batch(5)
    body = [
        {
            "account": account.pk,
            "sku": f"S{i}",
            "ref": f"R{i}",
            "name": "n",
            "tags": [tags[i % 5].pk, tags[(i + 1) % 5].pk],
        }
        for i in range(20)
    ]
    with django_assert_max_num_queries(200) as captured:
        response = api.bulk("post", ITEMS, body)
    assert response.status_code == 201
    lookups = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT")
        and "tests_tag" in q["sql"].split("WHERE")[0]
        and "tests_item_tags" not in q["sql"]
    ]
    assert len(lookups) == 1
    assert sorted(Item.objects.get(sku="S0").tags.values_list("pk", flat=True)) == sorted(
        [tags[0].pk, tags[1].pk]
    )
