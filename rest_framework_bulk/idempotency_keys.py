"""
Safe retries of bulk writes with an ``Idempotency-Key`` header.

Following the IETF httpapi Idempotency-Key draft: the first bulk write a user
sends to a view with a key runs, and its answer (status, body, ``Location``,
``Preference-Applied``, ``Content-Type``) is kept with a fingerprint of the
request. A retry with the same key and the same request gets that answer
again, with ``Idempotent-Replayed: true``, and writes nothing: a job-sized
request answers the same job's ``202``. The key with a different request is a
``422`` (``idempotency_key_mismatch``); a retry while the first request still
runs is a ``409`` (``idempotency_key_in_use``)::

    curl -u ann:secret -X POST https://api.example.com/items/ \\
        -H 'Idempotency-Key: "8e03978e-40d5-43e8-bc93-6894a57f9324"' \\
        -H 'Content-Type: application/json' -d '[{"name": "a"}, {"name": "b"}]'

Keys are kept only when ``rest_framework_bulk.idempotency`` is in
``INSTALLED_APPS``; without it the header is ignored. This module imports no
model: it reaches the app's through the app registry.

Decisions where the draft leaves a choice:

* **Which requests.** Only bulk writes (a list POST, PUT, PATCH and DELETE on
  the list route, and writes on ``/bulk/``). Reads, detail routes and the
  creation of one object ignore the header.
* **The key.** 1 to 255 printable ASCII characters, bare or as the draft's
  quoted string (``"abc"``). Anything else is a ``400``
  (``invalid_idempotency_key``).
* **Whose key.** Keys are per user and per view (``get_bulk_idempotency_scope()``):
  user B sending user A's key runs a request of its own. An anonymous request
  with a key is refused (``401``/``403``, ``not_authenticated``), since its
  answer could be replayed to anyone.
* **The fingerprint** is a SHA-256 of the method, the path, the sorted query
  string, the media type with its parameters (but not a multipart
  ``boundary``) and the body. The body is hashed **while it is read**: the
  request's byte stream is wrapped before DRF parses it, so a large streamed
  CSV upload is hashed in chunks and never held in memory, and
  ``request.body`` (with its ``DATA_UPLOAD_MAX_MEMORY_SIZE`` limit) is never
  called. What the view did not read (a request refused after its header
  line) is read to its end when the answer is stored, up to
  ``CSV_MAX_FILE_SIZE`` more bytes; a longer rest is not read, and that answer
  is not kept. In a multipart body the boundary is replaced by a constant
  before hashing, so that the same file sent twice by ``curl -F`` (a new
  boundary each time) is the same request. A retry reads no more of its body
  than the first request had.
* **Which answers.** Every answer below 500 is kept: successes, and the 4xx
  the request itself caused (invalid items, too many items), which a retry
  would get again. Refusals before the view looks at the request
  (authentication, permissions, throttling) are not, nor are the errors
  about the key itself. A 5xx or an exception is not kept: the claim is
  deleted and a retry runs again.
* **The claim.** Before running, the request inserts its record in a
  transaction of its own, committed at once; the unique constraint on (user,
  view, key) makes two requests racing for one key end with one claim and one
  ``409``. The record is a savepoint when the request already runs in a
  transaction (``ATOMIC_REQUESTS``): then it is committed, or rolled back,
  with the request, and an answer whose transaction is rolled back is not
  kept. A claim whose process died blocks its key (``409``) until it
  expires.
* **Expiry.** Records are kept ``IDEMPOTENCY_KEY_TTL`` seconds (24 hours by
  default) from the first request; after that the key is new again.
  ``manage.py purge_idempotency_keys``, or the jobs' purge, deletes them.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta
from io import BytesIO
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, IntegrityError, router, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import parse_header_parameters
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status

from .exceptions import RequestError
from .settings import api_settings

__all__ = ["BodyDigest", "BulkIdempotencyMixin", "parse_idempotency_key"]

logger = logging.getLogger("rest_framework_bulk")

#: The app that keeps the records, and its model.
IDEMPOTENCY_APP = "rest_framework_bulk.idempotency"
IDEMPOTENCY_MODEL = "rest_framework_bulk_idempotency.IdempotencyKey"

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
#: Headers of the first answer given again with its body.
KEPT_HEADERS = ("Location", "Preference-Applied", "Content-Type")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255
MAX_SCOPE_LENGTH = 200
KEY_PATTERN = re.compile(r"[\x20-\x7e]+")
CHUNK_SIZE = 64 * 1024


def parse_idempotency_key(value: str) -> str | None:
    """The key of an ``Idempotency-Key`` header value, or ``None`` if it is malformed."""
    value = value.strip(" \t")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not value or len(value) > MAX_KEY_LENGTH or not KEY_PATTERN.fullmatch(value):
        return None
    return value


class BodyDigest:
    """A request's byte stream that hashes what is read through it.

    ``boundary`` (a multipart boundary) is replaced by a constant in what is
    hashed, wherever the chunks it is read in cut it.
    """

    def __init__(self, stream, boundary: bytes = b""):
        self._stream = stream
        self._boundary = boundary
        self._hash = hashlib.sha256()
        self._carry = b""
        #: Bytes read so far.
        self.size = 0

    def _feed(self, data: bytes) -> bytes:
        if not data:
            return data
        self.size += len(data)
        if not self._boundary:
            self._hash.update(data)
            return data
        buffer = (self._carry + data).replace(self._boundary, b"\0")
        # The tail might be the start of a boundary the next chunk ends.
        cut = max(len(buffer) - (len(self._boundary) - 1), 0)
        self._hash.update(buffer[:cut])
        self._carry = buffer[cut:]
        return data

    def read(self, *args) -> bytes:
        return self._feed(self._stream.read(*args))

    def readline(self, *args) -> bytes:
        return self._feed(self._stream.readline(*args))

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def drain(self, limit: int) -> bool:
        """Read the rest of the body, giving up after ``limit`` more bytes; whether it ended."""
        while True:
            data = self.read(CHUNK_SIZE)
            if not data:
                return True
            limit -= len(data)
            if limit < 0:
                return False

    def hexdigest(self) -> str:
        digest = self._hash.copy()
        digest.update(self._carry)
        return digest.hexdigest()

    @classmethod
    def install(cls, request) -> BodyDigest:
        """Hash the body of the Django ``request`` as it is read from now on."""
        _media_type, params = parse_header_parameters(request.META.get("CONTENT_TYPE", ""))
        boundary = params.get("boundary", "").encode("latin-1", "replace")
        body = getattr(request, "_body", None)
        if getattr(request, "_read_started", False) or not hasattr(request, "_stream"):
            # Read before the view (a middleware read ``request.body``): hash
            # what it kept. A body read and not kept hashes as empty.
            digest = cls(BytesIO(body or b""), boundary)
            digest.drain(len(body or b""))
            return digest
        digest = cls(request._stream, boundary)
        request._stream = digest
        return digest


class IdempotentReplay(Exception):
    """Carries the answer kept for a retried request out of ``initial()``."""

    def __init__(self, response: HttpResponse):
        super().__init__()
        self.response = response


class BulkIdempotencyMixin:
    """Let clients retry bulk writes safely with an ``Idempotency-Key`` header.

    Requires ``rest_framework_bulk.idempotency`` in ``INSTALLED_APPS``. Set
    ``bulk_idempotency_required = True`` (or override
    ``get_bulk_idempotency_required()``) to refuse bulk writes without a key::

        class PaymentViewSet(BulkOperationsMixin, viewsets.ModelViewSet):
            bulk_idempotency_required = True
    """

    #: Refuse bulk writes that carry no ``Idempotency-Key`` (400).
    bulk_idempotency_required = False

    idempotency_error_messages = {
        "required": _("This endpoint needs an `Idempotency-Key` header on bulk writes."),
        "invalid": _("The `Idempotency-Key` header must be 1 to 255 printable ASCII characters."),
        "anonymous": _(
            "Log in to use an `Idempotency-Key`: keys and their answers belong to a user."
        ),
        "mismatch": _(
            "This `Idempotency-Key` was used for a different request; send a new key for a new request."
        ),
        "in_use": _(
            "A request with this `Idempotency-Key` is still running; retry once it has finished."
        ),
    }

    if TYPE_CHECKING:  # provided by the view the mixin is part of
        # DRF's Request; but mypy wants a mixin's attribute to have the type
        # every other base gives it, and a view has both APIView (Request) and
        # Django's View (HttpRequest) among its bases.
        request: Any

        def is_bulk_request(self) -> bool: ...

    def get_bulk_idempotency_required(self) -> bool:
        """Whether bulk writes must carry an ``Idempotency-Key``."""
        return self.bulk_idempotency_required

    def get_idempotency_key_ttl(self) -> int:
        """Seconds a key and its answer are kept (``IDEMPOTENCY_KEY_TTL``)."""
        return api_settings.IDEMPOTENCY_KEY_TTL

    def get_bulk_idempotency_scope(self) -> str:
        """The view's identity: keys are unique per user and scope.

        The view's dotted class path. You may want to override this to share
        keys between views, or to separate two routes of one class.
        """
        cls = type(self)
        path = f"{cls.__module__}.{cls.__qualname__}"
        if len(path) > MAX_SCOPE_LENGTH:
            path = hashlib.sha256(path.encode()).hexdigest()
        return path

    def takes_idempotency_key(self) -> bool:
        """Whether this request is a bulk write, the only requests keys apply to."""
        request = self.request
        if request.method not in WRITE_METHODS:
            return False
        if request.method == "POST":
            request.data  # noqa: B018  (a list makes it a bulk create)
        return self.is_bulk_request()

    def get_request_fingerprint(self) -> str:
        """A SHA-256 of what makes two requests the same request."""
        request = self.request
        media_type, params = parse_header_parameters(request.META.get("CONTENT_TYPE", ""))
        params.pop("boundary", None)
        content_type = "; ".join(
            [media_type, *(f"{name}={value}" for name, value in sorted(params.items()))]
        )
        query = urlencode(
            sorted(parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True))
        )
        fingerprint = hashlib.sha256()
        for part in (
            request.method,
            request.path,
            query,
            content_type,
            self.request_digest.hexdigest(),
        ):
            fingerprint.update(part.encode("utf-8", "backslashreplace"))
            fingerprint.update(b"\n")
        return fingerprint.hexdigest()

    # Dispatch -----------------------------------------------------------

    def initialize_request(self, request, *args, **kwargs):
        self.idempotency_record = None
        self.request_digest = None
        # Only a request that carries a key has its body hashed.
        if (
            request.method in WRITE_METHODS
            and "HTTP_IDEMPOTENCY_KEY" in request.META
            and apps.is_installed(IDEMPOTENCY_APP)
        ):
            self.request_digest = BodyDigest.install(request)
        return super().initialize_request(request, *args, **kwargs)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        value = request.headers.get(HEADER)
        required = self.get_bulk_idempotency_required()
        if value is None and not required:
            return
        if not apps.is_installed(IDEMPOTENCY_APP):
            if required:
                raise ImproperlyConfigured(
                    f"`{type(self).__name__}` requires an `Idempotency-Key`: add "
                    f"`{IDEMPOTENCY_APP!r}` to `INSTALLED_APPS`."
                )
            return
        if not self.takes_idempotency_key():
            return
        messages = self.idempotency_error_messages
        if value is None:
            raise RequestError(messages["required"], "idempotency_key_required")
        key = parse_idempotency_key(value)
        if key is None:
            raise RequestError(messages["invalid"], "invalid_idempotency_key")
        if not request.user or not request.user.is_authenticated:
            raise exceptions.NotAuthenticated(messages["anonymous"])
        self.idempotency_record = self.claim_idempotency_key(key)

    def claim_idempotency_key(self, key: str):
        """The new record of ``key``; or raise the replay, 409 or 422 for a retry."""
        model = apps.get_model(IDEMPOTENCY_MODEL)
        db = router.db_for_write(model)
        records = model.objects.using(db)
        now = timezone.now()
        lookup = {
            "user_id": self.request.user.pk,
            "scope": self.get_bulk_idempotency_scope(),
            "key": key,
        }
        record = records.filter(**lookup, expires_at__gt=now).first()
        messages = self.idempotency_error_messages
        if record is None:
            try:
                # A transaction of its own (a savepoint inside the request's):
                # a lost race leaves the request's transaction usable.
                with transaction.atomic(using=db):
                    records.filter(**lookup, expires_at__lte=now).delete()
                    ttl = timedelta(seconds=self.get_idempotency_key_ttl())
                    return records.create(**lookup, created_at=now, expires_at=now + ttl)
            except IntegrityError:
                raise RequestError(
                    messages["in_use"], "idempotency_key_in_use", status.HTTP_409_CONFLICT
                ) from None
        if record.status_code is None:
            raise RequestError(
                messages["in_use"], "idempotency_key_in_use", status.HTTP_409_CONFLICT
            )
        digest = self.request_digest
        if (
            not digest.drain(record.body_size - digest.size)
            or self.get_request_fingerprint() != record.fingerprint
        ):
            raise RequestError(
                messages["mismatch"],
                "idempotency_key_mismatch",
                status.HTTP_422_UNPROCESSABLE_ENTITY,
            )
        raise IdempotentReplay(self.replay_response(record))

    def replay_response(self, record) -> HttpResponse:
        """The answer kept in ``record``, as it was given."""
        headers = dict(record.headers)
        response = HttpResponse(
            bytes(record.content),
            status=record.status_code,
            content_type=headers.pop("Content-Type", None),
        )
        for name, value in headers.items():
            response[name] = value
        response[REPLAYED_HEADER] = "true"
        return response

    def handle_exception(self, exc):
        if isinstance(exc, IdempotentReplay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record, self.idempotency_record = getattr(self, "idempotency_record", None), None
        if record is not None:
            self.keep_idempotent_response(record, response)
        return response

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            # Still claimed: the view raised (a 500); a retry runs again.
            record, self.idempotency_record = getattr(self, "idempotency_record", None), None
            if record is not None:
                release(record)

    def keep_idempotent_response(self, record, response) -> None:
        """Store ``response`` as the answer to retries of this request (or release the key)."""
        keep = (
            response.status_code < 500
            and not response.streaming
            and self.request_digest.drain(api_settings.CSV_MAX_FILE_SIZE)
        )
        if not keep:
            release(record)
            return
        db = record._state.db
        if transaction.get_connection(db).needs_rollback:
            return  # the record goes with the request's transaction
        if hasattr(response, "render") and not response.is_rendered:
            response.render()
        headers = {name: response[name] for name in KEPT_HEADERS if response.has_header(name)}
        try:
            type(record).objects.using(db).filter(pk=record.pk).update(
                status_code=response.status_code,
                content=response.content,
                headers=headers,
                fingerprint=self.get_request_fingerprint(),
                body_size=self.request_digest.size,
            )
        except DatabaseError:
            logger.exception("Could not keep the answer to Idempotency-Key %r.", record.key)
            release(record)


def release(record) -> None:
    """Delete a claim, so that a retry of its request runs again."""
    db = record._state.db
    if transaction.get_connection(db).needs_rollback:
        return  # rolled back with the request
    try:
        type(record).objects.using(db).filter(pk=record.pk).delete()
    except DatabaseError:
        logger.exception(
            "Could not release Idempotency-Key %r; it is blocked until it expires.", record.key
        )
