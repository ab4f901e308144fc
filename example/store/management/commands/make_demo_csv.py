"""Print a large CSV of new products, for trying bulk jobs in the demo.

::

    python example/manage.py make_demo_csv --rows 20000 > /tmp/products.csv

Every ``--invalid-every``-th row has a price that is not a number, so a
lenient job has failed items to report. The SKUs (``BIG-000001``, ...) are
new to the seeded data; a second upload of the same file finds them taken
(``seed_demo --reset`` starts over, or use another ``--prefix``).
"""

from __future__ import annotations

import csv

from django.core.management.base import BaseCommand, CommandError

from store.management.commands.seed_demo import ACCOUNTS, FINISHES, GOODS


class Command(BaseCommand):
    help = "Print a CSV of new products (with a few invalid rows) to standard output."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=20_000, help="Rows to print (20000).")
        parser.add_argument(
            "--invalid-every",
            type=int,
            default=1000,
            metavar="N",
            help="Give every Nth row an invalid price (1000); 0 for none.",
        )
        parser.add_argument("--prefix", default="BIG", help="SKU prefix (BIG).")

    def handle(self, *args, rows: int, invalid_every: int, prefix: str, **options):
        if rows < 0 or invalid_every < 0:
            raise CommandError("--rows and --invalid-every must be 0 or more.")
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(["account", "sku", "name", "price", "quantity", "active"])
        for n in range(1, rows + 1):
            good = GOODS[n % len(GOODS)]
            finish = FINISHES[(n // len(GOODS)) % len(FINISHES)]
            invalid = invalid_every and n % invalid_every == 0
            price = "n/a" if invalid else f"{(300 + (n * 389) % 9700) / 100:.2f}"
            writer.writerow(
                [
                    n % len(ACCOUNTS) + 1,
                    f"{prefix}-{n:06d}",
                    f"{good}, {finish}",
                    price,
                    (n * 3) % 60,
                    "true" if n % 7 else "false",
                ]
            )
