"""djangorestframework-bulk's own test suite, ported: the behaviours code
written for it relies on."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from rest_framework import status
from rest_framework.test import APIClient

from .models import SimpleModel

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return APIClient()


def send(client, method, url, data=None):
    body = json.dumps(data) if data is not None else None
    return getattr(client, method)(url, data=body, content_type="application/json")


class TestBulkAPIView:
    url = "/bulk/"

    def test_get(self, client):
        SimpleModel.objects.create(contents="hello world", number=1)
        SimpleModel.objects.create(contents="hello mars", number=2)
        response = client.get(self.url)
        assert response.status_code == status.HTTP_200_OK
        assert [item["contents"] for item in response.json()] == ["hello world", "hello mars"]

    def test_post_single(self, client):
        response = send(client, "post", self.url, {"contents": "hello world", "number": 1})
        assert response.status_code == status.HTTP_201_CREATED
        assert response.json()["contents"] == "hello world"
        assert SimpleModel.objects.get().contents == "hello world"

    def test_post_bulk(self, client):
        response = send(
            client,
            "post",
            self.url,
            [{"contents": "hello world", "number": 1}, {"contents": "hello mars", "number": 2}],
        )
        assert response.status_code == status.HTTP_201_CREATED
        assert [item["contents"] for item in response.json()] == ["hello world", "hello mars"]
        assert sorted(SimpleModel.objects.values_list("contents", flat=True)) == [
            "hello mars",
            "hello world",
        ]

    def test_put(self, client):
        obj1 = SimpleModel.objects.create(contents="hello world", number=1)
        obj2 = SimpleModel.objects.create(contents="hello mars", number=2)
        response = send(
            client,
            "put",
            self.url,
            [
                {"contents": "foo", "number": 3, "id": obj1.pk},
                {"contents": "bar", "number": 4, "id": obj2.pk},
            ],
        )
        assert response.status_code == status.HTTP_200_OK
        assert list(SimpleModel.objects.order_by("pk").values_list("id", "contents", "number")) == [
            (obj1.pk, "foo", 3),
            (obj2.pk, "bar", 4),
        ]

    def test_put_without_update_key(self, client):
        obj1 = SimpleModel.objects.create(contents="hello world", number=1)
        obj2 = SimpleModel.objects.create(contents="hello mars", number=2)
        response = send(
            client,
            "put",
            self.url,
            [
                {"contents": "foo", "number": 3},
                {"contents": "rainbows", "number": 4},
                {"contents": "bar", "number": 4, "id": obj2.pk},
            ],
        )
        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert list(SimpleModel.objects.order_by("pk").values_list("contents", flat=True)) == [
            obj1.contents,
            obj2.contents,
        ]

    def test_patch(self, client):
        obj = SimpleModel.objects.create(contents="hello world", number=1)
        response = send(client, "patch", self.url, [{"contents": "foo", "id": obj.pk}])
        assert response.status_code == status.HTTP_200_OK
        obj.refresh_from_db()
        assert (obj.contents, obj.number) == ("foo", 1)

    def test_delete_not_filtered(self, client):
        SimpleModel.objects.create(contents="hello world", number=1)
        SimpleModel.objects.create(contents="hello mars", number=2)
        response = client.delete(self.url)
        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert SimpleModel.objects.count() == 2

    def test_delete_filtered(self, client):
        # 0.2.1 deleted every row the view's own filter_queryset() kept; a
        # DELETE must now name the rows or carry the client's own filters.
        SimpleModel.objects.create(contents="hello world", number=1)
        mars = SimpleModel.objects.create(contents="hello mars", number=10)
        response = client.delete("/filtered/")
        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert response.json()["code"] == "unfiltered_delete"
        assert SimpleModel.objects.count() == 2
        response = client.delete(
            "/filtered/", data=json.dumps([mars.pk]), content_type="application/json"
        )
        assert response.status_code == status.HTTP_204_NO_CONTENT
        assert list(SimpleModel.objects.values_list("contents", flat=True)) == ["hello world"]

    def test_options(self, client):
        response = client.options(self.url)
        assert response.status_code == status.HTTP_200_OK


class TestBulkAPIViewSet:
    """The router maps the bulk actions onto the list route."""

    def test_get_single(self, client):
        obj = SimpleModel.objects.create(contents="hello world", number=7)
        response = client.get(reverse("api:simple-detail", args=[obj.pk]))
        assert response.status_code == status.HTTP_200_OK
        assert response.json()["contents"] == "hello world"

    def test_get_list(self, client):
        SimpleModel.objects.create(contents="hello world", number=7)
        SimpleModel.objects.create(contents="hello mars", number=3)
        response = client.get(reverse("api:simple-list"))
        assert response.status_code == status.HTTP_200_OK
        assert [item["number"] for item in response.json()] == [7]

    def test_post_single(self, client):
        response = send(
            client, "post", reverse("api:simple-list"), {"contents": "hello world", "number": 7}
        )
        assert response.status_code == status.HTTP_201_CREATED
        assert SimpleModel.objects.get().number == 7

    def test_post_bulk(self, client):
        response = send(
            client,
            "post",
            reverse("api:simple-list"),
            [{"contents": "hello world", "number": 7}, {"contents": "hello mars", "number": 8}],
        )
        assert response.status_code == status.HTTP_201_CREATED
        assert SimpleModel.objects.count() == 2

    def test_put(self, client):
        obj = SimpleModel.objects.create(contents="hello world", number=7)
        response = send(
            client,
            "put",
            reverse("api:simple-list"),
            [{"id": obj.pk, "contents": "foo", "number": 9}],
        )
        assert response.status_code == status.HTTP_200_OK
        obj.refresh_from_db()
        assert (obj.contents, obj.number) == ("foo", 9)

    def test_patch(self, client):
        obj = SimpleModel.objects.create(contents="hello world", number=7)
        response = send(
            client, "patch", reverse("api:simple-list"), [{"id": obj.pk, "contents": "foo"}]
        )
        assert response.status_code == status.HTTP_200_OK
        obj.refresh_from_db()
        assert (obj.contents, obj.number) == ("foo", 7)

    def test_delete(self, client):
        world = SimpleModel.objects.create(contents="hello world", number=7)
        SimpleModel.objects.create(contents="hello mars", number=3)
        response = client.delete(reverse("api:simple-list"))
        assert response.status_code == status.HTTP_400_BAD_REQUEST
        assert SimpleModel.objects.count() == 2
        response = client.delete(
            reverse("api:simple-list"),
            data=json.dumps([{"id": world.pk}]),
            content_type="application/json",
        )
        assert response.status_code == status.HTTP_204_NO_CONTENT
        assert list(SimpleModel.objects.values_list("number", flat=True)) == [3]
