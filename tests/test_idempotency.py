"""``Idempotency-Key`` on bulk writes: replays, mismatches, keys in use, expiry."""

from __future__ import annotations

import io
import json
import threading
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from rest_framework_bulk.idempotency.models import IdempotencyKey
from rest_framework_bulk.idempotency_keys import BodyDigest, parse_idempotency_key
from rest_framework_bulk.jobs.purge import purge_expired

from .factories import AccountFactory, UserFactory
from .models import Item, SimpleModel

LIST = "/bulk/"
BULK = "/v2/items/bulk/"
KEY = "HTTP_IDEMPOTENCY_KEY"


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def client_for():
    def make(user):
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def client(client_for, user):
    return client_for(user)


def post(client, url, data, key="k-1", method="post", **extra):
    if key is not None:
        extra[KEY] = key
    return getattr(client, method)(
        url, data=json.dumps(data), content_type="application/json", **extra
    )


def rows(count, start=0):
    return [{"number": n, "contents": f"c{n}"} for n in range(start, start + count)]


@pytest.mark.django_db
class TestListRoute:
    def test_first_request_runs_and_is_kept(self, client, user):
        response = post(client, LIST, rows(2))

        assert response.status_code == 201
        assert SimpleModel.objects.count() == 2
        record = IdempotencyKey.objects.get()
        assert (record.user, record.key, record.status_code) == (user, "k-1", 201)
        assert len(record.fingerprint) == 64
        assert record.expires_at - record.created_at == timedelta(seconds=24 * 60 * 60)

    def test_retry_replays_without_writing(self, client):
        first = post(client, LIST, rows(2))
        second = post(client, LIST, rows(2))

        assert SimpleModel.objects.count() == 2
        assert second.status_code == first.status_code == 201
        assert second.content == first.content
        assert second["Content-Type"] == first["Content-Type"]
        assert second["Idempotent-Replayed"] == "true"
        assert not first.has_header("Idempotent-Replayed")

    def test_quoted_key_is_the_bare_key(self, client):
        post(client, LIST, rows(1), key="abc")
        response = post(client, LIST, rows(1), key='"abc"')

        assert response["Idempotent-Replayed"] == "true"
        assert SimpleModel.objects.count() == 1

    def test_update_and_delete_replay(self, client):
        objects = [SimpleModel.objects.create(number=n, contents="x") for n in range(3)]
        patch = [{"id": obj.pk, "contents": "y"} for obj in objects]
        assert post(client, LIST, patch, key="p", method="patch").status_code == 200
        SimpleModel.objects.update(contents="z")
        replay = post(client, LIST, patch, key="p", method="patch")
        assert replay.status_code == 200
        assert set(SimpleModel.objects.values_list("contents", flat=True)) == {"z"}

        ids = [obj.pk for obj in objects]
        assert post(client, LIST, ids, key="d", method="delete").status_code == 204
        SimpleModel.objects.create(number=9, contents="new", id=ids[0])
        assert post(client, LIST, ids, key="d", method="delete").status_code == 204
        assert SimpleModel.objects.filter(pk=ids[0]).exists()

    def test_same_key_different_body_is_422(self, client):
        post(client, LIST, rows(2))
        response = post(client, LIST, rows(3))

        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_mismatch"
        assert SimpleModel.objects.count() == 2

    @pytest.mark.parametrize(
        "change",
        [
            {"query": "?dry_run=1"},
            {"method": "put"},
        ],
    )
    def test_same_key_different_request_is_422(self, client, change):
        post(client, LIST, rows(2))
        url = LIST + change.get("query", "")
        response = post(client, url, rows(2), method=change.get("method", "post"))

        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_mismatch"

    def test_query_order_does_not_matter(self, client):
        post(client, LIST + "?a=1&b=2", rows(1))
        response = post(client, LIST + "?b=2&a=1", rows(1))

        assert response["Idempotent-Replayed"] == "true"

    def test_key_in_use_is_409(self, client, user):
        IdempotencyKey.objects.create(
            user=user,
            scope="tests.views.SimpleBulkAPIView",
            key="k-1",
            expires_at=timezone.now() + timedelta(hours=1),
        )
        response = post(client, LIST, rows(2))

        assert response.status_code == 409
        assert response.json()["code"] == "idempotency_key_in_use"
        assert not SimpleModel.objects.exists()

    def test_client_error_is_replayed(self, client):
        bad = [{"number": "x", "contents": "c"}]
        first = post(client, LIST, bad)
        SimpleModel.objects.create(number=1, contents="c")
        second = post(client, LIST, bad)

        assert first.status_code == second.status_code == 400
        assert second.content == first.content
        assert second["Idempotent-Replayed"] == "true"

    def test_server_error_is_not_kept(self, client, monkeypatch):
        def fail(self, serializer):
            raise RuntimeError("boom")

        monkeypatch.setattr(
            "tests.views.SimpleBulkAPIView.perform_bulk_create", fail, raising=False
        )
        client.raise_request_exception = True
        with pytest.raises(RuntimeError):
            post(client, LIST, rows(2))
        assert not IdempotencyKey.objects.exists()
        monkeypatch.undo()
        assert post(client, LIST, rows(2)).status_code == 201
        assert SimpleModel.objects.count() == 2

    def test_required_key(self, client):
        response = post(client, "/key-required/", rows(1), key=None)

        assert response.status_code == 400
        assert response.json()["code"] == "idempotency_key_required"
        assert post(client, "/key-required/", rows(1)).status_code == 201

    def test_required_key_only_on_bulk_writes(self, client):
        assert client.get("/key-required/").status_code == 200
        single = post(client, "/key-required/", {"number": 1, "contents": "one"}, key=None)
        assert single.status_code == 201

    def test_single_create_and_get_ignore_the_key(self, client):
        post(client, LIST, {"number": 1, "contents": "one"})
        post(client, LIST, {"number": 1, "contents": "one"})
        client.get(LIST, **{KEY: "k-1"})

        assert SimpleModel.objects.count() == 2
        assert not IdempotencyKey.objects.exists()

    @pytest.mark.parametrize("key", ["", " ", "x" * 256, "caf\u00e9", "tab\there", "nul\x00"])
    def test_malformed_key_is_400(self, client, key):
        response = post(client, LIST, rows(1), key=key)

        assert response.status_code == 400
        assert response.json()["code"] == "invalid_idempotency_key"
        assert not SimpleModel.objects.exists()

    def test_longest_key(self, client):
        assert post(client, LIST, rows(1), key="x" * 255).status_code == 201

    def test_anonymous_key_is_refused(self, db):
        response = post(APIClient(), LIST, rows(1))

        assert response.status_code in (401, 403)
        assert response.json()["code"] == "not_authenticated"
        assert not SimpleModel.objects.exists()

    def test_anonymous_without_key_is_unaffected(self, db):
        assert post(APIClient(), LIST, rows(1), key=None).status_code == 201

    def test_keys_are_per_user(self, client, client_for):
        post(client, LIST, rows(1))
        response = post(client_for(UserFactory()), LIST, rows(1))

        assert response.status_code == 201
        assert not response.has_header("Idempotent-Replayed")
        assert SimpleModel.objects.count() == 2
        assert IdempotencyKey.objects.count() == 2

    def test_keys_are_per_view(self, client):
        post(client, LIST, rows(1))
        response = post(client, "/key-required/", rows(1))

        assert response.status_code == 201
        assert SimpleModel.objects.count() == 2

    def test_expired_key_runs_again(self, client):
        post(client, LIST, rows(1))
        IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
        response = post(client, LIST, rows(1))

        assert response.status_code == 201
        assert not response.has_header("Idempotent-Replayed")
        assert SimpleModel.objects.count() == 2
        assert IdempotencyKey.objects.count() == 1

    def test_ttl_setting(self, client, settings):
        settings.REST_FRAMEWORK_BULK = {"IDEMPOTENCY_KEY_TTL": 60}
        post(client, LIST, rows(1))
        record = IdempotencyKey.objects.get()

        assert record.expires_at - record.created_at == pytest.approx(
            timedelta(seconds=60), abs=timedelta(seconds=5)
        )

    def test_purge_command(self, client, capsys):
        post(client, LIST, rows(1), key="old")
        post(client, LIST, rows(1), key="new")
        IdempotencyKey.objects.filter(key="old").update(
            expires_at=timezone.now() - timedelta(seconds=1)
        )

        call_command("purge_idempotency_keys", "--dry-run")
        assert "1 expired idempotency key(s)." in capsys.readouterr().out
        call_command("purge_idempotency_keys")
        assert "Deleted 1 expired idempotency key(s)." in capsys.readouterr().out
        assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]

    def test_jobs_purge_deletes_expired_keys(self, client):
        post(client, LIST, rows(1))
        IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

        assert purge_expired() == 0
        assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
