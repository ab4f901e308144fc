"""What a hostile request may and may not do to the database.

``check(world, call, before, response, after)`` holds the promises of
issue 8 for one request:

* never a 5xx;
* a 4xx has a JSON body with a string ``code`` and leaves every table as it was;
* a dry run, a job accepted (202) or a read leaves every table as it was;
* a 2xx write changes exactly what it reports: the rows created, updated
  and deleted, all of them rows the caller may touch (in the view's scope,
  not refused by ``NotLocked``), and, unless the client asked for lenient
  handling, exactly the rows the request named.

Rows are compared by primary key, as tuples of their columns.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from rest_framework_bulk.jobs.models import BulkJob
from rest_framework_bulk.jobs.runners import BaseRunner
from tests.factories import (
    AccountFactory,
    ArticleFactory,
    DocumentFactory,
    ItemFactory,
    TagFactory,
    UserFactory,
)
from tests.models import Account, Article, Document, Item, Tag, Task
from tests.strategies import FALSE_SPELLINGS, NOBODY, RAW, TRUE_SPELLINGS, Call

INVALID = type("Invalid", (), {"__repr__": lambda self: "INVALID"})()


class IdleRunner(BaseRunner):
    """Accepts jobs and never runs them: a 202 must leave the rows alone."""

    def enqueue(self, job_id) -> None:
        pass


IDLE_RUNNER = "tests.hostile.oracle.IdleRunner"


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    model: type
    lookup: str
    bulk: bool = False
    filters: tuple[str, ...] = ()
    upsert: tuple[str, ...] = ()


TARGETS = {
    "items": Target("items", "/api/items/", Item, "id"),
    "documents": Target("documents", "/api/documents/", Document, "id"),
    "articles": Target("articles", "/api/articles/", Article, "slug"),
    "tasks": Target("tasks", "/api/tasks/", Task, "id"),
    "bulk-items": Target(
        "bulk-items",
        "/v2/items/bulk/",
        Item,
        "id",
        bulk=True,
        filters=(
            "quantity__gte",
            "quantity__lte",
            "account",
            "account__in",
            "name",
            "sku",
            "quantity__in",
            "account__owner__password__startswith",
        ),
        upsert=("sku",),
    ),
    "bulk-documents": Target(
        "bulk-documents",
        "/v2/documents/bulk/",
        Document,
        "id",
        bulk=True,
        filters=("id", "id__in", "title"),
    ),
    "bulk-tasks": Target(
        "bulk-tasks", "/api/tasks/bulk/", Task, "id", bulk=True, filters=("id", "id__in", "title")
    ),
}

#: The client-supplied filters each /bulk/ view allows (``bulk_filter_fields``).
ALLOWED_FILTERS = {
    "bulk-items": {"quantity__gte", "quantity__lte", "account", "account__in", "name"},
    "bulk-documents": {"id", "id__in"},
    "bulk-tasks": {"id", "id__in"},
}


# The world --------------------------------------------------------------------


@dataclass
class World:
    alice: Any
    bob: Any
    own_accounts: list[int]
    other_accounts: list[int]
    tags: list[int]
    own_items: list[int]
    locked_items: list[int]
    other_items: list[int]
    skus: list[str]
    refs: list[str]
    documents: list[str]
    articles: list[str]
    tasks: list[int]
    deleted_tasks: list[int]
    actor: Any = None
    extra: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return "<World>"

    @property
    def item_ids(self) -> list[int]:
        return self.own_items + self.locked_items + self.other_items


def build_world() -> World:
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    a1, a2 = AccountFactory(owner=alice), AccountFactory(owner=alice)
    b1 = AccountFactory(owner=bob)
    tags = TagFactory.create_batch(2)
    own = [ItemFactory(account=a1, quantity=q) for q in (1, 5, 50)] + [
        ItemFactory(account=a2, quantity=7)
    ]
    own[0].tags.set(tags)
    locked = [ItemFactory(account=a1, name="locked item", quantity=3)]
    other = [ItemFactory(account=b1, quantity=5), ItemFactory(account=b1, name="locked of bob")]
    documents = DocumentFactory.create_batch(3)
    articles = ArticleFactory.create_batch(3)
    tasks = [Task.objects.create(title=f"task {n}") for n in range(3)]
    gone = Task.objects.create(title="gone")
    gone.delete()
    items = own + locked + other
    return World(
        alice=alice,
        bob=bob,
        own_accounts=[a1.pk, a2.pk],
        other_accounts=[b1.pk],
        tags=[tag.pk for tag in tags],
        own_items=[item.pk for item in own],
        locked_items=[item.pk for item in locked],
        other_items=[item.pk for item in other],
        skus=[item.sku for item in items],
        refs=[item.ref for item in items],
        documents=[str(doc.pk) for doc in documents],
        articles=[article.slug for article in articles],
        tasks=[task.pk for task in tasks],
        deleted_tasks=[gone.pk],
    )


# Snapshots ------------------------------------------------------------------------

COLUMNS = {
    Item: ("id", "account_id", "sku", "ref", "name", "price", "quantity", "updated_at"),
    Document: ("id", "title", "version", "body"),
    Article: ("id", "slug", "title", "views"),
    Task: ("id", "title", "deleted_at"),
    Account: ("id", "name", "owner_id"),
    Tag: ("id", "name"),
}


def snapshot() -> dict:
    tables = {}
    for model, columns in COLUMNS.items():
        manager = getattr(model, "all_objects", model._default_manager)
        tables[model] = {row[0]: row for row in manager.order_by("pk").values_list(*columns)}
    tables["item_tags"] = set(Item.tags.through.objects.values_list("item_id", "tag_id"))
    tables["jobs"] = set(BulkJob.objects.values_list("pk", flat=True))
    return tables


def run_isolated(function):
    """Run ``function()`` in a transaction that is always rolled back."""
    with transaction.atomic():
        try:
            return function()
        finally:
            transaction.set_rollback(True)


# Sending --------------------------------------------------------------------------


def send(client, call: Call):
    kwargs = dict(call.headers)
    if call.content_type is not None:
        kwargs["content_type"] = call.content_type
    return client.generic(
        call.method, call.url, data=call.body if call.body is not None else b"", **kwargs
    )


def last_line(response) -> str:
    info = getattr(response, "exc_info", None)
    if not info:
        return ""
    exc = info[1]
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def body_excerpt(response, size: int = 300) -> str:
    content = response.content[:size].decode("utf-8", "replace")
    return " ".join(content.split())


# The check --------------------------------------------------------------------------


class Violation(AssertionError):
    pass


def fail(call: Call, response, message: str) -> None:
    raise Violation(
        f"{message}\n  request: {call.describe()}"
        + (f"\n  exception: {last_line(response)}" if last_line(response) else "")
        + f"\n  response: {response.status_code} {body_excerpt(response)}"
    )


def norm(target: Target, value: Any) -> Any:
    """The key a lookup value means, as the field's own validation reads it, or ``INVALID``."""
    if target.lookup == "slug":
        if isinstance(value, str) and re.fullmatch(r"[-a-zA-Z0-9_]+", value):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return INVALID
    if target.model is Document:
        if isinstance(value, bool):
            return INVALID
        if isinstance(value, int) and 0 <= value < 2**128:
            return uuid.UUID(int=value)
        if isinstance(value, str):
            try:
                return uuid.UUID(value.strip())
            except ValueError:
                return INVALID
        return INVALID
    if isinstance(value, bool):
        return INVALID
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else INVALID
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([+-]?\d+)(\.0*)?\s*", value)
        return int(match[1]) if match else INVALID
    return INVALID


