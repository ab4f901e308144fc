"""Load the demo's sample accounts and products, and its user.

Running it again only puts back the sample rows that are missing, so it is safe
to run on every ``make demo``; ``--reset`` deletes the accounts and products
first. The user ``demo`` (password ``demo``) owns the bulk jobs the demo runs;
it is created once and left alone afterwards.
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.core.management.color import no_style
from django.db import connection, transaction

from store.models import Account, Product

ACCOUNTS = ["Northwind Traders", "Contoso Outfitters", "Fabrikam Supply"]
GOODS = ["Mug", "Kettle", "Teapot", "Tray", "Spoon", "Jar", "Bowl", "Plate", "Cup", "Pitcher"]
FINISHES = ["white", "black", "steel", "oak", "copper"]
PRODUCTS = 200
USERNAME = PASSWORD = "demo"


class Command(BaseCommand):
    help = (
        "Load the demo's sample accounts and products and its user (demo/demo); "
        "running it twice changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset", action="store_true", help="Delete all accounts and products first."
        )

    @transaction.atomic
    def handle(self, *args, reset: bool = False, **options):
        if reset:
            Account.objects.all().delete()
            # Start the keys at 1 again, so that new rows get the same ids
            # as on a fresh database (SQLite never reuses them otherwise).
            tables = [
                {"table": model._meta.db_table, "column": "id"} for model in (Account, Product)
            ]
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_by_name_sql(no_style(), tables):
                    cursor.execute(sql)
        # Fixed primary keys, so that the requests `make demo` prints find the
        # rows they name.
        accounts = [
            Account.objects.get_or_create(pk=pk, defaults={"name": name})[0]
            for pk, name in enumerate(ACCOUNTS, start=1)
        ]
        taken_ids = set(Product.objects.values_list("pk", flat=True))
        taken_skus = set(Product.objects.values_list("sku", flat=True))
        missing = [
            product
            for product in (self.product(n, accounts) for n in range(1, PRODUCTS + 1))
            if product.pk not in taken_ids and product.sku not in taken_skus
        ]
        Product.objects.bulk_create(missing)
        # Rows were inserted with explicit keys: move the sequences past them.
        with connection.cursor() as cursor:
            for sql in connection.ops.sequence_reset_sql(no_style(), [Account, Product]):
                cursor.execute(sql)
        user_created = self.ensure_user()
        self.stdout.write(
            f"{Account.objects.count()} accounts, {Product.objects.count()} products "
            f"({len(missing)} added); user {USERNAME!r} "
            f"{'created' if user_created else 'already there'}."
        )

    @staticmethod
    def ensure_user() -> bool:
        """Create the user who owns the demo's bulk jobs, unless it exists."""
        user, created = get_user_model().objects.get_or_create(username=USERNAME)
        if created:
            user.set_password(PASSWORD)
            user.save(update_fields=["password"])
        return created

    @staticmethod
    def product(n: int, accounts: list[Account]) -> Product:
        good = GOODS[n % len(GOODS)]
        finish = FINISHES[(n // len(GOODS)) % len(FINISHES)]
        return Product(
            pk=n,
            account=accounts[n % len(accounts)],
            sku=f"SKU-{n:04d}",
            name=f"{good}, {finish}",
            price=Decimal(300 + (n * 737) % 9700) / 100,
            quantity=(n * 7) % 50,
            active=n % 10 != 0,
        )
