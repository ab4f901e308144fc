"""
The bulk views and jobs behind Django's own ASGI handler.

Each request goes through ``ASGIHandler`` as an ASGI server would call it,
on an event loop of its own: the sync views run in a thread of the
request's (not the test's), with a database connection of their own, while
the job runs on the runner's workers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from urllib.parse import urlsplit

import pytest
from django.core.handlers.asgi import ASGIHandler

from tests.factories import AccountFactory
from tests.models import Item

from .test_bulk_endpoint import BULK, payload

pytestmark = pytest.mark.urls("tests.urls")

PASSWORD = "asgi-password"


#: The threads the views ran in, as ``record_thread`` saw them.
VIEW_THREADS: list[str] = []


def record_thread(get_response):
    """A sync middleware: it runs in the thread the view runs in."""

    def middleware(request):
        VIEW_THREADS.append(threading.current_thread().name)
        return get_response(request)

    return middleware


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


def call(user, method: str, url: str, body: bytes = b"", **headers: str) -> Answer:
    """Send one request through ``ASGIHandler`` and collect the whole answer."""
    parts = urlsplit(url)
    credentials = base64.b64encode(f"{user.username}:{PASSWORD}".encode()).decode()
    headers = {"authorization": f"Basic {credentials}", "host": "testserver", **headers}
    if body:
        headers.setdefault("content-type", "application/json")
        headers["content-length"] = str(len(body))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": parts.path,
        "raw_path": parts.path.encode(),
        "query_string": parts.query.encode(),
        "root_path": "",
        "headers": [(name.encode(), value.encode()) for name, value in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }

    async def run() -> list[dict]:
        incoming = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict] = []

        async def receive():
            if incoming:
                return incoming.pop(0)
            # The client stays connected; the handler stops listening once it has answered.
            await asyncio.Future()

        async def send(message):
            sent.append(message)

        await ASGIHandler()(scope, receive, send)
        return sent

    sent = asyncio.run(run())
    start = next(message for message in sent if message["type"] == "http.response.start")
    return Answer(
        start["status"],
        {name.decode().lower(): value.decode() for name, value in start["headers"]},
        b"".join(
            message.get("body", b"") for message in sent if message["type"] == "http.response.body"
        ),
    )


@pytest.fixture
def asgi_user(user, settings):
    user.set_password(PASSWORD)
    user.save()
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.record_thread"]
    VIEW_THREADS.clear()
    return user


def test_a_bulk_write_is_answered_at_once(transactional_db, asgi_user):
    account = AccountFactory(owner=asgi_user)
    answer = call(asgi_user, "POST", BULK, json.dumps(payload(account, 3)).encode())
    assert answer.status == 201, answer.body
    assert answer.json()["success_count"] == 3
    assert Item.objects.filter(account=account).count() == 3


def test_prefer_wait_gets_the_answer_of_a_job_run_meanwhile(runner, asgi_user, settings):
    account = AccountFactory(owner=asgi_user)
    # Long enough for a loaded machine; the answer comes as soon as the job ends.
    settings.REST_FRAMEWORK_BULK = {**settings.REST_FRAMEWORK_BULK, "MAX_WAIT": 30}
    answer = call(
        asgi_user,
        "POST",
        BULK,
        json.dumps(payload(account, 25)).encode(),
        prefer="respond-async, wait=30",
    )
    assert answer.status == 201, answer.body
    assert answer.headers["preference-applied"] == "wait=30"
    body = answer.json()
    assert (body["total_items"], body["success_count"]) == (25, 25)
    assert sorted(body["created_ids"]) == sorted(Item.objects.values_list("pk", flat=True))
    # The view ran, and waited, in a thread of the handler's, not in the test's.
    assert VIEW_THREADS and threading.current_thread().name not in VIEW_THREADS


# Django serves a file to an ASGI server by reading it whole first, and says
# so; the docs (guide/asgi) tell users. The download must be complete all the same.
@pytest.mark.filterwarnings("ignore:StreamingHttpResponse must consume synchronous iterators")
def test_a_result_file_is_downloaded_whole(runner, asgi_user):
    account = AccountFactory(owner=asgi_user)
    submitted = call(
        asgi_user,
        "POST",
        BULK,
        json.dumps(payload(account, 600)).encode(),
        prefer="respond-async",
    )
    assert submitted.status == 202, submitted.body
    deadline = time.monotonic() + 60
    while (status := call(asgi_user, "GET", submitted.json()["status_url"]).json())["state"] in (
        "PENDING",
        "PROGRESS",
    ):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["state"] == "SUCCESS", status
    download = call(asgi_user, "GET", status["results"]["successful"]["url"] + "?format=csv")
    assert download.status == 200, download.body
    assert download.headers["content-type"].startswith("text/csv")
    rows = download.body.decode().splitlines()
    assert len(rows) == 1 + 600
    assert [row.split(",")[0] for row in rows[1:]] == [str(n) for n in range(600)]
