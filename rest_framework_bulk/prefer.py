"""
The ``Prefer`` request header (RFC 7240) and the ``Preference-Applied`` answer.

A client states how it would like its request handled::

    Prefer: respond-async, wait=5
    Prefer: handling=lenient; ignored-param="x", return=minimal

The server may honour any preference and ignore the rest; it lists the ones
it honoured in ``Preference-Applied``. drf-bulk reads ``respond-async``,
``wait``, ``handling`` and ``return``.

Parsing follows section 2 of the RFC: several ``Prefer`` headers count as
one comma-separated list, names are case-insensitive, a value may be a
quoted string (with ``\\``-escapes, commas and semicolons inside), the
parameters after ``;`` are read past, and only the first occurrence of a
preference counts. Anything that does not parse is skipped: a header a
client garbled never fails its request.
"""

from __future__ import annotations

__all__ = ["parse_prefer", "parse_preferences", "parse_wait"]

#: The longest ``wait=`` value read, in digits; anything longer is ignored.
MAX_WAIT_DIGITS = 9


def split_header(value: str, separator: str) -> list[str]:
    """``value`` split at ``separator``, except inside quoted strings."""
    parts, current, quoted, escaped = [], [], False, False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif quoted and char == "\\":
            current.append(char)
            escaped = True
        elif char == '"':
            current.append(char)
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def unquote(value: str) -> str:
    """A token as it is, or the text of a quoted string."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        text, escaped = [], False
        for char in value[1:-1]:
            if escaped or char != "\\":
                text.append(char)
                escaped = False
            else:
                escaped = True
        return "".join(text)
    return value


def parse_preferences(header: str) -> dict[str, str]:
    """The preferences of a ``Prefer`` header value: name to value (``""`` if none).

    Names and values are lower-cased (the preferences drf-bulk reads take
    case-insensitive tokens); the first occurrence of a name wins.
    """
    preferences: dict[str, str] = {}
    for preference in split_header(header, ","):
        token = split_header(preference, ";")[0]
        name, _sep, value = token.partition("=")
        name = name.strip().lower()
        if not name or any(char.isspace() or char == '"' for char in name):
            continue
        preferences.setdefault(name, unquote(value).lower())
    return preferences


def parse_prefer(request) -> dict[str, str]:
    """The preferences of the request's ``Prefer`` headers (RFC 7240)."""
    # Servers join repeated headers with commas, which is the header's own list syntax.
    return parse_preferences(request.headers.get("Prefer", ""))


def parse_wait(preferences: dict[str, str]) -> int | None:
    """The seconds of ``wait=N`` (``delta-seconds``: digits only), or ``None``."""
    value = preferences.get("wait", "")
    if not value.isdigit() or not value.isascii() or len(value) > MAX_WAIT_DIGITS:
        return None
    return int(value)
