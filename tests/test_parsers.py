from __future__ import annotations

import codecs
import copy
import io
import pickle

import django
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler, MemoryFileUploadHandler
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from rest_framework_bulk.parsers import (
    DEFAULT_CSV_MAX_FILE_SIZE,
    CSVEncodingError,
    CSVError,
    CSVHeaderError,
    CSVMultiPartParser,
    CSVParser,
    CSVRow,
    CSVRows,
    CSVTooLargeError,
    CSVTooManyCellsError,
    CSVUploadSizeLimitHandler,
    TSVParser,
    csv_rows_from_upload,
    iter_csv,
    read_uploaded_csv,
)
from tests.models import Account, Item

factory = APIRequestFactory()


def rows_of(data: bytes, **options) -> list[CSVRow]:
    return list(iter_csv(io.BytesIO(data), **options))


def error_of(data: bytes, **options) -> CSVError:
    with pytest.raises(CSVError) as info:
        rows_of(data, **options)
    return info.value


class CountingStream:
    """A binary stream of ``size`` bytes made up on demand, which records how much was read."""

    def __init__(self, size: int, header: bytes = b"sku,name\n", line: bytes = b"abc,some name\n"):
        self.size = size
        self.header = header
        self.line = line
        self.position = 0
        self.largest_read = 0

    def read(self, n: int = -1) -> bytes:
        assert n is not None and n >= 0, "the whole stream must never be read at once"
        self.largest_read = max(self.largest_read, n)
        n = min(n, self.size - self.position)
        out = bytearray()
        while len(out) < n:
            offset = self.position + len(out)
            if offset < len(self.header):
                out += self.header[offset:]
            else:
                start = (offset - len(self.header)) % len(self.line)
                out += self.line[start:]
        data = bytes(out[:n])
        self.position += len(data)
        return data


# iter_csv / CSVRows


def test_rows_are_dicts_keyed_by_the_header():
    rows = rows_of(b"sku,name,price\nA1,Apple,1.50\nB2,Banana,0.25\n")
    assert rows == [
        {"sku": "A1", "name": "Apple", "price": "1.50"},
        {"sku": "B2", "name": "Banana", "price": "0.25"},
    ]
    assert all(type(row) is CSVRow for row in rows)
    assert [row.line for row in rows] == [2, 3]


def test_empty_cell_is_omitted_and_null_token_is_none():
    rows = rows_of(b"id,name,price\n1,,#N/A\n2, ,3\n")
    assert rows[0] == {"id": "1", "price": None}
    assert "name" not in rows[0]
    # A space is a value, not an empty cell.
    assert rows[1] == {"id": "2", "name": " ", "price": "3"}


def test_null_token_can_be_changed_or_disabled():
    assert rows_of(b"a,b\nNULL,#N/A\n", null_value="NULL") == [{"a": None, "b": "#N/A"}]
    assert rows_of(b"a\n#N/A\n", null_value=None) == [{"a": "#N/A"}]


def test_quoted_fields_with_newlines_and_escaped_quotes_keep_line_numbers():
    data = (
        b"sku,note\r\n"
        b'A,"first line\r\nsecond line\r\nthird line"\r\n'
        b'B,"he said ""hi"", then, left"\r\n'
        b"\r\n"
        b"\r\n"
        b"C,plain\r\n"
    )
    rows = rows_of(data)
    assert rows == [
        {"sku": "A", "note": "first line\r\nsecond line\r\nthird line"},
        {"sku": "B", "note": 'he said "hi", then, left'},
        {"sku": "C", "note": "plain"},
    ]
    # Header is line 1; A spans lines 2-4; B is line 5; two blank lines; C is line 8.
    assert [row.line for row in rows] == [2, 5, 8]