def named(target: Target, call: Call) -> list | None:
    """The keys the request names (``None``: it names none, or is not a list)."""
    data = call.data
    if not isinstance(data, list):
        return None
    keys = []
    for item in data:
        if isinstance(item, dict):
            keys.append(
                norm(target, item.get(target.lookup))
                if item.get(target.lookup) is not None
                else INVALID
            )
        elif call.method == "DELETE" and not isinstance(item, list):
            keys.append(norm(target, item))
        else:
            keys.append(INVALID)
    return keys


def key_to_pk(target: Target, key: Any, *tables) -> Any:
    if target.lookup == "slug":
        for table in tables:
            for pk, row in table.items():
                if row[1] == key:
                    return pk
        return ("missing", key)
    return key


def to_pk(target: Target, value: Any) -> Any:
    if target.model is Document:
        try:
            return uuid.UUID(str(value))
        except ValueError:
            return ("bad id", value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return ("bad id", value)


def scope(world: World, target: Target, before: dict) -> set:
    """The rows the caller may change (visible to them and not locked)."""
    rows = before[target.model]
    if target.model is Item:
        owners = {pk: row[2] for pk, row in before[Account].items()}
        visible = {
            pk
            for pk, row in rows.items()
            if world.actor is None or owners.get(row[1]) == world.actor.pk
        }
        return {pk for pk in visible if not rows[pk][4].startswith("locked")}
    if target.model is Task:
        return {pk for pk, row in rows.items() if row[2] is None}
    return set(rows)


def parse_json(response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        return RAW


def is_csv(response) -> bool:
    return response.get("Content-Type", "").startswith("text/csv")


def summary_from_csv(response) -> dict:
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    result = {
        "items": rows,
        "created_ids": [],
        "updated_ids": [],
        "deleted_ids": [],
        "dry_run": False,
        "error_count": 0,
    }
    for row in rows:
        status = row.get("status", "")
        if status.startswith("would_"):
            result["dry_run"] = True
        elif status in ("created", "updated", "deleted"):
            result[f"{status}_ids"].append(row.get("id"))
        elif row.get("code"):
            result["error_count"] += 1
    return result


def check(world: World, call: Call, before: dict, response, after: dict) -> None:
    target = TARGETS[call.target]
    status = response.status_code
    if status >= 500:
        fail(call, response, f"{status}: a client's request must never be a 5xx")

    changed_tables = [
        getattr(model, "__name__", model)
        for model in before
        if model != "jobs" and before[model] != after[model]
    ]
    new_jobs = after["jobs"] - before["jobs"]

    if 400 <= status < 500:
        body = parse_json(response)
        single = call.method == "POST" and not target.bulk and not isinstance(call.data, list)
        if (
            single
            and isinstance(body, dict)
            and body
            and all(isinstance(v, list) for v in body.values())
        ):
            pass  # One object created on the list route: DRF's own shape, by design.
        elif not (isinstance(body, dict) and isinstance(body.get("code"), str)):
            fail(call, response, f"{status} without a JSON body with a string `code`")
        if changed_tables:
            fail(call, response, f"{status} but rows changed in {changed_tables}")
        return

    if status not in (200, 201, 202, 204, 207):
        fail(call, response, f"unexpected status {status}")

    dry = call.params("dry_run")
    spelled = [value.lower() for value in dry]
    ambiguous = len(set(spelled)) > 1 or any(
        value not in TRUE_SPELLINGS + FALSE_SPELLINGS for value in spelled
    )
    if target.bulk and call.method != "GET" and dry and ambiguous:
        fail(
            call,
            response,
            f"{status} for `dry_run` spelled {dry!r}: only documented spellings, anything else a 400",
        )

    if status == 202:
        if changed_tables:
            fail(call, response, f"202 (a job, not yet run) but rows changed in {changed_tables}")
        return

    if call.method == "GET":
        if changed_tables:
            fail(call, response, f"GET changed rows in {changed_tables}")
        if new_jobs and "respond-async" not in call.prefer():
            fail(
                call,
                response,
                "a plain GET started an export job; only `Prefer: respond-async` may",
            )
        body = parse_json(response)
        if (
            target.model is Item
            and isinstance(body, dict)
            and isinstance(body.get("results"), list)
        ):
            allowed = scope(world, target, before)
            shown = {row.get("id") for row in body["results"] if isinstance(row, dict)}
            leaked = shown - allowed
            if leaked:
                fail(
                    call,
                    response,
                    f"GET showed rows the caller may not see or that NotLocked refuses: {sorted(leaked)}",
                )
        return

    # A 2xx write ---------------------------------------------------------------
    model = target.model
    rows_before, rows_after = before[model], after[model]
    added = set(rows_after) - set(rows_before)
    removed = set(rows_before) - set(rows_after)
    changed = {pk for pk in set(rows_before) & set(rows_after) if rows_before[pk] != rows_after[pk]}
    if model is Task:
        if removed:
            fail(call, response, f"soft-delete Task rows were hard-deleted: {sorted(removed)}")
        soft = {
            pk for pk in changed if rows_before[pk][2] is None and rows_after[pk][2] is not None
        }
        changed -= soft
        removed = soft
    others = [name for name in changed_tables if name not in (model.__name__, "item_tags")]
    if others:
        fail(call, response, f"a write on {model.__name__} changed other tables: {others}")
    if model is Item:
        tag_rows = before["item_tags"] ^ after["item_tags"]
        changed |= {
            item_id
            for item_id, _tag in tag_rows
            if item_id in rows_before and item_id in rows_after
        }

    allowed = scope(world, target, before)
    outside = (changed | removed) - allowed
    if outside:
        fail(
            call,
            response,
            f"rows outside the caller's scope (or locked) were changed or deleted: {sorted(outside)}",
        )
    if model is Item and world.actor is not None:
        foreign = {
            pk
            for pk in added
            if before[Account].get(rows_after[pk][1], (None, None, None))[2] != world.actor.pk
        }
        if foreign:
            fail(
                call,
                response,
                f"items were created in accounts the caller does not own: {sorted(foreign)}",
            )

    body = summary_from_csv(response) if is_csv(response) else parse_json(response)
    summary = (
        body
        if isinstance(body, dict) and "items" in body and "total_items" in body or is_csv(response)
        else None
    )

    if target.bulk and dry and not ambiguous and spelled[0] in TRUE_SPELLINGS:
        if summary is None or not summary.get("dry_run"):
            fail(call, response, "`dry_run` was asked for but the answer is not a dry run")
    if summary is not None and summary.get("dry_run"):
        if added or removed or changed:
            fail(
                call,
                response,
                f"a dry run wrote: added {sorted(added, key=str)}, changed {sorted(changed, key=str)}, removed {sorted(removed, key=str)}",
            )
        return

    keys = named(target, call)
    strict = not call.lenient
    if summary is not None:
        created = {to_pk(target, value) for value in summary.get("created_ids", [])}
        updated = {to_pk(target, value) for value in summary.get("updated_ids", [])}
        deleted = {to_pk(target, value) for value in summary.get("deleted_ids", [])}
        if added != created:
            fail(
                call,
                response,
                f"rows created {sorted(added, key=str)} but the answer reports {sorted(created, key=str)}",
            )
        if removed != deleted:
            fail(
                call,
                response,
                f"rows deleted {sorted(removed, key=str)} but the answer reports {sorted(deleted, key=str)}",
            )
        if not changed <= updated | created:
            fail(
                call,
                response,
                f"rows changed {sorted(changed - updated, key=str)} that the answer does not report",
            )
        if strict and summary.get("error_count"):
            fail(
                call,
                response,
                f"{status} for a strict request with {summary['error_count']} failed items",
            )
    elif call.method == "POST":
        data = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
        reported = {
            key_to_pk(
                target,
                row.get(target.lookup) if target.lookup == "slug" else to_pk(target, row.get("id")),
                rows_after,
            )
            for row in data
            if isinstance(row, dict)
        }
        if added != reported:
            fail(
                call,
                response,
                f"rows created {sorted(added, key=str)} but the answer shows {sorted(reported, key=str)}",
            )
        if changed or removed:
            fail(
                call,
                response,
                f"a create changed {sorted(changed, key=str)} and deleted {sorted(removed, key=str)}",
            )
    elif call.method in ("PUT", "PATCH"):
        if added or removed:
            fail(
                call,
                response,
                f"an update created {sorted(added, key=str)} or deleted {sorted(removed, key=str)}",
            )
        if keys is None:
            fail(
                call,
                response,
                f"{status} for an update whose body is not a list ({call.data!r:.80})",
            )
    elif call.method == "DELETE":
        if added or changed:
            fail(
                call,
                response,
                f"a delete created {sorted(added, key=str)} or changed {sorted(changed, key=str)}",
            )

    if (
        call.method in ("PUT", "PATCH", "DELETE")
        and keys is not None
        and not (call.method == "DELETE" and not keys and False)
    ):
        meant = {key_to_pk(target, key, rows_before) for key in keys if key is not INVALID}
        touched = changed | removed
        wrong = touched - meant
        if wrong:
            fail(
                call,
                response,
                f"rows {sorted(wrong, key=str)} were written although the request named only {keys!r:.200}",
            )
        if strict:
            if INVALID in keys:
                fail(
                    call,
                    response,
                    f"{status} for a strict request naming a value that is not a valid `{target.lookup}`: {call.data!r:.200}",
                )
            missing = meant - allowed
            if missing:
                fail(
                    call,
                    response,
                    f"{status} for a strict request naming rows that do not exist or may not be touched: {sorted(missing, key=str)}",
                )
            if len(keys) != len(set(map(str, keys))):
                fail(
                    call,
                    response,
                    f"{status} for a strict request naming the same row twice: {keys!r:.200}",
                )
            if call.method == "DELETE" and removed != meant:
                fail(
                    call,
                    response,
                    f"a strict delete of {sorted(meant, key=str)} removed {sorted(removed, key=str)}",
                )
        if call.method == "DELETE" and not keys and removed:
            fail(call, response, f"a DELETE with an empty list deleted {sorted(removed, key=str)}")

    if (
        call.method == "DELETE"
        and keys is None
        and call.data in (NOBODY, None, {}, "")
        and status < 300
    ):
        filters = ALLOWED_FILTERS.get(target.name, set())
        if not any(name in filters for name, _value in call.query):
            fail(
                call,
                response,
                f"{status} for a DELETE with neither a body nor client filters (removed {len(removed)} rows)",
            )
