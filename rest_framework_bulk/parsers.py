"""
Streaming CSV input for bulk requests.

A CSV body (``Content-Type: text/csv``) or an uploaded CSV file
(``multipart/form-data`` with a ``file`` part) becomes a :class:`CSVRows`: a
lazy, one-pass iterator of :class:`CSVRow` dicts. Nothing is read before it is
needed, so memory does not grow with the size of the file, and the size limit
is enforced while the bytes are read, not after the fact.

Each row maps the header's field names to the cell values:

* an empty cell is left out of the row, so a partial update leaves that field
  unchanged;
* the null token (``#N/A`` by default) becomes ``None``;
* any other cell is kept as the string it is.

Every row remembers the physical line it started on (``row.line``), so errors
found later, by a serializer for instance, can point the client at the line.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator, Mapping
from typing import IO, Any, NoReturn

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from django.utils.encoding import force_str
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser, DataAndFiles, MultiPartParser

__all__ = [
    "CSV_DELIMITERS",
    "DEFAULT_CSV_MAX_FILE_SIZE",
    "DEFAULT_CSV_NULL_VALUE",
    "CSVEncodingError",
    "CSVError",
    "CSVHeaderError",
    "CSVMultiPartParser",
    "CSVParser",
    "CSVRow",
    "CSVRows",
    "CSVTooLargeError",
    "CSVTooManyCellsError",
    "CSVUploadSizeLimitHandler",
    "TSVParser",
    "csv_rows_from_upload",
    "iter_csv",
    "read_uploaded_csv",
    "too_large_error",
]

#: Used when a view sets no ``csv_max_file_size``: 10 MiB.
DEFAULT_CSV_MAX_FILE_SIZE = 10 * 1024 * 1024

#: Used when a view sets no ``csv_null_value``: what spreadsheets write for "no value".
DEFAULT_CSV_NULL_VALUE = "#N/A"

#: The delimiters a client may choose, by the spellings it may use.
CSV_DELIMITERS = {",": ",", ";": ";", "|": "|", "\t": "\t", "\\t": "\t", "tab": "\t"}

# The csv module refuses cells over 128 KiB by default, far less than a file we
# accept. A cell can never be larger than the file, whose size is capped, so
# raise the process-wide limit once (and never lower what someone else set).
_FIELD_SIZE_LIMIT = 64 * 1024 * 1024
if csv.field_size_limit() < _FIELD_SIZE_LIMIT:
    csv.field_size_limit(_FIELD_SIZE_LIMIT)

_CHUNK_SIZE = 64 * 1024
# Undecodable bytes come out of the decoder as lone surrogates (surrogateescape),
# which lets us report the exact line instead of the chunk that held them.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


class CSVError(exceptions.ParseError):
    """
    The CSV input cannot be read. ``line`` and ``column`` (1-based, or ``None``)
    say where; ``detail`` says it in words and carries a stable ``code``.
    """

    default_detail = _("Malformed CSV.")
    default_code = "csv_invalid"

    def __init__(
        self, detail=None, code=None, *, line: int | None = None, column: int | None = None
    ):
        super().__init__(detail, code)
        self.line = line
        self.column = column


class CSVEncodingError(CSVError):
    default_detail = _("The CSV file is not valid text in its encoding.")
    default_code = "csv_encoding"


class CSVHeaderError(CSVError):
    default_detail = _("The CSV header is not valid.")
    default_code = "csv_header"


class CSVTooManyCellsError(CSVError):
    default_detail = _("A CSV row has more cells than the header has names.")
    default_code = "csv_too_many_cells"


class CSVTooLargeError(CSVError):
    """Raised with status 413 as soon as more than the allowed bytes have been read."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The CSV file is too large.")
    default_code = "csv_too_large"


class CSVRow(dict):
    """A dict of one CSV record's values, with the ``line`` it starts on."""

    __slots__ = ("line",)

    def __init__(self, data: Any = (), line: int | None = None):
        super().__init__(data)
        self.line = line

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)}, line={self.line})"


