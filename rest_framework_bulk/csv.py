"""
CSV in and out: the one place that knows how a CSV file maps to items.

Reading (``CSVRows``, ``csv_rows_from_upload()``) and writing
(``format_csv_cell()``, ``iter_csv_rows()``) follow one set of rules, so that
a file written here reads back as the same rows. The DRF classes built on
them are :mod:`rest_framework_bulk.parsers` (``CSVParser``, ``TSVParser``,
``CSVMultiPartParser``) and :mod:`rest_framework_bulk.renderers`
(``CSVRenderer``); the job result files are written with them too.

Reading
-------
Streaming CSV input for bulk requests.

A CSV body (``Content-Type: text/csv``) or an uploaded CSV file
(``multipart/form-data`` with a ``file`` part) becomes a :class:`CSVRows`: a
lazy, one-pass iterator of :class:`CSVRow` dicts. Nothing is read before it is
needed, so memory does not grow with the size of the file, and the size limit
is enforced while the bytes are read, not after the fact.

Each row maps the header's field names to the cell values:

* an empty cell is left out of the row (the value is "not given"), so a
  partial update leaves that field unchanged; a row whose cells are all empty
  is skipped;
* the null token (``#N/A`` by default) becomes ``None``;
* a cell that starts with ``'`` followed by ``=``, ``+``, ``-``, ``@``, a
  tab, a carriage return or another ``'``, or followed by exactly the null
  token, loses that one ``'``: ``'=SUM(A1)`` reads as ``=SUM(A1)``, ``''x``
  as ``'x`` and ``'#N/A`` as the text ``#N/A``. This undoes the escaping of
  :mod:`rest_framework_bulk.renderers`, so a file written there reads back as
  the same rows; header names are read the same way;
* any other cell is kept as the string it is (``-5`` stays ``-5``).

Every row remembers the physical line it started on (``row.line``), so errors
found later, by a serializer for instance, can point the client at the line.

Only text encodings from :data:`CSV_ENCODINGS` are accepted, and text holding
a NUL character or bytes that are not valid in the encoding is refused with
the line it is on.

Writing
-------
CSV output.

:class:`CSVRenderer` renders a response's rows as ``text/csv``;
:func:`iter_csv_rows` yields the same bytes line by line for a
``StreamingHttpResponse`` or a file written in pieces. Both share one cell
formatter, which defends spreadsheets against formula injection.

Cells are written as follows:

* ``None`` is the null token (for :class:`CSVRenderer` the view's
  ``csv_null_value``, ``#N/A`` by default; for :func:`iter_csv_rows` and
  :func:`format_csv_cell` their ``null_value`` argument, without which it is
  an empty cell), which the parser reads back as ``None``;
* a key the row does not have is an empty cell, which the parser reads back
  as "not given" (the field is left out of the row);
* ``True``/``False`` are ``true``/``false``;
* numbers, dates, times, UUIDs and the like are written as DRF's JSON encoder
  writes them (without the quotes);
* dicts and lists are written as compact JSON;
* text that a spreadsheet would run as a formula (starting with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return) gets a leading ``'``, which
  spreadsheets show as plain text. Plain numbers such as ``-25.75`` or
  ``+1e3`` are left alone, since a spreadsheet reads them as numbers, not
  formulas, and escaping them would turn numbers into text; ``-1+cmd`` is
  not a plain number and is escaped;
* so that the escaping can be undone, text that starts with ``'`` itself, and
  text equal to the null token, get a leading ``'`` too (``'x`` is written
  ``''x``, the text ``#N/A`` is written ``'#N/A``);
* lone surrogates, which no encoding can write, and NUL characters, which
  CSV cannot carry, become U+FFFD.

Reading a file written here with
:class:`~rest_framework_bulk.parsers.CSVParser` (same delimiter, same null
token) gives back the same rows: the parser removes one leading ``'`` where
this module added it. The one exception is the empty string, which is
written as an empty cell and so reads back as "not given", like a key the
row does not have (and a row of nothing else is skipped). Strings that are
not text cannot make the trip: lone surrogates are written as U+FFFD, and
the parser refuses a NUL character. ``escape_formulas=False`` writes
formulas as they are but keeps the other two rules, so its output reads
back the same way too.
"""

