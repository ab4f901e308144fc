"""
Values a client sends to name rows: read exactly as sent, or refused.

Django's ``Field.to_python()`` is lenient in ways that are harmless in a
form and dangerous in a bulk request: ``IntegerField.to_python(2.9)`` is
``2``, ``UUIDField.to_python(5)`` is a UUID, and ``2**70`` is accepted and
then fails in the database driver. ``convert()`` takes only what means the
value itself.
"""

from __future__ import annotations

import decimal
import math
import re
import uuid
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connections, models
from django.db.models.fields.related import RelatedField

__all__ = ["INTEGER_RANGE", "convert", "display", "integer_range", "shorten"]

#: No backend stores integers wider than 64 bits, whatever it reports.
INTEGER_RANGE = (-(2**63), 2**63 - 1)
# What DRF's IntegerField strips before int(): "2.0" and 2.0 mean 2.
_INTEGRAL_DECIMAL = re.compile(r"\.0*\s*$")
# ASCII digits only: int() also reads "1_000" and other scripts' digits.
_INTEGER = re.compile(r"[+-]?[0-9]{1,20}")
_MAX_SHOWN = 100


def convert(model_field: models.Field, raw: Any) -> Any:
    """``raw`` as a value of ``model_field``, exactly as sent, or ``ValueError``.

    Stricter than ``Field.to_python()``: a value is never coerced into
    another one. ``2.9`` is not the integer 2 (``2.0`` and ``"2"`` are, as
    DRF's ``IntegerField`` reads them); ``5`` is not a UUID; an integer
    beyond the column's range, a text with a NUL character, a boolean, a
    list or an object name no row at all.
    """
    if raw is None or isinstance(raw, (bool, dict, list, tuple, set)):
        raise ValueError("not a scalar")
    if isinstance(raw, str) and ("\x00" in raw or len(raw) > 4096 or _has_surrogates(raw)):
        raise ValueError("not a storable text")
    target = model_field.target_field if isinstance(model_field, RelatedField) else model_field
    try:
        if isinstance(target, models.IntegerField):
            return _integer(target, raw)
        if isinstance(target, models.UUIDField):
            if not isinstance(raw, (str, uuid.UUID)):
                raise ValueError("a UUID is sent as text")
        elif isinstance(raw, float) and not isinstance(
            target, (models.FloatField, models.DecimalField)
        ):
            raise ValueError("a float names no such value")
        value = target.to_python(raw)
    except (DjangoValidationError, TypeError, ValueError, ArithmeticError, OverflowError) as exc:
        raise ValueError(str(exc)) from None
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        raise ValueError("no value")
    if isinstance(value, decimal.Decimal) and not value.is_finite():
        raise ValueError("no value")
    return value


def _integer(field: models.Field, raw: Any) -> int:
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, float):
        if not raw.is_integer():
            raise ValueError("not an integer")
        value = int(raw)
    elif isinstance(raw, decimal.Decimal):
        if not raw.is_finite() or raw != raw.to_integral_value():
            raise ValueError("not an integer")
        value = int(raw)
    elif isinstance(raw, str):
        text = _INTEGRAL_DECIMAL.sub("", raw.strip())
        if not _INTEGER.fullmatch(text):
            raise ValueError("not an integer")
        value = int(text)
    else:
        raise ValueError("not an integer")
    low, high = integer_range(field)
    if not low <= value <= high:
        raise ValueError("out of range")
    return value


def integer_range(field: models.Field, using: str = "default") -> tuple[int, int]:
    """The values ``field``'s column can hold on the database ``using``."""
    low: int | None
    high: int | None
    try:
        low, high = connections[using].ops.integer_field_range(field.get_internal_type())
    except (KeyError, AttributeError):  # a custom field type
        low = high = None
    low = INTEGER_RANGE[0] if low is None else low
    if field.get_internal_type().startswith("Positive"):
        # Some backends report no range at all (SQLite before Django 5.0).
        low = max(low, 0)
    return (low, INTEGER_RANGE[1] if high is None else high)


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def shorten(value: Any) -> str:
    """``repr(value)``, cut to a length fit for an error message."""
    text = (
        repr(value)
        if not isinstance(value, str) or len(value) <= _MAX_SHOWN
        else repr(value[:_MAX_SHOWN]) + "…"
    )
    return text if len(text) <= _MAX_SHOWN + 10 else text[:_MAX_SHOWN] + "…"


def display(value: Any) -> Any:
    """A lookup value as it can be shown back to the client."""
    if isinstance(value, str):
        if len(value) > _MAX_SHOWN:
            value = value[:_MAX_SHOWN] + "…"
        return value.encode("utf-8", "replace").decode("utf-8") if _has_surrogates(value) else value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and not INTEGER_RANGE[0] <= value <= INTEGER_RANGE[1]
    ):
        return str(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (dict, list, tuple)):
        return shorten(value)
    return str(value)
