"""
DRF parsers for CSV bulk requests.

``CSVParser`` reads a ``text/csv`` body, ``TSVParser`` a tab-separated one
and ``CSVMultiPartParser`` a CSV file uploaded in a ``multipart/form-data``
form, each into a lazy :class:`~rest_framework_bulk.csv.CSVRows`. How cells
are read (empty cells, the null token, escaped formulas) is described in
:mod:`rest_framework_bulk.csv`, where the names re-exported here live.
"""

from __future__ import annotations

import codecs
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from django.utils.encoding import force_str
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser, DataAndFiles, MultiPartParser

from .csv import (
    CSV_DELIMITERS,
    CSV_ENCODINGS,
    CSV_ESCAPE,
    CSV_ESCAPED_PREFIXES,
    DEFAULT_CSV_MAX_FILE_SIZE,
    DEFAULT_CSV_NULL_VALUE,
    TSV_MEDIA_TYPE,
    CSVEncodingError,
    CSVError,
    CSVHeaderError,
    CSVRow,
    CSVRows,
    CSVTooLargeError,
    CSVTooManyCellsError,
    CSVTruncatedError,
    csv_error,
    csv_rows_from_upload,
    iter_csv,
    media_type_params,
    too_large_error,
    unescape_cell,
)
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
    "CSVMultiPartParser",
    "CSVParser",
    "CSVRow",
    "CSVRows",
    "CSVTooLargeError",
    "CSVTooManyCellsError",
    "CSVTruncatedError",
    "CSVUploadSizeLimitHandler",
    "TSVParser",
    "csv_error",
    "csv_rows_from_upload",
    "iter_csv",
    "media_type_params",
    "read_uploaded_csv",
    "too_large_error",
    "unescape_cell",
]


class CSVParser(BaseParser):
    """
    Parses a ``text/csv`` request body into a lazy :class:`CSVRows`.

    The client may choose the delimiter and the encoding with media type
    parameters, e.g. ``Content-Type: text/csv; delimiter=";"; charset=latin-1``
    (``,`` ``;`` ``|`` and ``tab`` are accepted; UTF-8 is the default). Each
    may be given once. The encodings accepted are text encodings only
    (:data:`CSV_ENCODINGS`):

    * UTF-8 (``utf-8``, ``utf-8-sig``), UTF-16 and UTF-32 (``utf-16``,
      ``utf-32`` with a byte order mark; ``-le``/``-be`` without one);
    * ``ascii``, ``latin-1`` (ISO-8859-1), ISO-8859-2, ISO-8859-15, Windows
      ``cp1250``, ``cp1251``, ``cp1252`` and ``mac-roman``;
    * ``shift_jis``, ``cp932``, ``euc-jp``, ``gb2312``, ``gbk``, ``gb18030``,
      ``big5`` and ``euc-kr``,

    under any name ``codecs.lookup()`` knows them by (``ISO-8859-1``, ``l1``,
    ``windows-1252``...). Any other charset, codecs such as ``rot13``,
    ``base64``, ``zlib`` or ``idna`` among them, is a 400 with code
    ``csv_encoding``, as is text that is not valid in its encoding or that
    holds a NUL character.

    The view may set, as an attribute or as a ``get_<name>()`` method (to
    read settings per request):

    * ``csv_max_file_size``: the largest body accepted, in bytes (10 MiB by
      default; ``None`` for no limit), and the most characters it may decode
      to. A larger body gets a 413 (``csv_too_large``);
    * ``csv_null_value``: the cell text that means ``None`` (``"#N/A"``).

    Without either, the parser's own ``max_file_size`` and ``null_value``
    apply, and by default the ``CSV_MAX_FILE_SIZE`` and ``CSV_NULL_VALUE``
    settings.

    ``request.data`` is then the iterator of rows; iterate it once. A
    request with an empty body never reaches the parser: DRF makes
    ``request.data`` an empty dict.
    """

    media_type = "text/csv"
    delimiter = ","
    #: The largest body accepted; ``FROM_SETTINGS``: the ``CSV_MAX_FILE_SIZE`` setting.
    max_file_size: int | None = FROM_SETTINGS
    #: The null token; ``FROM_SETTINGS``: the ``CSV_NULL_VALUE`` setting.
    null_value: str | None = FROM_SETTINGS

    # The stubs say a parser returns a mapping, but `request.data` is whatever the
    # parser made of the body (DRF's JSONParser returns lists too).
    def parse(self, stream, media_type=None, parser_context=None) -> CSVRows:  # type: ignore[override]
        view = (parser_context or {}).get("view")
        params = media_type_params(media_type or self.media_type)
        return CSVRows(
            stream,
            delimiter=params.get("delimiter", self.delimiter),
            encoding=params.get("charset", "utf-8"),
            max_size=get_view_option(
                view, "csv_max_file_size", "CSV_MAX_FILE_SIZE", self.max_file_size
            ),
            null_value=get_view_option(view, "csv_null_value", "CSV_NULL_VALUE", self.null_value),
        )


