from __future__ import annotations

import csv
import datetime
import io
import json
import uuid
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse
from rest_framework import generics, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from rest_framework_bulk.parsers import CSVRows
from rest_framework_bulk.renderers import (
    CSVRenderer,
    escape_formula,
    format_csv_cell,
    iter_csv_rows,
)
from tests.models import Account, Item, Tag

factory = APIRequestFactory()


def render(data, **context) -> str:
    return CSVRenderer().render(data, "text/csv", context).decode("utf-8")


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_list_of_dicts_with_union_header_in_first_seen_order():
    text = render([{"b": 1, "a": 2}, {"a": 3, "c": 4}, {"d": None}])
    assert text == "b,a,c,d\r\n1,2,,\r\n,3,4,\r\n,,,\r\n"


def test_cell_formats():
    row = {
        "none": None,
        "true": True,
        "false": False,
        "int": -3,
        "decimal": Decimal("1E+2"),
        "neg_decimal": Decimal("-25.75"),
        "float": 0.5,
        "datetime": datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        "date": datetime.date(2025, 1, 2),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "nested": {"a": [1, "é"], "b": None},
        "list": [1, 2],
        "text": 'with "quotes", commas\nand a newline',
    }
    [header, values] = read(render([row]))
    assert header == list(row)
    assert dict(zip(header, values)) == {
        "none": "",
        "true": "true",
        "false": "false",
        "int": "-3",
        "decimal": "100",
        "neg_decimal": "-25.75",
        "float": "0.5",
        "datetime": "2025-01-02T03:04:05Z",
        "date": "2025-01-02",
        "uuid": "12345678-1234-5678-1234-567812345678",
        "nested": '{"a":[1,"é"],"b":null}',
        "list": "[1,2]",
        "text": 'with "quotes", commas\nand a newline',
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-", "'-"),
        ("-25.75", "-25.75"),
        ("+1", "+1"),
        ("-1e5", "-1e5"),
        ("-.5", "-.5"),
        ("-1e5x", "'-1e5x"),
        ("a=1", "a=1"),
        (" =1", " =1"),
        ("", ""),
    ],
)
def test_formula_injection_escaping(value, expected):
    assert escape_formula(value) == expected
    assert format_csv_cell(value) == expected


@pytest.mark.parametrize("value", [-25, Decimal("-25.75"), -0.5, -(10**30)])
def test_negative_numbers_are_not_escaped(value):
    assert not format_csv_cell(value).startswith("'")


def test_escaping_can_be_turned_off():
    assert format_csv_cell("=1", escape_formulas=False) == "=1"
    assert list(iter_csv_rows([{"a": "@x"}], ["a"], escape_formulas=False)) == [b"a\r\n", b"@x\r\n"]

    class RawCSVRenderer(CSVRenderer):
        escape_formulas = False

    assert RawCSVRenderer().render([{"a": "=1"}]) == b"a\r\n=1\r\n"


def test_header_and_nested_values_are_escaped_too():
    [header, values] = read(render([{"=cmd": "@x", "n": ["=x"]}]))
    assert header == ["'=cmd", "n"]
    assert values == ["'@x", '["=x"]']


@pytest.mark.parametrize("key", ["results", "items"])
def test_rows_under_results_or_items(key):
    assert render({"count": 2, key: [{"a": 1}, {"a": 2}]}) == "a\r\n1\r\n2\r\n"


def test_view_names_the_results_key():
    class View:
        csv_results_key = "created"

    data = {"created": [{"a": 1}], "results": [{"b": 2}]}
    assert render(data, view=View()) == "a\r\n1\r\n"
    assert render(data, csv_results_key="created") == "a\r\n1\r\n"
    assert render(data) == "b\r\n2\r\n"


def test_single_dict_is_one_row_and_none_is_empty():
    assert render({"detail": "Not found."}) == "detail\r\nNot found.\r\n"
    assert render({"results": "not a list"}) == "results\r\nnot a list\r\n"
    assert CSVRenderer().render(None) == b""
    assert render([]) == ""
    assert render([], csv_header=["a", "b"]) == "a,b\r\n"


def test_rows_that_are_not_dicts_go_in_a_value_column():
    assert render(["=x", 2]) == "value\r\n'=x\r\n2\r\n"


def test_explicit_header_chooses_and_orders_columns():
    class View:
        csv_header = ["c", "a"]

    rows = [{"a": 1, "b": 2, "c": 3}]
    assert render(rows, view=View()) == "c,a\r\n3,1\r\n"
    assert render(rows, csv_header=["b"]) == "b\r\n2\r\n"


