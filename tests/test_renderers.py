from __future__ import annotations

import csv
import datetime
import io
import json
import uuid
from decimal import Decimal

import pytest
from django.http import StreamingHttpResponse
from hypothesis import given, settings
from hypothesis import strategies as st
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
    # A missing key is an empty cell; None is the null token.
    assert text == "b,a,c,d\r\n1,2,,\r\n,3,4,\r\n,,,#N/A\r\n"


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
        "none": "#N/A",
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


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (None, "#N/A"),
        ("#N/A", "'#N/A"),
        ("'x", "''x"),
        ("'", "''"),
        ("=1", "'=1"),
        ("-5", "-5"),
        ("-1+cmd", "'-1+cmd"),
        ("", ""),
    ],
)
def test_cells_that_need_escaping_to_read_back(value, cell):
    assert format_csv_cell(value, null_value="#N/A") == cell
    parsed = list(CSVRows(io.BytesIO(f"a,b\n{cell},1\n".encode())))
    assert parsed == [{"a": value, "b": "1"} if value != "" else {"b": "1"}]


CELL_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1
)


@settings(max_examples=300)
@given(value=st.one_of(CELL_TEXT, st.integers(), st.sampled_from(["#N/A", "'", "-", "-1", "=1"])))
def test_any_text_or_integer_cell_reads_back_as_written(value):
    cell = format_csv_cell(value, null_value="#N/A")
    text = io.StringIO()
    csv.writer(text).writerows([["a", "b"], [cell, "1"]])
    [row] = list(CSVRows(io.BytesIO(text.getvalue().encode())))
    assert row["a"] == str(value)
    if isinstance(value, str) and value.startswith(("=", "@", "\t", "\r", "'")):
        # What a spreadsheet would run, and the escape itself (a number
        # such as "+1" or "-1" is left as it is).
        assert cell != value


def test_without_a_null_value_none_is_an_empty_cell():
    assert format_csv_cell(None) == ""
    assert format_csv_cell("#N/A") == "#N/A"
    assert list(iter_csv_rows([{"a": None}], ["a"])) == [b"a\r\n", b'""\r\n']
    assert list(iter_csv_rows([{"a": None}], ["a"], null_value="NULL")) == [b"a\r\n", b"NULL\r\n"]


def test_quote_and_null_token_are_escaped_even_without_formula_escaping():
    assert format_csv_cell("=1", escape_formulas=False, null_value="#N/A") == "=1"
    assert format_csv_cell("'=1", escape_formulas=False, null_value="#N/A") == "''=1"
    assert format_csv_cell("#N/A", escape_formulas=False, null_value="#N/A") == "'#N/A"


def test_null_token_of_the_view():
    class View:
        def get_csv_null_value(self):
            return "NULL"

    assert (
        render([{"a": None, "b": "NULL", "c": "#N/A"}], view=View())
        == "a,b,c\r\nNULL,'NULL,#N/A\r\n"
    )
    assert render([{"a": None}], csv_null_value="-") == "a\r\n-\r\n"


def test_lone_surrogates_are_written_as_replacement_characters():
    assert render([{"a": "x\ud800y"}]) == "a\r\nx\ufffdy\r\n"
    with pytest.raises(UnicodeEncodeError):
        # Other text an encoding cannot hold is still an error of the caller's.
        list(iter_csv_rows([{"a": "東京"}], ["a"], encoding="latin-1"))


# Any text but NUL (which the parser refuses); st.text() leaves out surrogates.
_TEXT = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12
)
_EDGY = st.sampled_from(
    [
        "",
        "'",
        "''",
        "#N/A",
        "'#N/A",
        "NULL",
        "-",
        "-5",
        "+1e3",
        "-1+cmd",
        "=1",
        "@a",
        "\t",
        "\r",
        "\r\n",
        '"',
        ",",
        ";",
        "|",
        "\ufeff",
        " ",
    ]
)
_NAME = st.one_of(_EDGY, _TEXT).filter(
    lambda name: name and name == name.strip() and not name.startswith("\ufeff")
)


@st.composite
def _table(draw):
    header = draw(st.lists(_NAME, min_size=1, max_size=5, unique=True))
    value = st.one_of(st.none(), _EDGY, _TEXT)
    rows = draw(st.lists(st.fixed_dictionaries({name: value for name in header}), max_size=5))
    return header, rows


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(
    table=_table(),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    null_value=st.sampled_from(["#N/A", "NULL", "-"]),
    escape_formulas=st.booleans(),
)
def test_rendered_rows_read_back_as_the_same_rows(table, delimiter, null_value, escape_formulas):
    header, rows = table
    renderer = CSVRenderer()
    renderer.escape_formulas = escape_formulas
    accepted = (
        "text/csv; delimiter=tab" if delimiter == "\t" else f'text/csv; delimiter="{delimiter}"'
    )
    data = renderer.render(rows, accepted, {"csv_header": header, "csv_null_value": null_value})
    parsed = CSVRows(io.BytesIO(data), delimiter=delimiter, null_value=null_value)
    assert parsed.fieldnames == header
    # The one exception: "" is an empty cell, read back as "not given"; a row
    # of nothing but is skipped.
    expected = [{k: v for k, v in row.items() if v != ""} for row in rows]
    assert list(parsed) == [row for row in expected if row]


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