class TSVParser(CSVParser):
    """Parses ``text/tab-separated-values``: a CSV body whose delimiter is a tab."""

    media_type = TSV_MEDIA_TYPE
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


class _RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request is too large.")
    default_code = "too_large"


class _ClosingBoundaryWatcher:
    """
    Passes a multipart body to Django's parser and notes whether it holds
    the closing delimiter, ``--boundary--``, which Django does not check.
    """

    def __init__(self, stream: IO[bytes], boundary: str):
        self._stream = stream
        self._delimiter = b"--" + boundary.encode("ascii", "replace") + b"--"
        self._tail = b""
        #: Whether the closing delimiter has been read.
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data and not self.closed:
            # The delimiter may straddle two reads.
            window = self._tail + data
            self.closed = self._delimiter in window
            self._tail = window[-(len(self._delimiter) - 1) :]
        return data


class CSVMultiPartParser(MultiPartParser):
    """
    Parses ``multipart/form-data`` and, when it holds a ``file`` part, returns
    that file's rows as a :class:`CSVRows` (so ``request.data`` is the rows
    and ``request.data.form`` the other form fields). A form without that
    part is parsed as usual.

    The view's ``csv_max_file_size`` is enforced while the upload is received,
    and the optional ``delimiter`` and ``charset`` form fields choose the
    delimiter and the encoding (the file part's own ``charset`` is used
    otherwise; see :func:`csv_rows_from_upload`).

    A body that ends before the closing boundary (``--boundary--``) is a 400
    with code ``csv_truncated``: Django's parser would drop the unfinished
    file part, and the client's rows with it, without a word.
    """

    file_field = "file"
    delimiter = ","
    #: The largest body accepted; ``FROM_SETTINGS``: the ``CSV_MAX_FILE_SIZE`` setting.
    max_file_size: int | None = FROM_SETTINGS
    #: The null token; ``FROM_SETTINGS``: the ``CSV_NULL_VALUE`` setting.
    null_value: str | None = FROM_SETTINGS

    def get_upload_handlers(self, request, view) -> list[FileUploadHandler]:
        """The request's upload handlers, behind one that enforces the size limit."""
        limit = CSVUploadSizeLimitHandler(
            request,
            field_name=self.file_field,
            max_size=get_view_option(
                view, "csv_max_file_size", "CSV_MAX_FILE_SIZE", self.max_file_size
            ),
        )
        return [limit, *request.upload_handlers]

    def get_form_encoding(self, encoding: str | None) -> str:
        """
        The encoding of the form's field names and values: the request's
        ``charset``, which must be one of :data:`CSV_ENCODINGS` (Django would
        hand ``rot13`` or ``idna`` to the decoder).
        """
        if not encoding:
            return settings.DEFAULT_CHARSET
        try:
            name = codecs.lookup(encoding).name
        except (LookupError, TypeError, ValueError):
            name = None
        if name not in CSV_ENCODINGS:
            raise csv_error("encoding", encoding=str(encoding)[:40])
        return encoding

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        view = parser_context.get("view")
        encoding = self.get_form_encoding(parser_context.get("encoding"))
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            boundary = parse_header_parameters(media_type or "")[1].get("boundary") or ""
            body = _ClosingBoundaryWatcher(stream, boundary)
            parser = DjangoMultiPartParser(
                meta, body, self.get_upload_handlers(request, view), encoding
            )
            data, files = parser.parse()
        except MultiPartParserError as exc:
            raise exceptions.ParseError(
                _("Multipart form parse error - %(error)s") % {"error": exc}
            ) from exc
        except RequestDataTooBig as exc:
            raise _RequestTooLarge(str(exc)) from exc
        except (SuspiciousOperation, ValueError) as exc:
            # Too many fields or files, or a Content-Type Django cannot read.
            raise exceptions.ParseError(
                _("Multipart form parse error - %(error)s") % {"error": exc}
            ) from exc
        if not body.closed:
            for _name, uploads in files.lists():
                for uploaded in uploads:
                    uploaded.close()
            raise csv_error("truncated")
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