from __future__ import annotations

import codecs
import csv
import decimal
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from email.message import Message
from typing import IO, Any, NoReturn, cast

from django.utils.http import parse_header_parameters
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy
from rest_framework import exceptions, status
from rest_framework.utils.encoders import JSONEncoder

from .settings import FROM_SETTINGS, get_view_option

__all__ = [
    "CSV_DELIMITERS",
    "CSV_ENCODINGS",
    "CSV_ESCAPE",
    "CSV_ESCAPED_PREFIXES",
    "DEFAULT_CSV_MAX_FILE_SIZE",
    "DEFAULT_CSV_NULL_VALUE",
    "CSVEncodingError",
    "CSVError",
    "CSVHeaderError",
    "CSVRow",
    "CSVRows",
    "CSVTooLargeError",
    "CSVTooManyCellsError",
    "CSVTruncatedError",
    "csv_error",
    "csv_rows_from_upload",
    "escape_formula",
    "format_csv_cell",
    "get_csv_header",
    "iter_csv",
    "iter_csv_rows",
    "media_type_params",
    "too_large_error",
    "unescape_cell",
]

#: Used when a view sets no ``csv_max_file_size``: 10 MiB.
DEFAULT_CSV_MAX_FILE_SIZE = 10 * 1024 * 1024

#: Used when a view sets no ``csv_null_value``: what spreadsheets write for "no value".
DEFAULT_CSV_NULL_VALUE = "#N/A"

#: The media type of a tab-separated body or file.
TSV_MEDIA_TYPE = "text/tab-separated-values"

#: The delimiters a client may choose, by the spellings it may use.
CSV_DELIMITERS = {",": ",", ";": ";", "|": "|", "\t": "\t", "\\t": "\t", "tab": "\t"}

#: The encodings a client may name in ``charset``, as ``codecs.lookup(name).name``
#: spells them (so ``latin-1``, ``ISO-8859-1`` and ``l1`` are all ``iso8859-1``).
#: All are plain text encodings whose decoded text is never longer than its
#: bytes; codecs such as ``rot13``, ``base64``, ``zlib``, ``idna`` or
#: ``unicode_escape`` are refused.
CSV_ENCODINGS = frozenset(
    {
        # Unicode. utf-16 and utf-32 need a byte order mark; -le/-be do not.
        "utf-8",
        "utf-8-sig",
        "utf-16",
        "utf-16-le",
        "utf-16-be",
        "utf-32",
        "utf-32-le",
        "utf-32-be",
        # What spreadsheets save "CSV" as in Western, Central and Eastern Europe.
        "ascii",
        "iso8859-1",
        "iso8859-2",
        "iso8859-15",
        "cp1250",
        "cp1251",
        "cp1252",
        "mac-roman",
        # ... and in East Asia.
        "shift_jis",
        "cp932",
        "euc_jp",
        "gb2312",
        "gbk",
        "gb18030",
        "big5",
        "euc_kr",
    }
)

#: The character that escapes a cell, as spreadsheets use it to mean "text".
CSV_ESCAPE = "'"
#: A cell starting with one of these is written with a leading ``'``, and a
#: cell starting with ``'`` and then one of these is read without it.
CSV_ESCAPED_PREFIXES = ("=", "+", "-", "@", "\t", "\r", CSV_ESCAPE)

# The csv module refuses cells over 128 KiB by default, far less than a file we
# accept. A cell can never be larger than the file, whose size is capped, so
# raise the process-wide limit once (and never lower what someone else set).
_FIELD_SIZE_LIMIT = 64 * 1024 * 1024
if csv.field_size_limit() < _FIELD_SIZE_LIMIT:
    csv.field_size_limit(_FIELD_SIZE_LIMIT)

_CHUNK_SIZE = 64 * 1024

# Undecodable bytes come out of the decoder as a lone surrogate, which no
# encoding in CSV_ENCODINGS ever decodes to; that lets us report the exact
# line instead of the chunk that held them. (Python's surrogateescape cannot
# stand in for bytes below 0x80, which UTF-16 and UTF-32 errors may hold.)
_UNDECODABLE_ERRORS = "rest_framework_bulk.undecodable"
_UNDECODABLE_MARK = "\udcff"


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    if isinstance(error, UnicodeDecodeError):
        return _UNDECODABLE_MARK, error.end
    raise error