def test_output_round_trips_through_the_parser():
    rows = [
        {"sku": "A", "name": 'He said "hi", then left\nnext line', "city": "Zürich"},
        {"sku": "B", "name": "semi;colon|pipe\ttab", "city": "東京"},
    ]
    for delimiter in [",", ";", "\t", "|"]:
        data = b"".join(iter_csv_rows(rows, ["sku", "name", "city"], delimiter=delimiter))
        parsed = list(CSVRows(io.BytesIO(data), delimiter=delimiter))
        assert parsed == rows
        assert [row.line for row in parsed] == [2, 4]


def test_iter_csv_rows_yields_one_line_at_a_time_lazily():
    consumed = []

    def rows():
        for index in range(3):
            consumed.append(index)
            yield {"n": index, "extra": "ignored"}

    lines = iter_csv_rows(rows(), ["n", "missing"])
    assert next(lines) == b"n,missing\r\n"
    assert consumed == []
    assert next(lines) == b"0,\r\n"
    assert consumed == [0]
    assert list(lines) == [b"1,\r\n", b"2,\r\n"]


def test_iter_csv_rows_options():
    rows = [{"a": "é", "b": "x;y"}]
    assert list(iter_csv_rows(rows, ["a", "b"], include_header=False)) == ["é,x;y\r\n".encode()]
    assert list(iter_csv_rows(rows, ["a", "b"], delimiter="tab", encoding="latin-1")) == [
        b"a\tb\r\n",
        "é\tx;y\r\n".encode("latin-1"),
    ]


def test_streaming_response():
    response = StreamingHttpResponse(
        iter_csv_rows(({"n": i} for i in range(3)), ["n"]), content_type="text/csv; charset=utf-8"
    )
    assert b"".join(response.streaming_content) == b"n\r\n0\r\n1\r\n2\r\n"


# Through views


class ItemSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="name", read_only=True)
    tags = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = Item
        fields = ["id", "sku", "name", "price", "quantity", "account", "tags", "updated_at"]


class Pagination(PageNumberPagination):
    page_size = 2


class ItemListView(generics.ListAPIView):
    queryset = Item.objects.select_related("account").prefetch_related("tags").order_by("pk")
    serializer_class = ItemSerializer
    renderer_classes = [JSONRenderer, CSVRenderer]
    pagination_class = Pagination


@pytest.fixture
def items(db):
    account = Account.objects.create(name="=evil account")
    red, blue = Tag.objects.create(name="red"), Tag.objects.create(name="blue")
    first = Item.objects.create(
        account=account, sku="S1", ref="R1", name="Widget", price="-25.75", quantity=3
    )
    first.tags.set([red, blue])
    Item.objects.create(
        account=account, sku="S2", ref="R2", name="@risky", price="1.00", quantity=-1
    )
    Item.objects.create(account=account, sku="S3", ref="R3", name="third", price="2.00", quantity=0)
    return account


@pytest.mark.django_db
def test_paginated_list_view_renders_the_page_as_csv(items):
    request = factory.get("/items/", HTTP_ACCEPT="text/csv")
    response = ItemListView.as_view()(request)
    response.render()
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    [header, *rows] = read(response.content.decode())
    assert header == ["id", "sku", "name", "price", "quantity", "account", "tags", "updated_at"]
    assert len(rows) == 2
    first, second = (dict(zip(header, row)) for row in rows)
    assert first["price"] == "-25.75"
    assert first["account"] == "'=evil account"
    assert sorted(json.loads(first["tags"])) == ["blue", "red"]
    assert first["updated_at"].endswith("Z")
    assert second["name"] == "'@risky"
    assert second["quantity"] == "-1"


@pytest.mark.django_db
def test_format_query_parameter_and_accept_delimiter(items):
    response = ItemListView.as_view()(factory.get("/items/", {"format": "csv", "page": 2}))
    response.render()
    assert read(response.content.decode())[1][1] == "S3"

    request = factory.get("/items/", HTTP_ACCEPT='text/csv; delimiter=";"')
    response = ItemListView.as_view()(request)
    response.render()
    assert response.content.decode().startswith("id;sku;name;")
    assert response["Content-Type"].startswith("text/csv")


class ErrorView(APIView):
    renderer_classes = [CSVRenderer]

    def get(self, request):
        return Response({"detail": "=1+1"}, status=400)


def test_error_responses_render_as_a_row():
    response = ErrorView.as_view()(factory.get("/"))
    response.render()
    assert response.status_code == 400
    assert response.content == b"detail\r\n'=1+1\r\n"