class TestBulkEndpoint:
    @pytest.fixture
    def account(self, user):
        return AccountFactory(owner=user)

    def items(self, account, count=2):
        return [
            {"account": account.pk, "sku": f"S{n}", "ref": f"r{n}", "name": "n"}
            for n in range(count)
        ]

    def test_json_replay(self, client, account):
        first = post(client, BULK, self.items(account))
        second = post(client, BULK, self.items(account))

        assert first.status_code == second.status_code == 201
        assert second.json() == first.json()
        assert Item.objects.count() == 2

    def test_csv_body_replay_and_mismatch(self, client, account):
        body = f"account,sku,ref,name\n{account.pk},C1,r1,one\n{account.pk},C2,r2,two\n"
        first = client.post(BULK, data=body, content_type="text/csv", **{KEY: "csv"})
        second = client.post(BULK, data=body, content_type="text/csv", **{KEY: "csv"})
        other = client.post(
            BULK, data=body + f"{account.pk},C3,r3,three\n", content_type="text/csv", **{KEY: "csv"}
        )

        assert first.status_code == second.status_code == 201
        assert second.content == first.content
        assert other.status_code == 422
        assert Item.objects.count() == 2

    def test_csv_upload_replays_with_a_new_boundary(self, client, account):
        text = f"account,sku,ref,name\n{account.pk},U1,r1,one\n".encode()

        def upload(boundary):
            body = (
                (
                    f"--{boundary}\r\n"
                    'Content-Disposition: form-data; name="file"; filename="items.csv"\r\n'
                    "Content-Type: text/csv\r\n\r\n"
                ).encode()
                + text
                + f"\r\n--{boundary}--\r\n".encode()
            )
            return client.post(
                BULK,
                data=body,
                content_type=f"multipart/form-data; boundary={boundary}",
                **{KEY: "up"},
            )

        first = upload("aaaaBOUNDARYaaaa")
        second = upload("zzzzOTHERzzzzzzzzzz")

        assert first.status_code == 201, first.content
        assert second.status_code == 201
        assert second["Idempotent-Replayed"] == "true"
        assert Item.objects.count() == 1

    def test_csv_upload_with_the_client_encoder(self, client, account):
        text = f"account,sku,ref,name\n{account.pk},U1,r1,one\n".encode()
        for _ in range(2):
            upload = SimpleUploadedFile("items.csv", text, content_type="text/csv")
            response = client.post(BULK, data={"file": upload}, format="multipart", **{KEY: "f"})
            assert response.status_code == 201
        assert response["Idempotent-Replayed"] == "true"
        assert Item.objects.count() == 1

    def test_get_ignores_the_key(self, client, account):
        assert client.get(BULK, **{KEY: ""}).status_code == 200


