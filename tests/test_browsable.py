"""The browsable API of bulk views: which renderer, which forms, what they hold."""

from __future__ import annotations

import io
import json
import re
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.test import APIClient, APIRequestFactory, force_authenticate

from rest_framework_bulk.browsable import BulkBrowsableAPIRenderer
from rest_framework_bulk.generics import ListCreateBulkUpdateAPIView
from rest_framework_bulk.parsers import CSVParser
from tests.serializers import ItemSerializer
from tests.views import ItemBulkViewSet, ItemViewSet

from .factories import AccountFactory, ItemFactory, UserFactory
from .models import Item

pytestmark = pytest.mark.django_db

LIST = "/api/items/"
BULK = "/v2/items/bulk/"
HTML = {"HTTP_ACCEPT": "text/html"}
LIST_ACTIONS = {
    "get": "list",
    "post": "create",
    "put": "bulk_update",
    "patch": "partial_bulk_update",
    "delete": "bulk_destroy",
}

factory = APIRequestFactory()


@pytest.fixture
def user():
    return UserFactory()


@pytest.fixture
def client(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def items(user):
    account = AccountFactory(owner=user)
    return ItemFactory.create_batch(3, account=account)


def raw_content(form) -> str:
    return form["_content"].initial


def media_types(form) -> list[str]:
    return [value for value, _label in form["_content_type"].field.choices]


# Which renderer --------------------------------------------------------------


def test_bulk_views_render_the_browsable_api_with_the_bulk_renderer(client, items):
    for url in (LIST, BULK, f"{LIST}{items[0].pk}/", "/bulk-operations/"):
        response = client.get(url, **HTML)
        assert response.status_code == 200, url
        assert type(response.accepted_renderer) is BulkBrowsableAPIRenderer, url


def test_json_answers_are_unchanged(client, items):
    response = client.get(LIST, HTTP_ACCEPT="application/json")
    assert type(response.accepted_renderer) is JSONRenderer
    assert response["Content-Type"] == "application/json"
    assert [row["id"] for row in response.json()] == [item.pk for item in items]


class JSONOnlyItemViewSet(ItemViewSet):
    renderer_classes = [JSONRenderer]


class OwnBrowsableAPIRenderer(BrowsableAPIRenderer):
    pass


class OwnRendererItemViewSet(ItemViewSet):
    renderer_classes = [JSONRenderer, OwnBrowsableAPIRenderer]


class DRFRendererItemViewSet(ItemViewSet):
    browsable_api_renderer_class = None


def render(view_class, method="get", url=LIST, user=None, actions=LIST_ACTIONS, **kwargs):
    request = getattr(factory, method)(url, **kwargs, **HTML)
    if user is not None:
        force_authenticate(request, user)
    response = view_class.as_view(actions)(request)
    return response.render()


def test_a_view_without_the_browsable_api_does_not_gain_it(items):
    response = render(JSONOnlyItemViewSet)
    assert response.status_code == 406


def test_a_browsable_api_renderer_of_your_own_is_kept(items):
    response = render(OwnRendererItemViewSet)
    assert type(response.accepted_renderer) is OwnBrowsableAPIRenderer


def test_none_keeps_drfs_renderer(items):
    response = render(DRFRendererItemViewSet)
    assert type(response.accepted_renderer) is BrowsableAPIRenderer
    assert b"data-bulk-examples" not in response.content


# The list route ----------------------------------------------------------------


def test_list_route_forms_send_lists(client, items):
    response = client.get(LIST, **HTML)
    context = response.context
    # The HTML form creates one object, as it does with DRF; there is none
    # for PUT and PATCH, whose bodies must be lists.
    assert context["post_form"] is not None
    assert context["put_form"] is None
    assert media_types(context["raw_data_post_form"]) == ["application/json"]

    post = json.loads(raw_content(context["raw_data_post_form"]))
    assert post == [
        {
            "account": None,
            "sku": "",
            "ref": "",
            "name": "",
            "price": None,
            "quantity": None,
            "tags": [],
        }
    ]
    first = items[0]
    put = json.loads(raw_content(context["raw_data_put_form"]))
    assert put == [
        {
            "id": first.pk,
            "account": first.account_id,
            "sku": first.sku,
            "ref": first.ref,
            "name": first.name,
            "price": "9.99",
            "quantity": 1,
            "tags": [],
        }
    ]
    assert context["raw_data_put_form"] is not context["raw_data_post_form"]
    assert context["bulk_upload_form"] is None
    html = response.content.decode()
    assert "each names its object by <code>id</code>" in html
    assert 'id="bulk-upload-form"' not in html


def test_the_put_example_is_a_request_that_succeeds(client, items):
    form = client.get(LIST, **HTML).context["raw_data_put_form"]
    before = list(Item.objects.values_list("pk", "name", "quantity", "price"))

    response = client.put(LIST, raw_content(form), content_type="application/json")

    assert response.status_code == 200, response.content
    assert [row["id"] for row in response.json()] == [items[0].pk]
    assert list(Item.objects.values_list("pk", "name", "quantity", "price")) == before


def test_the_post_example_is_refused_item_by_item(client, items):
    form = client.get(LIST, **HTML).context["raw_data_post_form"]
    response = client.post(LIST, raw_content(form), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["index"] == 0
    assert Item.objects.count() == 3


def test_without_objects_the_put_example_names_none(client):
    form = client.get(LIST, **HTML).context["raw_data_put_form"]
    [item] = json.loads(raw_content(form))
    assert item["id"] is None
    assert set(item) == {"id", "account", "sku", "ref", "name", "price", "quantity", "tags"}


def test_detail_route_keeps_drfs_forms(client, items):
    context = client.get(f"{LIST}{items[0].pk}/", **HTML).context
    assert context["put_form"] is not None
    content = json.loads(raw_content(context["raw_data_put_form"]))
    assert isinstance(content, dict)
    assert content["sku"] == items[0].sku
    assert "data-bulk-examples" not in str(context["raw_data_put_form"])


class SingleCreateItemView(ListCreateBulkUpdateAPIView):
    """POST creates one object, as DRF's ``CreateModelMixin`` does; PUT and PATCH take lists."""

    queryset = Item.objects.all()
    serializer_class = ItemSerializer


def textarea(html: str, form_id: str) -> str:
    """The content of the textarea in the element ``form_id`` of ``html``."""
    section = html[html.index(f'id="{form_id}"') :]
    content = re.search(r"<textarea[^>]*>(.*?)</textarea>", section, re.S).group(1)
    return unescape(content)


def test_a_post_that_creates_one_object_keeps_drfs_forms(items, user):
    request = factory.get(LIST, **HTML)
    force_authenticate(request, user)
    response = SingleCreateItemView.as_view()(request).render()

    assert response.status_code == 200
    html = response.content.decode()
    # POST is DRF's: an HTML form and a raw form, for one object.
    assert 'id="post-object-form"' in html
    assert isinstance(json.loads(textarea(html, "post-generic-content-form")), dict)
    # PUT and PATCH take lists.
    assert 'id="put-object-form"' not in html
    assert isinstance(json.loads(textarea(html, "put-generic-content-form")), list)
    assert html.count("data-bulk-examples") == 1


class ReadOnlyForAnonymousViewSet(ItemViewSet):
    permission_classes = [IsAuthenticatedOrReadOnly]


def test_no_write_forms_without_permission(items):
    response = render(ReadOnlyForAnonymousViewSet)
    assert response.status_code == 200
    html = response.content.decode()
    assert "data-bulk-examples" not in html
    assert 'data-method="PATCH"' not in html


# The /bulk/ endpoint -------------------------------------------------------------


def test_bulk_endpoint_offers_csv_and_no_html_form(client, items):
    response = client.get(BULK, **HTML)
    context = response.context
    assert context["post_form"] is None
    assert context["put_form"] is None
    form = context["raw_data_post_form"]
    assert media_types(form) == ["application/json", "text/csv", "text/tab-separated-values"]
    examples = json.loads(form.fields["_content"].widget.attrs["data-bulk-examples"])
    assert set(examples) == set(media_types(form))
    assert examples["application/json"] == raw_content(form)
    put_examples = json.loads(
        context["raw_data_put_form"].fields["_content"].widget.attrs["data-bulk-examples"]
    )
    rows = list(CSVParser().parse(io.BytesIO(put_examples["text/csv"].encode())))
    assert rows[0]["id"] == str(items[0].pk)
    assert rows[0]["sku"] == items[0].sku
    assert "tags" not in rows[0]


def test_the_csv_example_is_a_request_that_succeeds(client, items):
    form = client.get(BULK, **HTML).context["raw_data_put_form"]
    examples = json.loads(form.fields["_content"].widget.attrs["data-bulk-examples"])

    response = client.patch(BULK, examples["text/csv"], content_type="text/csv")

    assert response.status_code == 200, response.content
    assert response.json()["items"] == [
        {"index": 0, "status": "updated", "id": items[0].pk, "line": 2}
    ]


def test_bulk_endpoint_upload_form(client, items):
    response = client.get(BULK, **HTML)
    upload = response.context["bulk_upload_form"]
    assert upload["methods"] == ["POST", "PUT", "PATCH", "DELETE"]
    assert upload["upsert_fields"] == ["sku"]
    assert upload["lenient"] is True
    # A many-to-many has no place in a CSV file.
    assert upload["header"] == "account,sku,ref,name,price,quantity"
    html = response.content.decode()
    assert 'id="bulk-upload-form"' in html
    assert 'enctype="multipart/form-data"' in html
    assert 'type="file" name="file"' in html
    for name in ("lenient", "dry_run", "upsert"):
        assert f'name="{name}"' in html
    assert 'data-bulk-method="DELETE"' in html
    assert "csrfmiddlewaretoken" in html


def test_upload_form_offers_the_methods_the_view_allows(items, user):
    class CreateOnlyBulkViewSet(ItemBulkViewSet):
        http_method_names = ["get", "post", "head", "options"]

    actions = {"get": "bulk", "post": "bulk_post"}
    response = render(CreateOnlyBulkViewSet, url=BULK, user=user, actions=actions)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-bulk-method="POST"' in html
    assert 'data-bulk-method="PUT"' not in html
    assert 'id="put-generic-content-form"' not in html


def test_a_write_result_is_a_table_of_items(client, user):
    account = AccountFactory(owner=user)
    body = (
        "account,sku,ref,name,price\n"
        f"{account.pk},A-1,r1,One,1.00\n"
        f"{account.pk},A-2,r2,Two,not a price\n"
    )
    upload = SimpleUploadedFile("items.csv", body.encode(), content_type="text/csv")

    response = client.post(
        BULK, {"file": upload}, format="multipart", HTTP_PREFER="handling=lenient", **HTML
    )

    assert response.status_code == 207
    result = response.context["bulk_result"]
    assert result["total"] == 2 and result["succeeded"] == 1 and result["failed"] == 1
    created = Item.objects.get(sku="A-1")
    assert result["rows"] == [
        {"index": 0, "line": 2, "status": "created", "id": created.pk, "code": None, "error": ""},
        {
            "index": 1,
            "line": 3,
            "status": "invalid",
            "id": None,
            "code": "invalid",
            "error": "price: A valid number is required.",
        },
    ]
    html = response.content.decode()
    assert 'id="bulk-result"' in html
    assert "price: A valid number is required." in html


def test_the_json_of_a_write_is_unchanged(client, user):
    account = AccountFactory(owner=user)
    items = [{"account": account.pk, "sku": "J-1", "ref": "r", "name": "n", "price": "1.00"}]
    response = client.post(BULK, items, format="json", HTTP_ACCEPT="application/json")
    assert response.status_code == 201
    body = response.json()
    assert body["success_count"] == 1
    assert body["items"][0]["status"] == "created"