class _CountingReader(io.RawIOBase):
    """Reads a binary stream in chunks and stops once ``max_size`` bytes are exceeded."""

    def __init__(self, stream: IO[bytes], max_size: int | None, on_too_large):
        self._stream = stream
        self._max_size = max_size
        self._on_too_large = on_too_large
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = len(buffer)
        if self._max_size is not None:
            # One byte past the limit is enough to know it has been exceeded.
            size = min(size, self._max_size + 1 - self.bytes_read)
        data = self._stream.read(size) if size > 0 else b""
        if isinstance(data, str):
            raise TypeError("CSV input must be a binary stream; open files in 'rb' mode.")
        self.bytes_read += len(data)
        if self._max_size is not None and self.bytes_read > self._max_size:
            self._on_too_large()
        buffer[: len(data)] = data
        return len(data)


class CSVRows(Iterator[CSVRow]):
    """
    A lazy, one-pass iterator of :class:`CSVRow` read from a binary stream.

    The header line is read when the object is created, so a bad header is
    reported at once and ``fieldnames`` is available before the first row.
    Rows are then read one at a time as you iterate; like a file, the object
    can be iterated only once.

        rows = CSVRows(request.stream, delimiter=";", max_size=1024 * 1024)
        for row in rows:
            serializer = ItemSerializer(data=row)
            if not serializer.is_valid():
                errors.append({"line": row.line, "errors": serializer.errors})

    Reading raises a :class:`CSVError` subclass whose ``detail`` names the line
    (and the column when there is one): rows yielded before the error may
    already have been used, so validate or write inside a transaction if the
    whole file must succeed or fail together.

    Override ``default_error_messages`` in a subclass to change the wording;
    the codes stay the same.
    """

    default_error_messages = {
        "delimiter": _('"{delimiter}" is not a supported CSV delimiter. Use one of: , ; | tab.'),
        "encoding": _('"{encoding}" is not a supported text encoding.'),
        "decode": _("Line {line} is not valid {encoding} text."),
        "invalid": _("Line {line}: malformed CSV ({error})."),
        "empty": _("The CSV file is empty; its first line must name the fields."),
        "blank_header": _("Line {line}, column {column}: the header has a blank field name."),
        "duplicate_header": _(
            'Line {line}, column {column}: the field name "{name}" appears more than once.'
        ),
        "too_many_cells": _(
            "Line {line}, column {column}: the row has {count} cells but the header names {expected} fields."
        ),
        "too_large": _("The CSV file is larger than the limit of {max_size} bytes."),
        "no_file": _("No file was submitted."),
    }
    error_classes = {
        "delimiter": CSVError,
        "encoding": CSVEncodingError,
        "decode": CSVEncodingError,
        "invalid": CSVError,
        "empty": CSVHeaderError,
        "blank_header": CSVHeaderError,
        "duplicate_header": CSVHeaderError,
        "too_many_cells": CSVTooManyCellsError,
        "too_large": CSVTooLargeError,
    }

    def __init__(
        self,
        stream: IO[bytes],
        *,
        delimiter: str = ",",
        encoding: str = "utf-8",
        max_size: int | None = None,
        null_value: str | None = DEFAULT_CSV_NULL_VALUE,
        first_line: int = 1,
        close_stream: bool = False,
    ):
        self.delimiter = self._get_delimiter(delimiter)
        self.encoding = self._get_encoding(encoding)
        self.max_size = max_size
        self.null_value = null_value
        #: The number of the last physical line read so far.
        self.line = first_line - 1
        #: The other form fields, when the rows come from a multipart upload.
        self.form: Mapping[str, Any] | None = None
        self._stream = stream
        self._close_stream = close_stream
        self._raw = _CountingReader(stream, max_size, self._too_large)
        text = io.TextIOWrapper(
            io.BufferedReader(self._raw, _CHUNK_SIZE),
            encoding=self.encoding,
            errors="surrogateescape",
            newline="",
        )
        self._reader = csv.reader(self._iter_lines(text), delimiter=self.delimiter, strict=True)
        self._done = False
        try:
            self.fieldnames: list[str] = self._read_header()
        except Exception:
            self.close()
            raise

    @property
    def bytes_read(self) -> int:
        """How many bytes have been taken from the stream (reading is buffered)."""
        return self._raw.bytes_read

    def close(self) -> None:
        """Stop reading; the stream is closed too if ``close_stream`` was set."""
        self._done = True
        if self._close_stream:
            self._stream.close()

    def fail(self, key: str, **kwargs: Any) -> NoReturn:
        """Raise the error for ``key`` from ``default_error_messages``."""
        message = force_str(self.default_error_messages[key]).format(**kwargs)
        raise self.error_classes[key](message, line=kwargs.get("line"), column=kwargs.get("column"))

    def __iter__(self) -> CSVRows:
        return self

    def __next__(self) -> CSVRow:
        while not self._done:
            start = self.line + 1
            cells = self._next_record()
            if cells is None:
                break
            if any(cells):
                try:
                    return self._make_row(cells, start)
                except CSVError:
                    self.close()
                    raise
        self.close()
        raise StopIteration

    def _get_delimiter(self, delimiter: str) -> str:
        if delimiter not in CSV_DELIMITERS:
            self.fail("delimiter", delimiter=str(delimiter)[:20])
        return CSV_DELIMITERS[delimiter]

    def _get_encoding(self, encoding: str) -> str:
        try:
            name = codecs.lookup(encoding).name
        except (LookupError, TypeError, ValueError):
            self.fail("encoding", encoding=str(encoding)[:40])
        # A byte order mark is only meaningful at the very start of the file;
        # utf-8-sig drops it there and nowhere else.
        return "utf-8-sig" if name in ("utf-8", "utf-8-sig") else name

    def _too_large(self) -> NoReturn:
        raise too_large_error(self.max_size)

    def _iter_lines(self, text: io.TextIOWrapper) -> Iterator[str]:
        for line in text:
            self.line += 1
            if _UNDECODABLE.search(line):
                self.fail(
                    "decode", line=self.line, encoding=self.encoding.replace("-sig", "").upper()
                )
            yield line

    def _next_record(self) -> list[str] | None:
        start = self.line + 1
        try:
            return next(self._reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            self.close()
            self.fail("invalid", line=start, error=str(exc))
        except Exception:
            # A size or encoding error: the stream is left mid-way, stop here.
            self.close()
            raise

    def _read_header(self) -> list[str]:
        while True:
            start = self.line + 1
            cells = self._next_record()
            if cells is None:
                self.fail("empty")
            if any(cell.strip() for cell in cells):
                break
        names = [cell.strip() for cell in cells]
        seen = set()
        for column, name in enumerate(names, start=1):
            if not name:
                self.fail("blank_header", line=start, column=column)
            if name in seen:
                self.fail("duplicate_header", line=start, column=column, name=name[:100])
            seen.add(name)
        return names

    def _make_row(self, cells: list[str], line: int) -> CSVRow:
        # Spreadsheets sometimes end rows with empty cells past the last
        # column; only a cell that would be dropped with its value is an error.
        for column in range(len(self.fieldnames) + 1, len(cells) + 1):
            if cells[column - 1]:
                self.fail(
                    "too_many_cells",
                    line=line,
                    column=column,
                    count=len(cells),
                    expected=len(self.fieldnames),
                )
        row = CSVRow(line=line)
        for name, cell in zip(self.fieldnames, cells):
            if cell == "":
                continue
            row[name] = None if cell == self.null_value else cell
        return row


def too_large_error(max_size: int | None) -> CSVTooLargeError:
    """The 413 error for a CSV file larger than ``max_size`` bytes."""
    message = force_str(CSVRows.default_error_messages["too_large"]).format(max_size=max_size)
    return CSVTooLargeError(message)


def iter_csv(
    stream: IO[bytes],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    max_size: int | None = None,
    null_value: str | None = DEFAULT_CSV_NULL_VALUE,
    first_line: int = 1,
) -> Iterator[CSVRow]:
    """
    Yield the rows of a CSV file read incrementally from a binary stream.

    Unlike :class:`CSVRows`, nothing at all is read, not even the header,
    until the first row is asked for. See :class:`CSVRows` for the arguments
    and the errors raised.
    """
    yield from CSVRows(
        stream,
        delimiter=delimiter,
        encoding=encoding,
        max_size=max_size,
        null_value=null_value,
        first_line=first_line,
    )


def _view_option(view: Any, name: str, default: Any) -> Any:
    # A get_<name>() method (which can read settings per request), else the attribute.
    getter = getattr(view, f"get_{name}", None)
    return getter() if callable(getter) else getattr(view, name, default)


class CSVParser(BaseParser):
    """
    Parses a ``text/csv`` request body into a lazy :class:`CSVRows`.

    The client may choose the delimiter and the encoding with media type
    parameters, e.g. ``Content-Type: text/csv; delimiter=";"; charset=latin-1``
    (``,`` ``;`` ``|`` and ``tab`` are accepted). The view may set, as an
    attribute or as a ``get_<name>()`` method (to read settings per request):

    * ``csv_max_file_size``: the largest body accepted, in bytes (10 MiB by
      default; ``None`` for no limit). A larger body gets a 413;
    * ``csv_null_value``: the cell text that means ``None`` (``"#N/A"``).

    ``request.data`` is then the iterator of rows; iterate it once. A
    request with an empty body never reaches the parser: DRF makes
    ``request.data`` an empty dict.
    """

    media_type = "text/csv"
    delimiter = ","
    max_file_size: int | None = DEFAULT_CSV_MAX_FILE_SIZE
    null_value: str | None = DEFAULT_CSV_NULL_VALUE

    def parse(self, stream, media_type=None, parser_context=None) -> CSVRows:
        view = (parser_context or {}).get("view")
        params = parse_header_parameters(media_type or self.media_type)[1]
        return CSVRows(
            stream,
            delimiter=params.get("delimiter", self.delimiter),
            encoding=params.get("charset", "utf-8"),
            max_size=_view_option(view, "csv_max_file_size", self.max_file_size),
            null_value=_view_option(view, "csv_null_value", self.null_value),
        )


class TSVParser(CSVParser):
    """Parses ``text/tab-separated-values``: a CSV body whose delimiter is a tab."""

    media_type = "text/tab-separated-values"
    delimiter = "\t"


class CSVUploadSizeLimitHandler(FileUploadHandler):
    """
    Stops an upload as soon as the file part ``field_name`` grows past
    ``max_size`` bytes, while it is being received. Django applies no size
    limit of its own to file parts (``DATA_UPLOAD_MAX_MEMORY_SIZE`` does not
    cover them).
    """

    def __init__(self, request=None, *, field_name: str = "file", max_size: int | None = None):
        super().__init__(request)
        self.limit_field_name = field_name
        self.max_size = max_size
        self.size = 0

    def new_file(self, field_name, *args, **kwargs):
        super().new_file(field_name, *args, **kwargs)
        self.size = 0

    def receive_data_chunk(self, raw_data, start):
        if self.field_name == self.limit_field_name and self.max_size is not None:
            self.size += len(raw_data)
            if self.size > self.max_size:
                raise too_large_error(self.max_size)
        return raw_data

    def file_complete(self, file_size):
        return None


def _get_upload_delimiter(uploaded, data: Mapping | None, default: str) -> str:
    delimiter = data.get("delimiter") if data is not None and hasattr(data, "get") else None
    if delimiter:
        return delimiter
    content_type = (getattr(uploaded, "content_type", "") or "").lower()
    name = (getattr(uploaded, "name", "") or "").lower()
    if content_type == TSVParser.media_type or name.endswith(".tsv"):
        return "\t"
    return default


def csv_rows_from_upload(
    uploaded,
    *,
    data: Mapping | None = None,
    view: Any = None,
    delimiter: str = ",",
    max_size: int | None = DEFAULT_CSV_MAX_FILE_SIZE,
    null_value: str | None = DEFAULT_CSV_NULL_VALUE,
) -> CSVRows:
    """
    Stream the rows of an uploaded CSV file (a Django ``UploadedFile``).
    The file is closed (and a temporary file deleted) once the rows have
    been read or an error was raised; the other form fields are ``rows.form``.

    The delimiter comes from the ``delimiter`` form field in ``data`` when
    there is one, then from a ``.tsv`` name or content type, then ``delimiter``.
    The view's ``csv_max_file_size`` and ``csv_null_value`` win over the
    ``max_size`` and ``null_value`` arguments.
    """
    max_size = _view_option(view, "csv_max_file_size", max_size)
    if max_size is not None and uploaded.size is not None and uploaded.size > max_size:
        raise too_large_error(max_size)
    if hasattr(uploaded, "seek"):
        uploaded.seek(0)
    rows = CSVRows(
        uploaded,
        delimiter=_get_upload_delimiter(uploaded, data, delimiter),
        encoding=getattr(uploaded, "charset", None) or "utf-8",
        max_size=max_size,
        null_value=_view_option(view, "csv_null_value", null_value),
        close_stream=True,
    )
    rows.form = data
    return rows


class CSVMultiPartParser(MultiPartParser):
    """
    Parses ``multipart/form-data`` and, when it holds a ``file`` part, returns
    that file's rows as a :class:`CSVRows` (so ``request.data`` is the rows
    and ``request.data.form`` the other form fields). A form without that
    part is parsed as usual.

    The view's ``csv_max_file_size`` is enforced while the upload is received,
    and the optional ``delimiter`` form field chooses the delimiter.
    """

    file_field = "file"
    delimiter = ","
    max_file_size: int | None = DEFAULT_CSV_MAX_FILE_SIZE
    null_value: str | None = DEFAULT_CSV_NULL_VALUE

    def get_upload_handlers(self, request, view) -> list[FileUploadHandler]:
        """The request's upload handlers, behind one that enforces the size limit."""
        limit = CSVUploadSizeLimitHandler(
            request,
            field_name=self.file_field,
            max_size=_view_option(view, "csv_max_file_size", self.max_file_size),
        )
        return [limit, *request.upload_handlers]

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        view = parser_context.get("view")
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            parser = DjangoMultiPartParser(
                meta, stream, self.get_upload_handlers(request, view), encoding
            )
            data, files = parser.parse()
        except MultiPartParserError as exc:
            raise exceptions.ParseError(f"Multipart form parse error - {exc}") from exc
        uploaded = files.get(self.file_field)
        if uploaded is None:
            return DataAndFiles(data, files)
        return csv_rows_from_upload(
            uploaded,
            data=data,
            view=view,
            delimiter=self.delimiter,
            max_size=self.max_file_size,
            null_value=self.null_value,
        )


def read_uploaded_csv(request, view: Any = None, *, field_name: str = "file") -> CSVRows:
    """
    The rows of the CSV file uploaded in ``request`` under ``field_name``.

    Works whether the request was parsed by :class:`CSVMultiPartParser` (the
    rows are already ``request.data``) or by DRF's ``MultiPartParser``. A
    request without the file part gets a 400 with code ``required``.
    """
    data = request.data
    if isinstance(data, CSVRows):
        return data
    uploaded = request.FILES.get(field_name) if hasattr(request, "FILES") else None
    if uploaded is None:
        message = force_str(CSVRows.default_error_messages["no_file"])
        raise exceptions.ValidationError(
            {field_name: [exceptions.ErrorDetail(message, code="required")]}
        )
    # request.POST holds the form fields alone (request.data has the files too).
    return csv_rows_from_upload(uploaded, data=getattr(request, "POST", data), view=view)
