"""
The OpenAPI schemas: drf-spectacular's, compared with the files in ``tests/schemas/``, and DRF's.

After a change that alters a schema on purpose, write the files again and
review the diff::

    make schemas

The files hold what every Django and DRF version of the matrix generates;
``normalize()`` leaves out what those versions change.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.core.management import call_command
from django.test.utils import override_settings
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiYamlRenderer
from drf_spectacular.validation import validate_schema

from .models import Ticket

SCHEMAS = Path(__file__).parent / "schemas"
EXAMPLE = Path(__file__).parent.parent / "example"
REGENERATE = os.environ.get("DRF_BULK_REGENERATE_SCHEMAS") == "1"

# The demo runs with its own settings, in a process of its own.
DEMO_ENV = {**os.environ, "DJANGO_SETTINGS_MODULE": "demo.settings"}

SPECTACULAR = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}


INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
#: The largest values of integer columns: 64-bit, 32-bit, and MariaDB's unsigned 32-bit.
COLUMN_MAXIMA = (INT64_MAX, INT32_MAX, 2**32 - 1)


def normalize(schema: dict) -> dict:
    """``schema`` without what the Django and DRF versions of the matrix change in it.

    The serializers' components differ by version and database, not by
    drf-bulk: Django 5 gives integer columns their backend's range
    (``minimum``, ``maximum``: 64-bit on SQLite, 32-bit on PostgreSQL and
    MariaDB, unsigned for MariaDB's positive fields; ``format: int64``) and DRF 3.15 gives serializer fields their
    model field's ``default``.
    """
    schema = copy.deepcopy(schema)

    def visit(node):
        if isinstance(node, dict):
            if node.get("type") == "integer" and node.get("maximum") in COLUMN_MAXIMA:
                node.pop("maximum")
                if node.get("minimum") in (-INT64_MAX - 1, -INT32_MAX - 1, 0):
                    node.pop("minimum")
                if node.get("format") == "int64":
                    node.pop("format")
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(schema)
    for component in schema.get("components", {}).get("schemas", {}).values():
        for field in component.get("properties", {}).values():
            field.pop("default", None)
    return schema


def compare_with_file(name: str, text: str) -> None:
    path = SCHEMAS / name
    if REGENERATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; write it with `make schemas`."
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), text.splitlines(), f"{name} (committed)", "generated", n=2
        )
        shown = "\n".join(list(diff)[:80])
        pytest.fail(
            f"The schema differs from tests/schemas/{name}; if that is meant, "
            f"run `make schemas` and review the diff.\n{shown}"
        )


def spectacular_schema(urlconf: str) -> dict:
    """drf-spectacular's schema of ``urlconf``; fails on any warning or error of the generator."""
    GENERATOR_STATS.reset()
    with override_settings(REST_FRAMEWORK=SPECTACULAR):
        schema = SchemaGenerator(urlconf=urlconf).get_schema(request=None, public=True)
    problems = [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]
    GENERATOR_STATS.reset()
    assert not problems, "drf-spectacular reported:\n" + "\n".join(problems)
    validate_schema(schema)
    return schema


def render(schema: dict) -> str:
    return OpenApiYamlRenderer().render(normalize(schema), renderer_context={}).decode()


@pytest.fixture(scope="module")
def schema():
    return spectacular_schema("tests.schema_urls")


def component_validator(schema: dict, name: str) -> jsonschema.Draft7Validator:
    """A validator of the component ``name``, resolving references within ``schema``."""
    document = {"$ref": f"#/components/schemas/{name}", "components": schema["components"]}
    return jsonschema.Draft7Validator(json.loads(json.dumps(document)))


def json_body(operation: dict, media_type: str = "application/json") -> dict:
    return operation["requestBody"]["content"][media_type]["schema"]


# drf-spectacular -----------------------------------------------------------------


def test_test_project_schema_matches_the_file(schema):
    compare_with_file("tests.yaml", render(schema))


def test_demo_schema_matches_the_file(tmp_path):
    out = tmp_path / "demo.yaml"
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn"]
        + ["--file", str(out)],
        cwd=EXAMPLE,
        env=DEMO_ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr and "Error" not in result.stderr, result.stderr
    schema = yaml.safe_load(out.read_text(encoding="utf-8"))
    compare_with_file("demo.yaml", render(schema))


def test_list_route_bodies_are_lists(schema):
    operations = schema["paths"]["/api/tickets/"]
    create = json_body(operations["post"])
    assert create["oneOf"][0] == {"$ref": "#/components/schemas/Ticket"}
    assert create["oneOf"][1]["type"] == "array"

    put = json_body(operations["put"])
    assert put["type"] == "array"
    item, lookup = put["items"]["allOf"]
    assert item == {"$ref": "#/components/schemas/Ticket"}
    assert lookup["required"] == ["id"]
    assert set(lookup["properties"]) == {"id", "version"}

    patch = json_body(operations["patch"])
    assert patch["items"]["allOf"][0] == {"$ref": "#/components/schemas/PatchedTicket"}
    # Only JSON carries a list: forms are refused with `not_a_list`.
    assert set(operations["put"]["requestBody"]["content"]) == {"application/json"}

    listed = operations["put"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert listed["oneOf"][0] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Ticket"},
    }


def test_bulk_delete_describes_its_body_and_filters(schema):
    delete = schema["paths"]["/api/filtered-items/"]["delete"]
    assert delete["requestBody"]["required"] is False
    items = json_body(delete)["items"]["oneOf"]
    assert items[0] == {"type": "integer"}
    assert items[1]["required"] == ["id"]
    names = {parameter["name"] for parameter in delete["parameters"]}
    assert {"account", "sku", "dry_run", "Prefer", "Idempotency-Key"} <= names
    assert set(delete["responses"]) >= {"200", "204", "207", "400", "409", "413", "422"}

    uuid_items = json_body(schema["paths"]["/api/documents/"]["delete"])["items"]["oneOf"]
    assert uuid_items[0] == {"type": "string", "format": "uuid"}
    slug_items = json_body(schema["paths"]["/api/articles/"]["delete"])["items"]["oneOf"]
    assert slug_items[1]["required"] == ["slug"]


def test_extend_schema_stacks_on_the_bulk_description(schema):
    patch = schema["paths"]["/api/annotated-tickets/"]["patch"]
    assert patch["description"] == "Retitle tickets."
    assert patch["operationId"] == "api_annotated_tickets_partial_bulk_update"
    assert json_body(patch)["items"]["allOf"][0] == {"$ref": "#/components/schemas/PatchedTicket"}
    assert "207" in patch["responses"]


def test_a_schema_of_the_views_own_keeps_the_bulk_description(schema):
    operations = schema["paths"]["/api/own-schema-tickets/"]
    assert operations["put"]["tags"] == ["own"]
    assert json_body(operations["put"])["type"] == "array"
    assert operations["delete"]["operationId"] == "api_own_schema_tickets_bulk_destroy"


def test_bulk_endpoint(schema):
    operations = schema["paths"]["/v2/items/bulk/"]
    post = operations["post"]
    content = post["requestBody"]["content"]
    assert set(content) == {
        "application/json",
        "text/csv",
        "text/tab-separated-values",
        "multipart/form-data",
    }
    assert content["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    assert content["multipart/form-data"]["schema"]["required"] == ["file"]
    parameters = {parameter["name"]: parameter for parameter in post["parameters"]}
    assert "sku" in parameters["upsert"]["schema"]["enum"]
    assert parameters["quantity__gte"]["schema"] == {"type": "integer"}
    assert parameters["account__in"]["schema"]["type"] == "array"
    assert parameters["account__in"]["explode"] is False
    responses = post["responses"]
    assert set(responses) == {"200", "201", "202", "207", "400", "403", "409", "413", "422"}
    assert responses["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BulkJobAccepted"
    }
    assert "Location" in responses["202"]["headers"]
    assert set(responses["201"]["content"]) == {"application/json", "text/csv"}

    get = operations["get"]
    names = {parameter["name"] for parameter in get["parameters"]}
    assert {"ids", "format", "quantity__gte", "quantity__lte", "name"} <= names
    assert "dry_run" not in names and "upsert" not in names
    assert "requestBody" not in get
    assert json_body(operations["delete"])["type"] == "array"
    # Without `bulk_upsert_fields` there is no `upsert`.
    names = {p["name"] for p in schema["paths"]["/api/pages/bulk/"]["post"]["parameters"]}
    assert "upsert" not in names


def test_statuses_follow_the_view(schema):
    tickets = schema["paths"]["/api/tickets/bulk/"]["patch"]["responses"]
    strict = schema["paths"]["/api/strict-tickets/bulk/"]["patch"]["responses"]
    assert "428" not in tickets
    assert "428" in strict
    # Object permissions (ItemViewSet's NotLocked) can refuse an item; none on tickets.
    assert "403" in schema["paths"]["/api/items/"]["put"]["responses"]
    assert "403" not in tickets
    key = schema["paths"]["/key-required/"]["put"]["parameters"]
    assert next(p for p in key if p["name"] == "Idempotency-Key")["required"] is True


def test_drf_bulks_own_docstrings_never_describe_a_projects_api(schema):
    # They document the library for developers: a view without docstrings of
    # its own gets no description, as with DRF's own classes.
    descriptions = [
        operation.get("description", "")
        for path, item in schema["paths"].items()
        if "bulk-operations" not in path
        for operation in item.values()
        if isinstance(operation, dict)
    ]
    assert descriptions
    assert not [
        text for text in descriptions if "rest_framework_bulk" in text or "BulkRouter" in text
    ]
    articles = schema["paths"]["/api/articles/"]
    assert "description" not in articles["put"] and "description" not in articles["get"]


def test_operation_ids_are_unique(schema):
    ids = [
        operation["operationId"]
        for item in schema["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert len(ids) == len(set(ids))
    assert {"simple_bulk_update", "simple_partial_bulk_update", "simple_bulk_destroy"} <= set(ids)
    assert {"v2_items_bulk_get", "v2_items_bulk_post", "v2_items_bulk_delete"} <= set(ids)


def test_job_api(schema):
    paths = schema["paths"]
    states = {p["name"]: p for p in paths["/bulk-operations/"]["get"]["parameters"]}["state"]
    assert "pending" in states["schema"]["enum"]
    cancel = paths["/bulk-operations/{task_id}/cancel/"]["post"]
    assert "requestBody" not in cancel
    assert set(cancel["responses"]) == {"200", "202", "404", "409"}
    results = paths["/bulk-operations/{task_id}/results/{kind}/"]["get"]
    kind = next(p for p in results["parameters"] if p["name"] == "kind")
    assert kind["schema"]["enum"] == ["failed", "successful", "unprocessed"]
    assert set(results["responses"]["200"]["content"]) == {"application/jsonl", "text/csv"}
    status = paths["/bulk-operations/{task_id}/status/"]["get"]["responses"]["200"]
    assert "Retry-After" in status["headers"]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="tests.schema_urls")
def test_answers_match_their_schemas(schema, api):
    """What the views answer fits what the schema says they answer."""
    Ticket.objects.create(title="first")
    result = api.bulk(
        "patch",
        "/api/tickets/bulk/",
        [{"id": Ticket.objects.get().pk, "title": "renamed"}, {"id": 999, "title": "x"}],
        HTTP_PREFER="handling=lenient",
    )
    assert result.status_code == 207
    component_validator(schema, "BulkResult").validate(result.json())

    refused = api.bulk(
        "put", "/api/strict-tickets/", [{"id": Ticket.objects.get().pk, "title": "no version"}]
    )
    assert refused.status_code == 428
    component_validator(schema, "BulkError").validate(refused.json())

    not_a_list = api.bulk("post", "/api/tickets/bulk/", {"title": "one"})
    assert not_a_list.status_code == 400
    component_validator(schema, "BulkError").validate(not_a_list.json())

    listed = api.get("/api/tickets/bulk/?ids=1,999")
    assert listed.status_code == 200
    operation = schema["paths"]["/api/tickets/bulk/"]["get"]
    body = operation["responses"]["200"]["content"]["application/json"]["schema"]
    document = {**body, "components": schema["components"]}
    jsonschema.Draft7Validator(json.loads(json.dumps(document))).validate(listed.json())


# DRF's generator -------------------------------------------------------------------


# DRF names operations by model, so the test views sharing one share names.
drf_duplicates = pytest.mark.filterwarnings("ignore:You have a duplicated operationId")


@drf_duplicates
def test_drf_generateschema_on_the_test_project(capsys):
    call_command("generateschema", urlconf="tests.urls", format="openapi-json")
    schema = json.loads(capsys.readouterr().out)
    put = schema["paths"]["/api/items/"]["put"]
    assert put["operationId"] == "bulkUpdateItems"
    body = put["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"type": "array", "items": {"$ref": "#/components/schemas/Item"}}
    response = put["responses"]["200"]["content"]["application/json"]["schema"]
    assert response["type"] == "array"
    assert "delete" in schema["paths"]["/api/tickets/bulk/"]


DRF_ON_THE_DEMO = """
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.test.utils import override_settings

drf = {k: v for k, v in settings.REST_FRAMEWORK.items() if k != "DEFAULT_SCHEMA_CLASS"}
with override_settings(REST_FRAMEWORK=drf):
    call_command("generateschema")
"""


def test_drf_generateschema_on_the_demo():
    """DRF's own generator on the demo, whose django-filter has no DRF schema support."""
    result = subprocess.run(
        [sys.executable, "-c", DRF_ON_THE_DEMO],
        cwd=EXAMPLE,
        env=DEMO_ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # One view set: the bulk routes are not named like the detail routes.
    assert "duplicated operationId" not in result.stderr, result.stderr
    schema = yaml.safe_load(result.stdout)
    products = schema["paths"]["/api/products/"]
    body = products["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"type": "array", "items": {"$ref": "#/components/schemas/Product"}}
    create = products["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create["oneOf"][1]["type"] == "array"
    names = {p["name"] for p in schema["paths"]["/api/products/bulk/"]["get"]["parameters"]}
    assert {"price__gte", "account__in", "active"} <= names


@drf_duplicates
def test_bulk_filter_backend_describes_its_filters(schema, capsys):
    spectacular = schema["paths"]["/api/bulk-filtered-items/"]["get"]["parameters"]
    assert [p["name"] for p in spectacular] == ["quantity__gte", "sku", "sku__startswith"]
    call_command("generateschema", urlconf="tests.urls", format="openapi-json")
    drf = json.loads(capsys.readouterr().out)
    listed = drf["paths"]["/api/bulk-filtered-items/"]["get"]["parameters"]
    assert [p["name"] for p in listed] == ["quantity__gte", "sku", "sku__startswith"]


IMPORT_CORE = """
import sys
import django
from django.conf import settings

settings.configure(
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()
import rest_framework_bulk.bulk, rest_framework_bulk.generics, rest_framework_bulk.routes
import rest_framework_bulk.schemas, rest_framework_bulk.serializers
print(sorted(name for name in sys.modules if name.startswith("drf_spectacular")))
"""


def test_the_core_never_imports_drf_spectacular():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_CORE], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
