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

from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from rest_framework import status
from rest_framework.exceptions import APIException, ErrorDetail

# The HTTP status a request takes when items fail with these codes; the
# first code in this order that occurs decides.
STATUS_BY_CODE = {
    "permission_denied": status.HTTP_403_FORBIDDEN,
    "not_authenticated": status.HTTP_401_UNAUTHORIZED,
    "conflict": status.HTTP_409_CONFLICT,
}


class ItemError:
    """What went wrong with one item."""

    __slots__ = ("index", "code", "detail", "lookup", "codes", "line")

    def __init__(
        self,
        index: int,
        code: str,
        detail: Any,
        *,
        lookup: Any = None,
        codes: Any = None,
        line: int | None = None,
    ):
        self.index = index
        self.code = code
        self.detail = detail
        self.lookup = lookup
        self.codes = codes
        self.line = line

    def as_dict(self) -> dict:
        data: dict[str, Any] = {"index": self.index}
        if self.line is not None:
            data["line"] = self.line
        if self.lookup is not None:
            data["lookup"] = self.lookup
        data["code"] = self.code
        data["detail"] = self.detail
        if self.codes is not None:
            data["codes"] = self.codes
        return data

    def __repr__(self) -> str:
        return f"<ItemError index={self.index} code={self.code!r}>"


class BulkError(APIException):
    """A bulk request rejected as a whole, listing the items at fault."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"
    default_detail = _("The request was rejected; nothing was written.")

    def __init__(self, errors: list[ItemError], total: int, *, code: str | None = None):
        self.item_errors = sorted(errors, key=lambda error: error.index)
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
            "errors": [error.as_dict() for error in self.item_errors],
        }

    def get_codes(self):
        return self.detail["code"]


class RequestError(APIException):
    """A bulk request whose envelope is wrong: not a list, too many items."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"
    default_detail = _("Invalid bulk request.")

    def __init__(self, detail: Any, code: str, status_code: int | None = None):
        if status_code is not None:
            self.status_code = status_code
        self.detail = {"code": code, "detail": ErrorDetail(str(detail), code=code)}

    def get_codes(self):
        return self.detail["code"]


class TooManyItems(RequestError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE

    def __init__(self, count: int | None, limit: int):
        if count is None:
            message = _("This request matches more than %(limit)d items; at most %(limit)d are allowed.") % {
                "limit": limit
            }
        else:
            message = _("This request carries %(count)d items; at most %(limit)d are allowed.") % {
                "count": count,
                "limit": limit,
            }
        super().__init__(message, "too_many_items")