def test_blank_lines_and_rows_of_empty_cells_are_skipped():
    rows = rows_of(b"\n\na,b\n\n,\n1,2\n,,\n\n3,4")
    assert rows == [{"a": "1", "b": "2"}, {"a": "3", "b": "4"}]
    assert [row.line for row in rows] == [6, 9]


def test_first_line_offsets_line_numbers():
    rows = rows_of(b"a\nx\ny\n", first_line=10)
    assert [row.line for row in rows] == [11, 12]


def test_byte_order_mark_is_dropped_only_at_the_start():
    rows = rows_of("\ufeffsku,name\nA,\ufeffkeep\n".encode())
    assert rows == [{"sku": "A", "name": "\ufeffkeep"}]


def test_header_names_are_stripped():
    assert rows_of(b" sku , name\nA,B\n") == [{"sku": "A", "name": "B"}]


def test_missing_cells_are_treated_as_empty():
    rows = rows_of(b"a,b,c\n1\n1,2\n")
    assert rows == [{"a": "1"}, {"a": "1", "b": "2"}]


def test_too_many_cells_names_line_and_column():
    exc = error_of(b"a,b\n1,2\n1,2,3\n")
    assert isinstance(exc, CSVTooManyCellsError)
    assert exc.status_code == 400
    assert exc.get_codes() == "csv_too_many_cells"
    assert (exc.line, exc.column) == (3, 3)
    assert "Line 3" in str(exc.detail) and "column 3" in str(exc.detail)


def test_too_many_cells_counts_the_header_fields_in_words():
    assert str(error_of(b"a,b\n1,2,3\n").detail) == (
        "Line 2, column 3: the row has 3 cells but the header names 2 fields."
    )
    assert str(error_of(b"a\n1,2\n").detail) == (
        "Line 2, column 2: the row has 2 cells but the header names 1 field."
    )


def test_trailing_empty_cells_past_the_header_are_tolerated_but_values_are_not():
    assert rows_of(b"a,b\n1,2,,\n") == [{"a": "1", "b": "2"}]
    exc = error_of(b"a,b\n1,2,,x\n")
    assert (exc.line, exc.column) == (2, 4)


@pytest.mark.parametrize(
    ("data", "line", "column"),
    [
        (b"a,,b\n1,2,3\n", 1, 2),
        (b"a, \n1,2\n", 1, 2),
        (b"a,b,a\n", 1, 3),
        (b"\n\nx,x\n", 3, 2),
    ],
)
def test_blank_or_duplicate_header_names_are_rejected(data, line, column):
    exc = error_of(data)
    assert isinstance(exc, CSVHeaderError)
    assert exc.get_codes() == "csv_header"
    assert (exc.line, exc.column) == (line, column)
    assert f"Line {line}, column {column}" in str(exc.detail)


@pytest.mark.parametrize("data", [b"", b"\n\r\n\n", b",,\n"])
def test_empty_file_is_a_header_error(data):
    with pytest.raises(CSVHeaderError) as info:
        CSVRows(io.BytesIO(data))
    assert info.value.get_codes() == "csv_header"


def test_header_is_read_eagerly_by_csvrows_but_lazily_by_iter_csv():
    stream = io.BytesIO(b"a,a\n")
    generator = iter_csv(stream)
    assert stream.tell() == 0
    with pytest.raises(CSVHeaderError):
        next(generator)
    with pytest.raises(CSVHeaderError):
        CSVRows(io.BytesIO(b"a,a\n"))
    assert CSVRows(io.BytesIO(b"x,y\n1,2\n")).fieldnames == ["x", "y"]


def test_unterminated_quote_names_the_line_where_the_record_starts():
    exc = error_of(b'a,b\n1,2\n3,"never closed\nmore\nand more\n')
    assert exc.get_codes() == "csv_invalid"
    assert exc.status_code == 400
    assert exc.line == 3
    assert str(exc.detail).startswith("Line 3:")


def test_garbage_after_closing_quote_is_an_error():
    exc = error_of(b'a\n"x"y\n')
    assert exc.get_codes() == "csv_invalid"
    assert exc.line == 2


