"""The registry of benchmark cases.

A case is one (operation, implementation) pair. ``prepare(n)`` builds the
table state and the payload and is not timed; ``run(state)`` is the timed
part; ``check(state, result)`` proves afterwards that the run did its work,
so that a broken case cannot print a fast number.

To add a case, subclass :class:`Case` (or :class:`HttpCase`) and decorate it
with ``@register``; to add an operation, add it to ``OPERATIONS`` and give it
a case per implementation. The runner and the report pick both up.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse
from rest_framework.test import APIClient

from benchmarks import data, views
from benchmarks.models import Product


@dataclass
class State:
    n: int
    items: list = field(default_factory=list)
    expected: list[dict] = field(default_factory=list)
    bystanders: bool = False
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    key: str
    label: str
    method: str
    status: int
    prepare: Callable[[int], State]


def _prepare_create(n: int) -> State:
    data.empty_products()
    categories = data.category_ids()
    items = [data.created_item(i, categories) for i in range(n)]
    return State(n, items, [data.as_row(item) for item in items])


def _prepare_update(n: int) -> State:
    data.empty_products()
    categories = data.category_ids()
    ids = data.seed(n, categories)
    items = [data.updated_item(i, pk, categories) for i, pk in enumerate(ids)]
    return State(n, items, [data.as_row(item) for item in items], bystanders=True)


def _prepare_partial_update(n: int) -> State:
    data.empty_products()
    categories = data.category_ids()
    ids = data.seed(n, categories)
    items = [data.patched_item(i, pk) for i, pk in enumerate(ids)]
    expected = [
        {**data.as_row(data.created_item(i, categories)), **data.as_row(item)}
        for i, item in enumerate(items)
    ]
    return State(n, items, expected, bystanders=True)


def _prepare_destroy(n: int) -> State:
    data.empty_products()
    ids = data.seed(n, data.category_ids())
    return State(n, ids, [], bystanders=True)


OPERATIONS: dict[str, Operation] = {
    op.key: op
    for op in [
        Operation("create", "POST create", "POST", 201, _prepare_create),
        Operation("update", "PUT all fields", "PUT", 200, _prepare_update),
        Operation("partial_update", "PATCH one field", "PATCH", 200, _prepare_partial_update),
        Operation("destroy", "DELETE by ids", "DELETE", 204, _prepare_destroy),
    ]
}

IMPLEMENTATIONS: dict[str, str] = {
    "drf-bulk": "drf-bulk",
    "drf": "plain DRF",
    "orm": "ORM floor",
    "drf-bulk-minimal": "drf-bulk",
}
#: What runs without --implementations; the others are there to dig into one.
DEFAULT_IMPLEMENTATIONS = ["drf-bulk", "drf", "orm"]


class Case:
    operation: str
    implementation: str
    #: What exactly runs, when the implementation's name does not say it.
    detail: str = ""

    @property
    def op(self) -> Operation:
        return OPERATIONS[self.operation]

    def configure(self, options: Any) -> None:
        """Take the command line options this case cares about."""

    def unavailable(self) -> str | None:
        """Why this case cannot run here, or ``None``."""
        return None

    def prepare(self, n: int) -> State:
        return self.op.prepare(n)

    def run(self, state: State) -> Any:
        raise NotImplementedError

    def check(self, state: State, result: Any) -> None:
        data.check_rows(state.expected, bystanders=state.bystanders)


CASES: dict[tuple[str, str], Case] = {}


def register(case: type[Case] | Case) -> Any:
    instance = case() if isinstance(case, type) else case
    CASES[(instance.operation, instance.implementation)] = instance
    return case


# -- through HTTP -----------------------------------------------------------


class HttpCase(Case):
    """A JSON request through Django's test client: URL routing, DRF's
    parser, the view, the serializer and the renderer all run."""

    def __init__(
        self,
        operation: str,
        implementation: str,
        url_name: str,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        self.operation = operation
        self.implementation = implementation
        self.url_name = url_name
        self.headers = headers or {}
        self.status = status
        if self.headers:
            self.detail = ", ".join(f"{key}: {value}" for key, value in self.headers.items())

    @property
    def expected_status(self) -> int:
        return self.status or self.op.status

    def prepare(self, n: int) -> State:
        state = super().prepare(n)
        # Encoding the request is the client's work, not the server's.
        state.extra["body"] = json.dumps(state.items).encode()
        state.extra["url"] = reverse(self.url_name)
        state.extra["client"] = APIClient()
        return state

    def run(self, state: State) -> Any:
        return state.extra["client"].generic(
            self.op.method,
            state.extra["url"],
            state.extra["body"],
            content_type="application/json",
            headers=self.headers,
        )

    def check(self, state: State, response: Any) -> None:
        if response.status_code != self.expected_status:
            body = response.content[:500].decode(errors="replace")
            raise data.CheckFailed(
                f"{self.op.method} answered {response.status_code}, expected "
                f"{self.expected_status}: {body}"
            )
        super().check(state, response)


class BulkHttpCase(HttpCase):
    def unavailable(self) -> str | None:
        if views.ENGINE_ERROR:
            return f"engine not importable ({views.ENGINE_ERROR})"
        return None


for _key in OPERATIONS:
    register(BulkHttpCase(_key, "drf-bulk", "bulk-products"))
    register(HttpCase(_key, "drf", "plain-products"))
    # A summary instead of the objects: what serializing the response costs.
    # A DELETE answers 200 then, as it has a body.
    register(
        BulkHttpCase(
            _key,
            "drf-bulk-minimal",
            "bulk-products",
            headers={"Prefer": "return=minimal"},
            status=200 if _key == "destroy" else None,
        )
    )


# -- the ORM floor ----------------------------------------------------------
# No HTTP and no validation: the model instances are built before timing.


@register
class OrmCreate(Case):
    operation = "create"
    implementation = "orm"
    detail = "bulk_create()"

    def prepare(self, n: int) -> State:
        state = super().prepare(n)
        state.extra["objs"] = [Product(**data.as_row(item)) for item in state.items]
        return state

    def run(self, state: State) -> Any:
        return Product.objects.bulk_create(state.extra["objs"])


@register
class OrmUpdate(Case):
    operation = "update"
    implementation = "orm"
    fields = data.WRITABLE_FIELDS
    batch_size: int | None = None

    @property
    def detail(self) -> str:
        batch = f", batch_size={self.batch_size}" if self.batch_size else ""
        return f"bulk_update({len(self.fields)} field{'s' if len(self.fields) > 1 else ''}{batch})"

    def configure(self, options: Any) -> None:
        self.batch_size = options.orm_update_batch_size or None

    def prepare(self, n: int) -> State:
        state = super().prepare(n)
        state.extra["objs"] = [Product(pk=item["id"], **data.as_row(item)) for item in state.items]
        return state

    def run(self, state: State) -> Any:
        return Product.objects.bulk_update(
            state.extra["objs"], self.fields, batch_size=self.batch_size
        )


@register
class OrmPartialUpdate(OrmUpdate):
    operation = "partial_update"
    fields = ["quantity"]


@register
class OrmDestroy(Case):
    operation = "destroy"
    implementation = "orm"
    detail = "filter(pk__in=ids).delete()"

    def run(self, state: State) -> Any:
        return Product.objects.filter(pk__in=state.items).delete()