codecs.register_error(_UNDECODABLE_ERRORS, _mark_undecodable)
# A NUL never belongs in CSV text: it is most often a UTF-16 file sent as UTF-8.
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


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
    """Raised with status 413 as soon as more than the allowed bytes (or characters) are read."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The CSV file is too large.")
    default_code = "csv_too_large"


class CSVTruncatedError(CSVError):
    """A multipart upload that ends before its closing boundary."""

    default_detail = _("The upload ended before its closing boundary.")
    default_code = "csv_truncated"


def unescape_cell(cell: str, null_value: str | None = None) -> str:
    """
    ``cell`` without the ``'`` that :func:`~rest_framework_bulk.renderers.format_csv_cell`
    puts in front of text a spreadsheet could run or read otherwise.

    >>> unescape_cell("'=SUM(A1)")
    '=SUM(A1)'
    >>> unescape_cell("''x")
    "'x"
    >>> unescape_cell("'#N/A", "#N/A")
    '#N/A'
    >>> unescape_cell("'plain")
    "'plain"
    """
    if cell.startswith(CSV_ESCAPE):
        rest = cell[1:]
        if rest.startswith(CSV_ESCAPED_PREFIXES) or (null_value and rest == null_value):
            return rest
    return cell


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

    ``encoding`` must be one of ``allowed_encodings`` (:data:`CSV_ENCODINGS`
    unless a subclass says otherwise), compared as ``codecs.lookup()`` names
    them. A byte order mark at the very start is dropped; elsewhere it is
    kept as the character it is. ``max_size`` bounds the bytes read and the
    characters they decode to.

    Override ``default_error_messages`` in a subclass to change the wording;
    the codes stay the same.
    """

    allowed_encodings: frozenset[str] = CSV_ENCODINGS
    default_error_messages = {
        "delimiter": _('"{delimiter}" is not a supported CSV delimiter. Use one of: , ; | tab.'),
        "encoding": _(
            '"{encoding}" is not a supported text encoding. Use utf-8, utf-16, latin-1, '
            "cp1252 or another common text encoding."
        ),
        "decode": _("Line {line} is not valid {encoding} text."),
        "bom": _(
            "A {encoding} file must start with a byte order mark; name the byte order "
            "instead: charset={encoding}-le or charset={encoding}-be."
        ),
        "nul": _(
            "Line {line} holds a NUL character, which CSV text may not contain. "
            "If the file is UTF-16, send charset=utf-16."
        ),
        "repeated_parameter": _('The media type gives "{name}" more than once.'),
        "media_type": _("The media type's parameters cannot be read."),
        "truncated": _("The upload ended before its closing boundary; send it again."),
        "invalid": _("Line {line}: malformed CSV ({error})."),
        "empty": _("The CSV file is empty; its first line must name the fields."),
        "blank_header": _("Line {line}, column {column}: the header has a blank field name."),
        "duplicate_header": _(
            'Line {line}, column {column}: the field name "{name}" appears more than once.'
        ),
        # More cells than names: the header's count is the one that may be 1.
        "too_many_cells": ngettext_lazy(
            "Line {line}, column {column}: the row has {count} cells but the header names {expected} field.",
            "Line {line}, column {column}: the row has {count} cells but the header names {expected} fields.",
            "expected",
        ),
        "too_large": _("The CSV file is larger than the limit of {max_size} bytes."),
        "too_long": _("The CSV text is longer than the limit of {max_size} characters."),
        "no_file": _("No file was submitted."),
    }
    error_classes = {
        "delimiter": CSVError,
        "encoding": CSVEncodingError,
        "decode": CSVEncodingError,
        "bom": CSVEncodingError,
        "nul": CSVEncodingError,
        "repeated_parameter": CSVError,
        "media_type": CSVError,
        "truncated": CSVTruncatedError,
        "invalid": CSVError,
        "empty": CSVHeaderError,
        "blank_header": CSVHeaderError,
        "duplicate_header": CSVHeaderError,
        "too_many_cells": CSVTooManyCellsError,
        "too_large": CSVTooLargeError,
        "too_long": CSVTooLargeError,
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
        #: The number of characters decoded so far.
        self.chars_read = 0
        #: The other form fields, when the rows come from a multipart upload.
        self.form: Mapping[str, Any] | None = None
        self._stream = stream
        self._close_stream = close_stream
        self._raw = _CountingReader(stream, max_size, self._too_large)
        text = io.TextIOWrapper(
            io.BufferedReader(self._raw, _CHUNK_SIZE),
            encoding=self.encoding,
            errors=_UNDECODABLE_ERRORS,
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
        raise csv_error(
            key, messages=self.default_error_messages, classes=self.error_classes, **kwargs
        )

    def get(self, key: str, default: Any = None) -> Any:
        """A field of the form the file came in, or ``default``.

        DRF hands a multipart request's data to Django as ``request.POST``,
        and Django's CSRF check (run by ``SessionAuthentication``) reads its
        ``csrfmiddlewaretoken`` with ``get()``.
        """
        return self.form.get(key, default) if self.form is not None else default

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

    def _get_encoding(self, encoding: str | bytes) -> str:
        if isinstance(encoding, bytes):
            # Django's multipart parser gives a part's charset as bytes.
            encoding = encoding.decode("ascii", "replace")
        try:
            name = codecs.lookup(encoding.strip()).name
        except (AttributeError, LookupError, TypeError, ValueError):
            name = None
        if name not in self.allowed_encodings:
            self.fail("encoding", encoding=str(encoding)[:40])
        # A byte order mark is only meaningful at the very start of the file;
        # utf-8-sig, utf-16 and utf-32 drop it there, _iter_lines for the others.
        return "utf-8-sig" if name == "utf-8" else name

    def _encoding_name(self) -> str:
        return self.encoding.replace("-sig", "").upper()

    def _too_large(self) -> NoReturn:
        raise too_large_error(self.max_size)

    def _iter_lines(self, text: io.TextIOWrapper) -> Iterator[str]:
        lines = iter(text)
        strip_bom = self.encoding not in ("utf-8-sig", "utf-16", "utf-32")
        while True:
            try:
                line = next(lines)
            except StopIteration:
                return
            except UnicodeError:
                # utf-16 and utf-32 without a byte order mark; every other
                # decoding error is marked in the text by _mark_undecodable.
                if self.encoding in ("utf-16", "utf-32"):
                    self.fail("bom", encoding=self.encoding)
                self.fail("decode", line=self.line + 1, encoding=self._encoding_name())
            self.line += 1
            if strip_bom:
                line = line.removeprefix("\ufeff")
                strip_bom = False
            # Every allowed encoding decodes to no more characters than bytes,
            # but a subclass may allow others: the limit holds for the text too.
            self.chars_read += len(line)
            if self.max_size is not None and self.chars_read > self.max_size:
                self.fail("too_long", max_size=self.max_size)
            found = _NOT_TEXT.search(line)
            if found:
                if found.group() == "\x00":
                    self.fail("nul", line=self.line)
                self.fail("decode", line=self.line, encoding=self._encoding_name())
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
        names = [unescape_cell(cell.strip(), self.null_value) for cell in cells]
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
        null_value = self.null_value
        for name, cell in zip(self.fieldnames, cells):
            if cell == "":
                continue
            if cell == null_value:
                row[name] = None
            elif cell.startswith(CSV_ESCAPE):
                row[name] = unescape_cell(cell, null_value)
            else:
                row[name] = cell
        return row


def csv_error(
    key: str,
    *,
    messages: Mapping[str, Any] | None = None,
    classes: Mapping[str, type[CSVError]] | None = None,
    **kwargs: Any,
) -> CSVError:
    """The error for ``key`` of ``CSVRows.default_error_messages``, formatted with ``kwargs``."""
    messages = CSVRows.default_error_messages if messages is None else messages
    classes = CSVRows.error_classes if classes is None else classes
    # format() on the message itself, so that a plural (ngettext_lazy) picks its form.
    message = str(messages[key].format(**kwargs))
    return classes[key](message, line=kwargs.get("line"), column=kwargs.get("column"))


def media_type_params(media_type: str, names: tuple[str, ...] = ("charset", "delimiter")) -> dict:
    """
    The parameters of a ``Content-Type``, refusing (400) one that cannot be
    read or that gives any of ``names`` more than once: two charsets could be
    read one way by a proxy and another way here.
    """
    try:
        params = parse_header_parameters(media_type)[1]
        message = Message()
        message["content-type"] = media_type
        given = [name.lower() for name, _value in message.get_params(failobj=[])[1:]]
    except (LookupError, TypeError, ValueError) as exc:
        raise csv_error("media_type") from exc
    for name in names:
        if given.count(name) > 1:
            raise csv_error("repeated_parameter", name=name)
    return params


def too_large_error(max_size: int | None) -> CSVTooLargeError:
    """The 413 error for a CSV file larger than ``max_size`` bytes."""
    # error_classes maps "too_large" to CSVTooLargeError.
    return cast(CSVTooLargeError, csv_error("too_large", max_size=max_size))


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


def _form_value(data: Mapping | None, name: str) -> Any:
    return data.get(name) if data is not None and hasattr(data, "get") else None


def _get_upload_delimiter(uploaded, data: Mapping | None, default: str) -> str:
    delimiter = _form_value(data, "delimiter")
    if delimiter:
        return delimiter
    content_type = (getattr(uploaded, "content_type", "") or "").lower()
    name = (getattr(uploaded, "name", "") or "").lower()
    if content_type == TSV_MEDIA_TYPE or name.endswith(".tsv"):
        return "\t"
    return default


def csv_rows_from_upload(
    uploaded,
    *,
    data: Mapping | None = None,
    view: Any = None,
    delimiter: str = ",",
    max_size: int | None = FROM_SETTINGS,
    null_value: str | None = FROM_SETTINGS,
) -> CSVRows:
    """
    Stream the rows of an uploaded CSV file (a Django ``UploadedFile``).
    The file is closed (and a temporary file deleted) once the rows have
    been read or an error was raised; the other form fields are ``rows.form``.

    The delimiter comes from the ``delimiter`` form field in ``data`` when
    there is one, then from a ``.tsv`` name or content type, then ``delimiter``.
    The encoding comes from the ``charset`` form field when there is one (a
    browser cannot set the file part's own), then from the file part's
    ``Content-Type: text/csv; charset=...``, then UTF-8; it must be one of
    :data:`CSV_ENCODINGS`.
    The view's ``csv_max_file_size`` and ``csv_null_value`` win over the
    ``max_size`` and ``null_value`` arguments, which default to the
    ``CSV_MAX_FILE_SIZE`` and ``CSV_NULL_VALUE`` settings.
    """
    max_size = get_view_option(view, "csv_max_file_size", "CSV_MAX_FILE_SIZE", max_size)
    if max_size is not None and uploaded.size is not None and uploaded.size > max_size:
        raise too_large_error(max_size)
    if hasattr(uploaded, "seek"):
        uploaded.seek(0)
    rows = CSVRows(
        uploaded,
        delimiter=_get_upload_delimiter(uploaded, data, delimiter),
        encoding=_form_value(data, "charset") or getattr(uploaded, "charset", None) or "utf-8",
        max_size=max_size,
        null_value=get_view_option(view, "csv_null_value", "CSV_NULL_VALUE", null_value),
        close_stream=True,
    )
    rows.form = data
    return rows


# Writing ----------------------------------------------------------------------

_FORMULA_PREFIXES = tuple(prefix for prefix in CSV_ESCAPED_PREFIXES if prefix != CSV_ESCAPE)
_ESCAPED_FIRST = frozenset(prefix[0] for prefix in CSV_ESCAPED_PREFIXES)
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SURROGATE = re.compile("[\ud800-\udfff]")
_encoder = JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# A key the row does not have: an empty cell, unlike None.
_MISSING = object()


def escape_formula(text: str) -> str:
    """
    Prefix ``'`` to text a spreadsheet would otherwise run as a formula, and
    to text that starts with ``'`` (so that the parser can tell them apart).

    >>> escape_formula("=HYPERLINK(...)")
    "'=HYPERLINK(...)"
    >>> escape_formula("-25.75")
    '-25.75'
    >>> escape_formula("'quoted")
    "''quoted"
    """
    if text.startswith(CSV_ESCAPE) or (
        text.startswith(_FORMULA_PREFIXES) and not _PLAIN_NUMBER.fullmatch(text)
    ):
        return CSV_ESCAPE + text
    return text


def format_csv_cell(
    value: Any,
    *,
    escape_formulas: bool = True,
    null_value: str | None = None,
) -> str:
    """
    The text of one CSV cell for ``value``, escaped against formula injection.

    ``None`` is ``null_value``, and text equal to ``null_value`` is escaped
    with a leading ``'`` so that it does not read back as ``None``. Without a
    ``null_value``, ``None`` is an empty cell, which the parser reads as "not
    given"; pass the parser's null token (``"#N/A"`` by default) for output
    that reads back as it was.
    """
    # Most cells: text that starts with no escaped character, an integer.
    if type(value) is str:
        if value and value[0] not in _ESCAPED_FIRST and "\x00" not in value and value != null_value:
            return value
    elif type(value) is int:
        text = str(value)
        # A negative number is not escaped.
        if text != null_value:
            return text
    if value is None:
        return "" if null_value is None else null_value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, decimal.Decimal):
        # "f" keeps 1E+2 from appearing as it would with str().
        text = format(value, "f") if value.is_finite() else str(value)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, (Mapping, list, tuple)):
        text = _encoder.encode(value)
    else:
        text = _format_other(value)
    # CSV carries no NUL characters (Python 3.10's writer refuses them, and
    # the parser refuses them on the way back in).
    text = text.replace("\x00", "\ufffd")
    if null_value and text == null_value:
        return CSV_ESCAPE + text
    if escape_formulas:
        return escape_formula(text)
    return CSV_ESCAPE + text if text.startswith(CSV_ESCAPE) else text