def test_invalid_utf8_names_the_exact_line_even_far_into_the_file():
    data = b"a,b\n" + b"x,y\n" * 20000 + b"\xff\xfe,z\n" + b"x,y\n" * 10
    rows = CSVRows(io.BytesIO(data))
    seen = 0
    with pytest.raises(CSVEncodingError) as info:
        for _row in rows:
            seen += 1
    assert info.value.get_codes() == "csv_encoding"
    assert info.value.line == 20002
    assert seen == 20000
    assert "Line 20002" in str(info.value.detail)
    # The iterator is finished after an error.
    assert list(rows) == []


def test_other_encodings():
    data = "name;city\nJosé;Zürich\n".encode("latin-1")
    assert rows_of(data, delimiter=";", encoding="latin-1") == [{"name": "José", "city": "Zürich"}]
    with pytest.raises(CSVEncodingError):
        CSVRows(io.BytesIO(data), encoding="no-such-codec")


@pytest.mark.parametrize(
    ("delimiter", "data"),
    [
        (";", b"a;b\n1,5;2\n"),
        ("\t", b"a\tb\n1,5\t2\n"),
        ("tab", b"a\tb\n1,5\t2\n"),
        ("\\t", b"a\tb\n1,5\t2\n"),
        ("|", b"a|b\n1,5|2\n"),
    ],
)
def test_supported_delimiters(delimiter, data):
    assert rows_of(data, delimiter=delimiter) == [{"a": "1,5", "b": "2"}]


@pytest.mark.parametrize("delimiter", [":", "", "ab", "\n", '"', " "])
def test_unsupported_delimiter_is_a_400(delimiter):
    with pytest.raises(CSVError) as info:
        CSVRows(io.BytesIO(b"a\n"), delimiter=delimiter)
    assert info.value.status_code == 400
    assert info.value.get_codes() == "csv_invalid"


def test_cells_larger_than_the_csv_module_default_are_accepted():
    big = "x" * (1024 * 1024)
    rows = rows_of(f'a,b\n"{big}",1\n'.encode())
    assert rows[0]["a"] == big


def test_size_limit_is_enforced_while_reading():
    stream = CountingStream(size=500 * 1024 * 1024)
    rows = CSVRows(stream, max_size=1024 * 1024)
    count = 0
    with pytest.raises(CSVTooLargeError) as info:
        for _row in rows:
            count += 1
    exc = info.value
    assert exc.status_code == 413
    assert exc.get_codes() == "csv_too_large"
    assert "1048576 bytes" in str(exc.detail)
    # Stopped one byte past the limit, not at the end of the 500 MB stream.
    assert stream.position == 1024 * 1024 + 1
    assert rows.bytes_read == 1024 * 1024 + 1
    assert 70_000 < count < 1024 * 1024 // 14
    assert stream.largest_read <= 64 * 1024


def test_file_of_exactly_max_size_is_accepted():
    data = b"a,b\n1,2\n3,4\n"
    assert len(rows_of(data, max_size=len(data))) == 2
    with pytest.raises(CSVTooLargeError):
        rows_of(data, max_size=len(data) - 1)


def test_rows_are_read_lazily():
    stream = CountingStream(size=200 * 1024 * 1024)
    rows = CSVRows(stream)
    first = next(rows)
    assert first == {"sku": "abc", "name": "some name"}
    assert first.line == 2
    assert stream.position <= 128 * 1024
    for _ in range(10_000):
        next(rows)
    assert stream.position <= 512 * 1024


def test_csvrows_is_a_one_pass_iterator():
    rows = CSVRows(io.BytesIO(b"a\n1\n2\n"))
    assert iter(rows) is rows
    assert [row["a"] for row in rows] == ["1", "2"]
    assert list(rows) == []


