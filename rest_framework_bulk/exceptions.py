"""
Errors a client can cause in a bulk request.

Every one is an ``APIException`` with a stable ``code`` and a body of one
shape, whatever the DRF version::

    {
        "code": "invalid",
        "detail": "2 of 3 items were rejected; nothing was written.",
        "errors": [
            {"index": 1, "code": "invalid", "detail": {"name": ["This field is required."]},
             "codes": {"name": ["required"]}},
            {"index": 2, "lookup": 7, "code": "not_found", "detail": "Not found."}
        ]
    }

``index`` is the item's position in the request (0-based); ``lookup`` is the
item's lookup value when it is known; CSV input adds ``line``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DataError
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from rest_framework import exceptions, status
from rest_framework.exceptions import APIException, ErrorDetail

from .results import NO_VERSION, ItemError, line_of

__all__ = [
    "NO_VERSION",
    "BulkError",
    "ItemError",
    "RequestError",
    "TooManyItems",
    "TransactionConflict",
    "as_api_exception",
    "error_body",
]

# The HTTP status a request takes when items fail with these codes; the
# first code in this order that occurs decides.
STATUS_BY_CODE = {
    "permission_denied": status.HTTP_403_FORBIDDEN,
    "not_authenticated": status.HTTP_401_UNAUTHORIZED,
    "version_required": status.HTTP_428_PRECONDITION_REQUIRED,
    "conflict": status.HTTP_409_CONFLICT,
    "protected": status.HTTP_409_CONFLICT,
    "version_conflict": status.HTTP_409_CONFLICT,
}


class BulkError(APIException):
    """A bulk request rejected as a whole, listing the items at fault."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    detail: dict[str, Any]
    default_code = "invalid"
    default_detail = _("The request was rejected; nothing was written.")

    def __init__(self, errors: list[ItemError], total: int, *, code: str | None = None):
        self.item_errors = sorted(errors, key=lambda error: error.index)
        self.total = total
        codes = {error.code for error in self.item_errors}
        for item_code, status_code in STATUS_BY_CODE.items():
            if item_code in codes:
                self.status_code = status_code
                break
        if code is None:
            code = self.item_errors[0].code if len(codes) == 1 else self.default_code
        message = ngettext(
            "%(count)d of %(total)d items was rejected; nothing was written.",
            "%(count)d of %(total)d items were rejected; nothing was written.",
            len(self.item_errors),
        ) % {"count": len(self.item_errors), "total": total}
        self.detail = {
            "code": code,
            "detail": ErrorDetail(message, code=code),
            "errors": [error.as_error() for error in self.item_errors],
        }

    def set_lines(self, items, start: int = 0) -> None:
        """Point CSV clients at the line of each rejected row."""
        for error in self.item_errors:
            if 0 <= error.index - start < len(items):
                error.line = line_of(items[error.index - start])
        self.detail["errors"] = [error.as_error() for error in self.item_errors]

    def get_codes(self):
        return self.detail["code"]


class RequestError(APIException):
    """A bulk request whose envelope is wrong: not a list, too many items."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    detail: dict[str, Any]
    default_code = "invalid"
    default_detail = _("Invalid bulk request.")

    def __init__(self, detail: Any, code: str, status_code: int | None = None):
        if status_code is not None:
            self.status_code = status_code
        self.detail = {"code": code, "detail": ErrorDetail(str(detail), code=code)}

    def get_codes(self):
        return self.detail["code"]


class TransactionConflict(RequestError):
    """The request lost a race with a concurrent one (a deadlock, a
    serialization failure); it was rolled back and may be sent again.

    The database's error is the ``__cause__``."""

    status_code = status.HTTP_409_CONFLICT

    def __init__(self):
        super().__init__(
            _("The request conflicted with a concurrent one; nothing was written. Retry it."),
            "transaction_conflict",
        )


class TooManyItems(RequestError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE

    def __init__(self, count: int | None, limit: int, *, hint: str | None = None):
        if count is None:
            message = ngettext(
                "This request matches more than %(limit)d item; at most %(limit)d is allowed.",
                "This request matches more than %(limit)d items; at most %(limit)d are allowed.",
                limit,
            ) % {"limit": limit}
        else:
            # The count is above the limit, so it is the limit that may be 1.
            message = ngettext(
                "This request carries %(count)d items; at most %(limit)d is allowed.",
                "This request carries %(count)d items; at most %(limit)d are allowed.",
                limit,
            ) % {"count": count, "limit": limit}
        if hint:
            message = f"{message} {hint}"
        super().__init__(message, "too_many_items")


#: Codes for DRF's exceptions whose detail is a plain message.
_DEFAULT_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


def as_api_exception(exc: BaseException) -> BaseException:
    """``exc``, or the client error it stands for.

    DRF turns Django's ``Http404`` and ``PermissionDenied`` into its own
    exceptions; a body nested too deep for the JSON decoder raises
    ``RecursionError`` before DRF sees a parse error, and a filter value the
    database refuses (a NUL character on PostgreSQL) raises ``DataError``:
    both are the client's mistakes too.
    """
    if isinstance(exc, RecursionError):
        return exceptions.ParseError(
            _("The request body is nested too deeply."), code="parse_error"
        )
    if isinstance(exc, DataError):
        # A value the database cannot compare or store, from a filter or a
        # lookup: the client's, since every write path reports its own.
        return RequestError(
            _("A value of the request is not valid for the database."), "invalid_value"
        )
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied()
    return exc


def error_body(exc: APIException, status_code: int | None = None) -> dict:
    """The documented error body for ``exc``: ``{"code", "detail", ...}``.

    A body that already has that shape is kept. A message becomes
    ``{"code", "detail"}``; a ``ValidationError`` keyed by field becomes
    ``{"code", "detail", "fields", "codes"}``, ``fields`` holding DRF's
    usual ``{name: [messages]}``. CSV errors add ``line`` and ``column``.
    """
    detail = exc.detail
    if isinstance(detail, dict) and isinstance(detail.get("code"), str) and "detail" in detail:
        return detail
    status_code = status_code or int(getattr(exc, "status_code", 400))
    codes = exc.get_codes()
    if isinstance(detail, (dict, list)):
        code = (
            _first_code(codes)
            or getattr(exc, "default_code", None)
            or _DEFAULT_CODES.get(status_code, "invalid")
        )
        body: dict[str, Any] = {
            "code": code,
            "detail": ErrorDetail(_describe(detail), code=code),
        }
        if isinstance(detail, dict):
            body["fields"] = detail
            body["codes"] = codes
        return body
    code = codes if isinstance(codes, str) and codes else _DEFAULT_CODES.get(status_code, "invalid")
    if code == "error":  # DRF's code for an APIException given no code
        code = _DEFAULT_CODES.get(status_code, "invalid")
    body = {"code": code, "detail": ErrorDetail(str(detail), code=code)}
    for name in ("line", "column"):
        value = getattr(exc, name, None)
        if value is not None:
            body[name] = value
    return body


def _first_code(codes: Any) -> str | None:
    if isinstance(codes, str):
        return codes
    values: Iterable[Any]
    if isinstance(codes, dict):
        values = codes.values()
    elif isinstance(codes, list):
        values = codes
    else:
        return None
    for value in values:
        code = _first_code(value)
        if code:
            return code
    return None


def _describe(detail: Any) -> str:
    if isinstance(detail, dict):
        return " ".join(f"{field}: {_describe(messages)}" for field, messages in detail.items())
    if isinstance(detail, list):
        return " ".join(_describe(item) for item in detail)
    return str(detail)
