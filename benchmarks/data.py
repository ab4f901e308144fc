"""Tables, rows and payloads for the benchmarks, and the checks run after each case.

Row ``i`` of a size ``n`` run has the sku ``SKU-0000000i`` and values derived
from ``i``, so every implementation sends the same payload and every result
can be checked against the same expected rows. A few bystander rows
(``KEEP-…``) sit in the table during updates and deletes; a case that
touches them fails.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.management.color import no_style
from django.db import connection
from django.db.models import Count, DecimalField, Q, Sum

from benchmarks.models import Category, Product

CATEGORY_COUNT = 20
BYSTANDER_COUNT = 10
WRITABLE_FIELDS = ["category", "sku", "name", "price", "quantity", "active"]


class CheckFailed(AssertionError):
    """A case left the database, or its response, other than expected."""


# -- schema -----------------------------------------------------------------


def create_database() -> str:
    """Create the run's own database (``TEST["NAME"]``) with ``migrate --run-syncdb``.

    Returns the name to hand back to :func:`destroy_database`.
    """
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    Category.objects.bulk_create(Category(name=f"Category {i}") for i in range(CATEGORY_COUNT))
    return old_name


def destroy_database(old_name: str) -> None:
    connection.creation.destroy_test_db(old_name, verbosity=0)


def empty_products() -> None:
    """Empty the product table and restart its ids, as TRUNCATE does."""
    statements = connection.ops.sql_flush(
        no_style(), [Product._meta.db_table], reset_sequences=True
    )
    connection.ops.execute_sql_flush(statements)


def analyze() -> None:
    """Refresh the planner's statistics, as autovacuum would after a load."""
    table = connection.ops.quote_name(Product._meta.db_table)
    statement = {
        "postgresql": f"ANALYZE {table}",
        "sqlite": f"ANALYZE {table}",
        "mysql": f"ANALYZE TABLE {table}",
    }.get(connection.vendor)
    if statement:
        with connection.cursor() as cursor:
            cursor.execute(statement)


def category_ids() -> list[int]:
    return list(Category.objects.order_by("pk").values_list("pk", flat=True))


# -- rows and payloads ------------------------------------------------------
# A payload item uses the names of the API ("category" is the pk); a row
# uses model attribute names ("category_id") so it can build a Product.


def sku(i: int) -> str:
    return f"SKU-{i:08d}"


def created_item(i: int, categories: list[int]) -> dict:
    return {
        "category": categories[i % len(categories)],
        "sku": sku(i),
        "name": f"Product {i}",
        "price": f"{i % 5000}.{i % 100:02d}",
        "quantity": i % 1000,
        "active": i % 3 != 0,
    }


def updated_item(i: int, pk: int, categories: list[int]) -> dict:
    """Every field changed: what a PUT of the whole row sends."""
    return {
        "id": pk,
        "category": categories[(i + 1) % len(categories)],
        "sku": f"{sku(i)}-B",
        "name": f"Updated product {i}",
        "price": f"{(i + 7) % 5000}.{(i + 3) % 100:02d}",
        "quantity": i % 1000 + 1,
        "active": i % 3 == 0,
    }


def patched_item(i: int, pk: int) -> dict:
    return {"id": pk, "quantity": i % 1000 + 5}


def as_row(item: dict) -> dict:
    """Model attribute values for an API item."""
    row = {key: value for key, value in item.items() if key not in ("id", "category")}
    if "category" in item:
        row["category_id"] = item["category"]
    if "price" in row:
        row["price"] = Decimal(row["price"])
    return row


def seed(n: int, categories: list[int]) -> list[int]:
    """Insert rows ``0 .. n-1`` and the bystanders; return the rows' ids in order."""
    Product.objects.bulk_create(Product(**as_row(created_item(i, categories))) for i in range(n))
    Product.objects.bulk_create(
        Product(
            category_id=categories[0],
            sku=f"KEEP-{j:03d}",
            name="Bystander",
            price=Decimal("1.00"),
            quantity=7,
            active=True,
        )
        for j in range(BYSTANDER_COUNT)
    )
    analyze()
    ids = list(
        Product.objects.filter(sku__startswith="SKU-").order_by("sku").values_list("pk", flat=True)
    )
    if len(ids) != n:
        raise CheckFailed(f"seeding inserted {len(ids)} rows, expected {n}")
    return ids


# -- checks -----------------------------------------------------------------


def check_rows(expected: list[dict], bystanders: bool) -> None:
    """Check the table holds exactly ``expected`` (model attribute values).

    Aggregates cover every row; a few rows are compared field by field.
    """
    rows = Product.objects.filter(sku__startswith="SKU-")
    got = rows.aggregate(
        count=Count("pk"),
        quantity=Sum("quantity"),
        # Wide enough for the sum of 100 000 prices.
        price=Sum("price", output_field=DecimalField(max_digits=20, decimal_places=2)),
        active=Count("pk", filter=Q(active=True)),
        categories=Sum("category_id"),
        renamed=Count("pk", filter=Q(name__startswith="Updated ")),
        new_skus=Count("pk", filter=Q(sku__endswith="-B")),
    )
    want = {
        "count": len(expected),
        "quantity": sum(r["quantity"] for r in expected) if expected else None,
        "price": sum(r["price"] for r in expected) if expected else None,
        "active": sum(1 for r in expected if r["active"]),
        "categories": sum(r["category_id"] for r in expected) if expected else None,
        "renamed": sum(1 for r in expected if r["name"].startswith("Updated ")),
        "new_skus": sum(1 for r in expected if r["sku"].endswith("-B")),
    }
    if got != want:
        raise CheckFailed(f"rows in the database do not match: got {got}, expected {want}")
    if expected:
        sample = _sample(expected)
        found = {
            r["sku"]: r
            for r in rows.filter(sku__in=[r["sku"] for r in sample]).values(
                "category_id", "sku", "name", "price", "quantity", "active"
            )
        }
        for row in sample:
            if found.get(row["sku"]) != row:
                raise CheckFailed(f"row {row['sku']}: got {found.get(row['sku'])}, expected {row}")
    if bystanders:
        kept = Product.objects.filter(
            sku__startswith="KEEP-", name="Bystander", quantity=7, price=Decimal("1.00")
        ).count()
        if kept != BYSTANDER_COUNT:
            raise CheckFailed(f"{BYSTANDER_COUNT - kept} bystander rows were changed or deleted")
    total = Product.objects.count()
    if total != len(expected) + (BYSTANDER_COUNT if bystanders else 0):
        raise CheckFailed(f"the table holds {total} rows in all")


def _sample(expected: list[dict]) -> list[dict]:
    n = len(expected)
    return [expected[i] for i in sorted({0, 1, n // 3, n // 2, n - 2, n - 1}) if 0 <= i < n]