def test_text_streams_are_refused():
    with pytest.raises(TypeError, match="binary"):
        CSVRows(io.StringIO("a\n1\n"))


def test_csvrow_keeps_its_line_when_copied_or_pickled():
    row = CSVRow({"a": "1"}, line=7)
    assert pickle.loads(pickle.dumps(row)).line == 7
    assert copy.copy(row).line == 7
    assert copy.deepcopy(row) == {"a": "1"}
    assert repr(row) == "CSVRow({'a': '1'}, line=7)"


# CSVParser on a view


class ItemCSVSerializer(serializers.ModelSerializer):
    class Meta:
        model = Item
        fields = ["account", "sku", "ref", "name", "price", "quantity"]


class CSVImportView(APIView):
    """Creates items row by row and reports errors by line, the way a bulk view would."""

    parser_classes = [CSVParser, TSVParser]
    csv_max_file_size = 4096

    def post(self, request):
        rows = request.data
        assert isinstance(rows, CSVRows)
        created, errors = 0, []
        for row in rows:
            serializer = ItemCSVSerializer(data=row)
            if serializer.is_valid():
                serializer.save()
                created += 1
            else:
                errors.append({"line": row.line, "errors": serializer.errors})
        return Response({"fieldnames": rows.fieldnames, "created": created, "errors": errors})


class EchoRowsView(APIView):
    parser_classes = [CSVParser]
    csv_null_value = "NULL"

    def post(self, request):
        return Response([{"line": row.line, "row": row} for row in request.data])


@pytest.fixture
def account(db):
    return Account.objects.create(name="acme")


@pytest.mark.django_db
def test_csv_body_creates_rows_and_reports_errors_by_line(account):
    body = (
        "sku,ref,name,price,quantity,account\n"
        f"S1,R1,Widget,9.99,3,{account.pk}\n"
        f'S2,R2,"Gadget, large",,1,{account.pk}\n'
        f"S3,R3,Broken,not-a-number,1,{account.pk}\n"
        f"S4,R4,Thing,1.00,2,{account.pk}\n"
    ).encode()
    request = factory.post("/items/bulk/", body, content_type="text/csv")
    response = CSVImportView.as_view()(request)
    assert response.status_code == 200
    assert response.data["fieldnames"] == ["sku", "ref", "name", "price", "quantity", "account"]
    assert response.data["created"] == 3
    assert [error["line"] for error in response.data["errors"]] == [4]
    assert "price" in response.data["errors"][0]["errors"]
    items = {item.sku: item for item in Item.objects.all()}
    assert sorted(items) == ["S1", "S2", "S4"]
    assert str(items["S1"].price) == "9.99"
    assert items["S2"].name == "Gadget, large"
    # The empty price cell was left out, so the model default applied.
    assert items["S2"].price == 0


@pytest.mark.django_db
def test_delimiter_and_charset_from_the_media_type(account):
    body = f"sku;ref;name;account\nS1;R1;Café;{account.pk}\n".encode("latin-1")
    request = factory.post("/", body, content_type='text/csv; delimiter=";"; charset=latin-1')
    response = CSVImportView.as_view()(request)
    assert response.status_code == 200, response.data
    assert Item.objects.get().name == "Café"


@pytest.mark.django_db
def test_tsv_media_type(account):
    body = f"sku\tref\tname\taccount\nS1\tR1\tTab, separated\t{account.pk}\n".encode()
    request = factory.post("/", body, content_type="text/tab-separated-values")
    response = CSVImportView.as_view()(request)
    assert response.status_code == 200, response.data
    assert Item.objects.get().name == "Tab, separated"


def test_unsupported_delimiter_parameter_is_a_400():
    request = factory.post("/", b"a:b\n1:2\n", content_type="text/csv; delimiter=:")
    response = CSVImportView.as_view()(request)
    assert response.status_code == 400
    assert response.data["detail"].code == "csv_invalid"


