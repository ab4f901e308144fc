"""The serializers on their own: no view, no request, as in a shell or a job."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework import serializers

from rest_framework_bulk import BulkError, BulkListSerializer

from .factories import AccountFactory, ArticleFactory, ItemFactory, TagFactory
from .models import Article, Item
from .serializers import ArticleSerializer, ItemSerializer, SimpleSerializer

pytestmark = pytest.mark.django_db


def test_create_without_context():
    account = AccountFactory()
    serializer = ItemSerializer(
        data=[
            {"account": account.pk, "sku": "A", "ref": "a", "name": "a"},
            {"account": account.pk, "sku": "B", "ref": "b", "name": "b"},
        ],
        many=True,
    )
    assert isinstance(serializer, BulkListSerializer)
    assert serializer.is_valid(), serializer.errors
    objects = serializer.save()
    assert [obj.sku for obj in objects] == ["A", "B"]
    assert all(obj.pk for obj in objects)
    assert list(Item.objects.order_by("sku").values_list("sku", flat=True)) == ["A", "B"]


def test_update_from_queryset_without_context():
    first, second = ItemFactory(), ItemFactory()
    serializer = ItemSerializer(
        Item.objects.all(),
        data=[{"id": second.pk, "name": "two"}, {"id": first.pk, "name": "one"}],
        many=True,
        partial=True,
    )
    assert serializer.is_valid(), serializer.errors
    updated = serializer.save()
    assert [obj.pk for obj in updated] == [second.pk, first.pk]
    assert dict(Item.objects.values_list("pk", "name")) == {first.pk: "one", second.pk: "two"}
    assert [item["name"] for item in serializer.data] == ["two", "one"]


def test_validated_data_keeps_the_converted_lookup_value():
    item = ItemFactory()
    serializer = ItemSerializer(
        Item.objects.all(), data=[{"id": str(item.pk), "name": "x"}], many=True, partial=True
    )
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data[0]["id"] == item.pk


def test_errors_are_a_dict_keyed_by_index_on_every_drf_version():
    item = ItemFactory()
    serializer = ItemSerializer(
        Item.objects.all(),
        data=[{"id": item.pk, "name": "ok"}, {"id": 999999, "name": "x"}, {"name": "y"}],
        many=True,
        partial=True,
    )
    assert not serializer.is_valid()
    assert set(serializer.errors) == {1, 2}
    assert str(serializer.errors[1]["id"][0]).startswith("No object with `id` 999999")
    assert serializer.errors[1]["id"][0].code == "not_found"
    assert serializer.errors[2]["id"][0].code == "missing_lookup"
    assert sorted((error.index, error.code) for error in serializer.item_errors) == [
        (1, "not_found"),
        (2, "missing_lookup"),
    ]
    item.refresh_from_db()
    assert item.name != "ok"


def test_slug_lookup_without_context():
    article = ArticleFactory(views=1)
    serializer = ArticleSerializer(
        Article.objects.all(), data=[{"slug": article.slug, "views": 5}], many=True, partial=True
    )
    assert serializer.is_valid(), serializer.errors
    serializer.save()
    article.refresh_from_db()
    assert article.views == 5


def test_save_kwargs_reach_every_item():
    account = AccountFactory()
    serializer = ItemSerializer(
        data=[{"sku": "A", "ref": "a", "name": "a", "account": account.pk}], many=True
    )
    assert serializer.is_valid(), serializer.errors
    serializer.save(quantity=7)
    assert Item.objects.get().quantity == 7


@pytest.mark.parametrize("with_tags", [False, True])  # in batches; item by item
def test_save_leaves_validated_data_as_validated(with_tags):
    account = AccountFactory()
    tag = TagFactory()
    item = {"sku": "A", "ref": "a", "name": "a", "account": account.pk}
    if with_tags:
        item["tags"] = [tag.pk]
    serializer = ItemSerializer(data=[item], many=True)
    assert serializer.is_valid(), serializer.errors
    before = [dict(attrs) for attrs in serializer.validated_data]

    serializer.save()

    # DRF's ListSerializer.save() copies each item; ModelSerializer.create()
    # pops the many-to-many values from what it is given.
    assert serializer.validated_data == before
    assert list(Item.objects.get().tags.all()) == ([tag] if with_tags else [])


def test_save_refuses_invalid_data():
    serializer = SimpleSerializer(data=[{"number": "x"}], many=True)
    assert not serializer.is_valid()
    with pytest.raises(AssertionError):
        serializer.save()


def test_overridden_create_is_called_per_item():
    calls = []

    class CountingSerializer(SimpleSerializer):
        def create(self, validated_data):
            calls.append(validated_data["number"])
            return super().create(validated_data)

    serializer = CountingSerializer(
        data=[{"number": 1, "contents": "a"}, {"number": 2, "contents": "b"}], many=True
    )
    assert serializer.is_valid(), serializer.errors
    serializer.save()
    assert calls == [1, 2]


def test_database_conflict_raises_bulk_error_and_rolls_back():
    ItemFactory(sku="TAKEN")

    class Unchecked(ItemSerializer):
        sku = serializers.CharField()

        class Meta(ItemSerializer.Meta):
            validators: list = []

    account = AccountFactory()
    serializer = Unchecked(
        data=[
            {"account": account.pk, "sku": "NEW", "ref": "n", "name": "n"},
            {"account": account.pk, "sku": "TAKEN", "ref": "t", "name": "t"},
        ],
        many=True,
    )
    assert serializer.is_valid(), serializer.errors
    with pytest.raises(BulkError) as excinfo:
        serializer.save()
    assert excinfo.value.status_code == 409
    assert [error.index for error in excinfo.value.item_errors] == [1]
    assert not Item.objects.filter(sku="NEW").exists()


def test_batched_update_statement_matches_orm():
    """The backend's UPDATE ... FROM VALUES writes exactly what save() would."""
    items = ItemFactory.create_batch(3)
    data = [
        {"id": item.pk, "price": f"{i}.25", "name": f"nom {i}", "quantity": -i}
        for i, item in enumerate(items)
    ]
    serializer = ItemSerializer(Item.objects.all(), data=data, many=True, partial=True)
    assert serializer.is_valid(), serializer.errors
    serializer.save()
    rows = list(Item.objects.order_by("pk").values_list("price", "name", "quantity"))
    assert [(str(price), name, quantity) for price, name, quantity in rows] == [
        ("0.25", "nom 0", 0),
        ("1.25", "nom 1", -1),
        ("2.25", "nom 2", -2),
    ]
    assert connection.vendor in {"sqlite", "postgresql", "mysql"}


def test_write_path_is_logged(caplog):
    account = AccountFactory()
    data = [{"account": account.pk, "sku": "A", "ref": "a", "name": "a"}]
    with caplog.at_level("DEBUG", logger="rest_framework_bulk"):
        serializer = ItemSerializer(data=data, many=True)
        assert serializer.is_valid(), serializer.errors
        serializer.save()
        serializer = ItemSerializer(
            data=[{**data[0], "sku": "B", "ref": "b", "tags": []}], many=True
        )
        assert serializer.is_valid(), serializer.errors
        serializer.save()
    messages = [record.getMessage() for record in caplog.records]
    expected = (
        "in batches" if connection.features.can_return_rows_from_bulk_insert else "item by item"
    )
    assert messages[0].startswith("ItemSerializer: create 1 items " + expected)
    assert messages[1] == "ItemSerializer: create 1 items item by item (many-to-many values (tags))"