def test_body_digest_ignores_the_boundary_across_chunks():
    def digest(body, boundary, size):
        stream = BodyDigest(io.BytesIO(body), boundary)
        while stream.read(size):
            pass
        return stream.hexdigest()

    one = b"--AAAA\r\nx\r\n--AAAA--"
    two = b"--BBBBBB\r\nx\r\n--BBBBBB--"
    for size in (1, 2, 3, 5, 64):
        assert digest(one, b"AAAA", size) == digest(two, b"BBBBBB", size)
    assert digest(one, b"AAAA", 3) != digest(b"--AAAA\r\ny\r\n--AAAA--", b"AAAA", 3)


@given(st.text(max_size=300))
def test_parse_idempotency_key_accepts_printable_ascii_only(value):
    key = parse_idempotency_key(value)
    if key is not None:
        assert 1 <= len(key) <= 255
        assert all(" " <= char <= "~" for char in key)


@pytest.mark.django_db
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    value=st.one_of(
        st.text(max_size=300), st.binary(max_size=300).map(lambda b: b.decode("latin-1"))
    )
)
def test_any_header_value_is_accepted_or_a_400(client, value):
    response = post(client, LIST, rows(1), key=value)

    assert response.status_code in (201, 400, 422), response.content
    if response.status_code != 201:
        assert response.json()["code"] in ("invalid_idempotency_key", "idempotency_key_mismatch")


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor == "sqlite",
    reason="SQLite locks the whole database; the test database is private to one connection",
)
@pytest.mark.parametrize("url", [LIST, BULK])
def test_concurrent_duplicates_write_once(url):
    user = UserFactory()
    account = AccountFactory(owner=user)
    if url == BULK:
        payload = [
            {"account": account.pk, "sku": f"K{i:03d}", "ref": f"r{i}", "name": "n"}
            for i in range(200)
        ]
    else:
        payload = rows(200)
    barrier = threading.Barrier(2)
    results: list[int] = []

    def send():
        try:
            client = APIClient()
            client.force_authenticate(user)
            barrier.wait(timeout=10)
            results.append(post(client, url, payload, key="same").status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(results) in ([201, 201], [201, 409]), results
    model = Item if url == BULK else SimpleModel
    assert model.objects.count() == 200