def test_bad_header_is_a_400_with_its_code():
    request = factory.post("/", b"sku,sku\nA,B\n", content_type="text/csv")
    response = CSVImportView.as_view()(request)
    assert response.status_code == 400
    assert response.data["detail"].code == "csv_header"
    assert "Line 1, column 2" in response.data["detail"]


@pytest.mark.django_db
def test_body_over_the_view_limit_is_a_413(account):
    line = f"S,R,{'n' * 50},{account.pk}\n"
    body = ("sku,ref,name,account\n" + line * 200).encode()
    assert len(body) > CSVImportView.csv_max_file_size
    request = factory.post("/", body, content_type="text/csv")
    response = CSVImportView.as_view()(request)
    assert response.status_code == 413
    assert response.data["detail"].code == "csv_too_large"


def test_malformed_row_found_while_iterating_is_a_400_naming_the_line():
    request = factory.post("/", b'a\n1\n2\n"3\n', content_type="text/csv")
    response = EchoRowsView.as_view()(request)
    assert response.status_code == 400
    assert response.data["detail"].code == "csv_invalid"
    assert response.data["detail"].startswith("Line 4")


def test_view_null_value():
    request = factory.post("/", b"a,b\nNULL,#N/A\n", content_type="text/csv")
    response = EchoRowsView.as_view()(request)
    assert response.data == [{"line": 2, "row": {"a": None, "b": "#N/A"}}]


def test_view_hooks_win_over_attributes():
    class View:
        csv_max_file_size = 1
        csv_null_value = "x"

        def get_csv_max_file_size(self):
            return 100

        def get_csv_null_value(self):
            return "NULL"

    rows = CSVParser().parse(io.BytesIO(b"a,b\nNULL,x\n"), "text/csv", {"view": View()})
    assert rows.max_size == 100
    assert list(rows) == [{"a": None, "b": "x"}]


def test_parser_defaults_without_a_view():
    rows = CSVParser().parse(io.BytesIO(b"a\n#N/A\n"), "text/csv", {})
    assert list(rows) == [{"a": None}]
    assert rows.max_size == DEFAULT_CSV_MAX_FILE_SIZE


# Uploads


class UploadView(APIView):
    parser_classes = [CSVMultiPartParser]
    csv_max_file_size = 100 * 1024

    def post(self, request):
        rows = read_uploaded_csv(request, self)
        data = [dict(row, line=row.line) for row in rows]
        assert rows.form is not None
        return Response(
            {"fieldnames": rows.fieldnames, "rows": data, "form": dict(rows.form.items())}
        )


class StockMultiPartView(UploadView):
    parser_classes = [MultiPartParser]


class RecordingHandler(FileUploadHandler):
    """Records how many bytes of the file reached the handlers after the limit."""

    received = 0

    def receive_data_chunk(self, raw_data, start):
        RecordingHandler.received += len(raw_data)
        return raw_data

    def file_complete(self, file_size):
        return None


def upload(view, content: bytes, name="data.csv", content_type="text/csv", **fields):
    file = SimpleUploadedFile(name, content, content_type=content_type)
    request = factory.post("/", {"file": file, **fields}, format="multipart")
    return view.as_view()(request)


@pytest.mark.parametrize("view", [UploadView, StockMultiPartView])
def test_uploaded_file_is_streamed_as_rows(view):
    response = upload(view, "\ufeffsku,name\nA,Ä\nB,\n".encode())
    assert response.status_code == 200, response.data
    assert response.data["fieldnames"] == ["sku", "name"]
    assert response.data["rows"] == [{"sku": "A", "name": "Ä", "line": 2}, {"sku": "B", "line": 3}]


@pytest.mark.parametrize("view", [UploadView, StockMultiPartView])
def test_uploaded_file_delimiter_and_other_form_fields(view):
    response = upload(view, b"a|b\n1|2\n", delimiter="|", upsert="true")
    assert response.data["rows"] == [{"a": "1", "b": "2", "line": 2}]
    assert response.data["form"] == {"delimiter": "|", "upsert": "true"}


