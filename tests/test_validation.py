"""Batched validation (``rest_framework_bulk.validation``)."""

from __future__ import annotations

import pytest
from rest_framework import relations

from rest_framework_bulk.validation import RelationCache
from rest_framework_bulk.values import convert
from tests.models import Account, Item

pytestmark = pytest.mark.django_db

KEYS = [0, 1, -1, 2**31, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, True, 1.0, 2.5, "7", " 7 ", "x"]


@pytest.mark.parametrize("data", KEYS, ids=repr)
def test_relation_keys_are_convert_s_answer(data):
    """An integer key checked against the column's range once per batch means what ``convert()`` says."""
    field = relations.PrimaryKeyRelatedField(queryset=Account.objects.all())
    cache = RelationCache.for_field(field)
    assert cache.integer_range is not None
    try:
        expected = ("ok", convert(Account._meta.pk, data))
    except ValueError:
        expected = ("refused",)
    try:
        actual = ("ok", cache.key(data))
    except ValueError:
        actual = ("refused",)
    assert actual == expected
    assert type(actual[-1]) is type(expected[-1])


def test_only_related_fields_read_the_raw_values():
    """Other fields are not looked at while relations are prefetched."""
    from rest_framework import serializers

    from rest_framework_bulk import BulkListSerializer, BulkSerializerMixin

    read = []

    class Watched(serializers.CharField):
        def get_value(self, dictionary):
            read.append(self.field_name)
            return super().get_value(dictionary)

    class Serializer(BulkSerializerMixin, serializers.ModelSerializer):
        name = Watched()

        class Meta:
            model = Item
            fields = ["account", "sku", "ref", "name"]
            list_serializer_class = BulkListSerializer

    account = Account.objects.create(name="a")
    items = [{"account": account.pk, "sku": f"S{i}", "ref": f"R{i}", "name": "n"} for i in range(3)]
    serializer = Serializer(data=items, many=True)
    assert serializer.is_valid(), serializer.errors
    assert read == ["name"] * 3  # once per item, by validation itself