def _format_other(value: Any) -> str:
    # Dates, times, UUIDs, lazy strings...: whatever DRF's JSON renderer would write.
    try:
        encoded = _encoder.default(value)
        return encoded if isinstance(encoded, str) else _encoder.encode(encoded)
    except (TypeError, ValueError):
        return str(value)


def get_csv_header(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Every key of ``rows``, in the order first seen."""
    header: dict[str, None] = {}
    for row in rows:
        for key in row:
            header.setdefault(str(key), None)
    return list(header)


def iter_csv_rows(
    rows: Iterable[Mapping[str, Any]],
    header: Sequence[str],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8",
    include_header: bool = True,
    escape_formulas: bool = True,
    null_value: str | None = None,
) -> Iterator[bytes]:
    """
    Yield a CSV file one encoded line at a time: the header (unless
    ``include_header`` is false), then one line per row, with the values of
    ``header``'s keys in that order (missing keys are empty cells, other keys
    are left out). Lines end with CRLF, as RFC 4180 asks. ``None`` is
    ``null_value``: pass the parser's null token (``"#N/A"`` by default) for
    a file that reads back as the same rows; without one it is an empty cell.
    Pass ``escape_formulas=False`` only for files no spreadsheet will open.

        response = StreamingHttpResponse(
            iter_csv_rows(queryset.values("sku", "name").iterator(), ["sku", "name"]),
            content_type="text/csv; charset=utf-8",
        )
    """
    buffer = io.StringIO()
    delimiter = CSV_DELIMITERS.get(delimiter, delimiter)
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")

    def cell(value: Any) -> str:
        if value is _MISSING:
            return ""
        return format_csv_cell(value, escape_formulas=escape_formulas, null_value=null_value)

    def line(cells: Iterable[Any]) -> bytes:
        writer.writerow([cell(value) for value in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        try:
            return text.encode(encoding)
        except UnicodeEncodeError:
            # Text holding lone surrogates (which can reach a response from
            # a client's own invalid JSON) is not text any encoding can write.
            return _SURROGATE.sub("\ufffd", text).encode(encoding)

    if include_header:
        yield line(header)
    for row in rows:
        if not isinstance(row, Mapping):
            row = {"value": row}
        yield line(row.get(key, _MISSING) for key in header)