def test_uploaded_file_is_closed_once_read():
    file = SimpleUploadedFile("data.csv", b"a\n1\n2\n", content_type="text/csv")
    rows = csv_rows_from_upload(file)
    assert not file.closed
    assert [row["a"] for row in rows] == ["1", "2"]
    assert file.closed

    file = SimpleUploadedFile("data.csv", b'a\n1\n"2\n', content_type="text/csv")
    rows = csv_rows_from_upload(file)
    with pytest.raises(CSVError):
        list(rows)
    assert file.closed

    stream = io.BytesIO(b"a\n1\n")
    list(CSVRows(stream))
    assert not stream.closed


def test_uploaded_tsv_file_by_name():
    response = upload(
        UploadView, b"a\tb\n1\t2\n", name="data.tsv", content_type="application/octet-stream"
    )
    assert response.data["rows"] == [{"a": "1", "b": "2", "line": 2}]


@pytest.mark.parametrize("view", [UploadView, StockMultiPartView])
def test_missing_file_part_is_a_400(view):
    request = factory.post("/", {"other": "x"}, format="multipart")
    response = view.as_view()(request)
    assert response.status_code == 400
    assert response.data["file"][0].code == "required"


@pytest.mark.parametrize("view", [UploadView, StockMultiPartView])
def test_uploaded_file_over_the_limit_is_a_413(view):
    response = upload(view, b"a\n" + b"x" * 200 * 1024 + b"\n")
    assert response.status_code == 413
    assert response.data["detail"].code == "csv_too_large"


def test_upload_is_stopped_while_it_is_received():
    content = b"a\n" + b"0123456789\n" * 200_000  # 2.2 MB, limit is 100 KiB
    file = SimpleUploadedFile("big.csv", content, content_type="text/csv")
    request = factory.post("/", {"file": file}, format="multipart")
    RecordingHandler.received = 0
    request.upload_handlers = [RecordingHandler(request), MemoryFileUploadHandler(request)]
    response = UploadView.as_view()(request)
    assert response.status_code == 413
    assert response.data["detail"].code == "csv_too_large"
    # Only about the limit (plus one chunk) got past the size check.
    assert RecordingHandler.received <= UploadView.csv_max_file_size
    assert RecordingHandler.received < len(content) // 10


def test_upload_limit_handler_only_counts_its_field():
    handler = CSVUploadSizeLimitHandler(field_name="file", max_size=10)
    handler.new_file("other", "x.bin", "application/octet-stream", None)
    assert handler.receive_data_chunk(b"x" * 100, 0) == b"x" * 100
    handler.new_file("file", "x.csv", "text/csv", None)
    assert handler.receive_data_chunk(b"x" * 10, 0) == b"x" * 10
    with pytest.raises(CSVTooLargeError):
        handler.receive_data_chunk(b"x", 10)


# Encodings


@pytest.mark.parametrize(
    "charset",
    [
        "rot13",
        "hex",
        "bz2_codec",
        "base64",
        "zlib",
        "uu",
        "idna",
        "punycode",
        "unicode_escape",
        "raw_unicode_escape",
        "undefined",
        "utf-7",
        "no-such-codec",
        "",
        " ",
        "utf-8\x00",
    ],
)
def test_only_text_encodings_are_accepted(charset):
    with pytest.raises(CSVEncodingError) as info:
        CSVRows(io.BytesIO(b"a\n1\n"), encoding=charset)
    assert info.value.status_code == 400
    assert info.value.get_codes() == "csv_encoding"


@pytest.mark.parametrize(
    ("charset", "codec", "name"),
    [
        ("latin-1", "latin-1", "José"),
        ("ISO-8859-1", "latin-1", "José"),
        ("l1", "latin-1", "José"),
        ("windows-1252", "cp1252", "José €"),
        ("iso-8859-15", "iso-8859-15", "José €"),
        ("UTF8", "utf-8", "José"),
        ("utf-16", "utf-16", "José"),
        ("UTF-16BE", "utf-16-be", "José"),
        ("utf-32", "utf-32", "José"),
        ("cp932", "cp932", "東京"),
        ("gb18030", "gb18030", "北京"),
        (b"latin-1", "latin-1", "José"),
    ],
)
def test_text_encodings_by_any_name(charset, codec, name):
    data = f"name\n{name}\n".encode(codec)
    assert rows_of(data, encoding=charset) == [{"name": name}]


def test_byte_order_mark_is_dropped_in_utf16_le_too():
    data = "\ufeffname,note\nx,\ufeffy\n".encode("utf-16-le")
    rows = CSVRows(io.BytesIO(data), encoding="utf-16-le")
    assert rows.fieldnames == ["name", "note"]
    # Only the mark at the very start is dropped.
    assert list(rows) == [{"name": "x", "note": "\ufeffy"}]


def test_utf16_without_byte_order_mark_is_refused_with_a_hint():
    exc = error_of("name\nx\n".encode("utf-16-le"), encoding="utf-16")
    assert exc.get_codes() == "csv_encoding"
    assert "utf-16-le" in str(exc.detail)


@pytest.mark.parametrize(
    ("encoding", "bad"),
    [
        # Undecodable bytes below 0x80, which surrogateescape cannot carry.
        ("utf-16-le", b"\x00\xd8"),
        ("utf-32-le", b"\x00\x00\x11\x00"),
        ("utf-8", b"\xed\xa0\x80"),
        ("ascii", b"\xff"),
        ("cp932", b"\x81"),
    ],
)
def test_undecodable_text_names_its_line_in_any_encoding(encoding, bad):
    data = "a\nx\n".encode(encoding) + bad + "\ny\n".encode(encoding)
    exc = error_of(data, encoding=encoding)
    assert isinstance(exc, CSVEncodingError)
    assert exc.line == 3


def test_nul_character_is_refused_with_its_line():
    exc = error_of(b"a,b\n1,2\n3,x\x00y\n")
    assert isinstance(exc, CSVEncodingError)
    assert exc.get_codes() == "csv_encoding"
    assert exc.line == 3
    assert "UTF-16" in str(exc.detail)


def test_utf16_sent_as_utf8_is_refused_not_read_as_garbage():
    exc = error_of("a,b\n1,2\n".encode("utf-16-le"))
    assert exc.get_codes() == "csv_encoding"
    assert exc.line == 1


class TripleCodec(codecs.Codec):
    """A test codec whose text is three times longer than its bytes."""

    @staticmethod
    def decode(data, errors="strict"):
        return "".join(chr(byte) * 3 for byte in bytes(data)), len(data)

    @staticmethod
    def encode(text, errors="strict"):
        return text[::3].encode("latin-1"), len(text)


def _find_triple(name):
    if name != "test_triple":
        return None
    return codecs.CodecInfo(
        TripleCodec.encode,
        TripleCodec.decode,
        incrementaldecoder=type(
            "Decoder",
            (codecs.IncrementalDecoder,),
            {"decode": lambda self, data, final=False: TripleCodec.decode(data)[0]},
        ),
        name="test_triple",
    )


class TripleCSVRows(CSVRows):
    allowed_encodings = CSVRows.allowed_encodings | {"test_triple"}


@pytest.fixture
def triple_codec():
    codecs.register(_find_triple)
    yield "test_triple"
    codecs.unregister(_find_triple)


def test_the_size_limit_applies_to_the_decoded_text(triple_codec):
    # 100 bytes become 300 characters: under the byte limit, over the text limit.
    data = b"a\n" + b"x\n" * 49
    assert len(TripleCSVRows(io.BytesIO(data), encoding=triple_codec).fieldnames[0]) == 3
    with pytest.raises(CSVTooLargeError) as info:
        list(TripleCSVRows(io.BytesIO(data), encoding=triple_codec, max_size=200))
    assert info.value.status_code == 413
    assert info.value.get_codes() == "csv_too_large"
    assert "200 characters" in str(info.value.detail)
    assert len(list(TripleCSVRows(io.BytesIO(data), encoding=triple_codec, max_size=300))) == 49


def test_wide_encodings_count_the_same_limit():
    data = "a\n" + "x\n" * 100
    assert len(rows_of(data.encode("utf-32"), encoding="utf-32", max_size=1000)) == 100
    with pytest.raises(CSVTooLargeError):
        rows_of(data.encode("utf-32"), encoding="utf-32", max_size=400)


# Escaped cells


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("'=SUM(A1)", "=SUM(A1)"),
        ("'+1", "+1"),
        ("'-1+cmd", "-1+cmd"),
        ("'@x", "@x"),
        ('"\'\tx"', "\tx"),
        ('"\'\rx"', "\rx"),
        ("''x", "'x"),
        ("'''", "''"),
        ("'#N/A", "#N/A"),
        ("'plain", "'plain"),
        ("'", "'"),
        ("-5", "-5"),
        ("=1", "=1"),
    ],
)
def test_one_escaping_quote_is_removed(cell, value):
    assert rows_of(f"a,b\n{cell},1\n".encode()) == [{"a": value, "b": "1"}]


def test_escaped_null_token_follows_the_views_token():
    assert rows_of(b"a,b\n'NULL,NULL\n", null_value="NULL") == [{"a": "NULL", "b": None}]
    assert rows_of(b"a\n'#N/A\n", null_value="NULL") == [{"a": "'#N/A"}]


def test_header_names_are_unescaped_too():
    assert CSVRows(io.BytesIO(b"'=cmd,''q\n")).fieldnames == ["=cmd", "'q"]


# Media type parameters


@pytest.mark.parametrize(
    "media_type",
    [
        "text/csv; charset=utf-8; charset=rot13",
        "text/csv; charset=rot13; charset=utf-8",
        'text/csv; delimiter=";"; delimiter=","',
    ],
)
def test_a_parameter_given_twice_is_refused(media_type):
    with pytest.raises(CSVError) as info:
        CSVParser().parse(io.BytesIO(b"a\n1\n"), media_type, {})
    assert info.value.status_code == 400
    assert "more than once" in str(info.value.detail)


def test_an_unreadable_media_type_is_a_400():
    media_type = "text/csv; charset*=bogus''utf-8"
    if django.VERSION < (5, 0):
        # Django 4.2 reads an RFC 2231 parameter with an unknown charset as
        # its bare value: the body is then UTF-8, as the parameter says.
        assert list(CSVParser().parse(io.BytesIO(b"a\n1\n"), media_type, {})) == [{"a": "1"}]
        return
    with pytest.raises(CSVError) as info:
        CSVParser().parse(io.BytesIO(b"a\n1\n"), media_type, {})
    assert info.value.get_codes() == "csv_invalid"


def test_upload_charset_from_the_part_or_the_form():
    content = "name\nJosé\n".encode("latin-1")
    file = SimpleUploadedFile("data.csv", content, content_type="text/csv")
    # Django's multipart parser gives the part's charset as bytes.
    file.charset = b"latin-1"
    assert list(csv_rows_from_upload(file)) == [{"name": "José"}]
    file = SimpleUploadedFile("data.csv", content, content_type="text/csv")
    assert list(csv_rows_from_upload(file, data={"charset": "latin-1"})) == [{"name": "José"}]
    file = SimpleUploadedFile("data.csv", content, content_type="text/csv")
    file.charset = b"rot13"
    with pytest.raises(CSVEncodingError):
        csv_rows_from_upload(file)
