import django
from django.apps import AppConfig


class TestsConfig(AppConfig):
    name = "tests"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from . import receivers  # noqa: F401

        if django.VERSION < (5, 1):
            use_immediate_transactions()


def use_immediate_transactions():
    """Begin SQLite transactions with ``BEGIN IMMEDIATE`` before Django 5.1, as 5.1's setting does.

    tests/settings.py sets ``transaction_mode = "IMMEDIATE"`` where Django has
    it. The suite's job workers write to the same SQLite file from other
    threads and processes: a transaction that takes the write lock when it
    begins waits for another writer (up to the ``timeout``), where one that
    begins deferred and then writes is refused at once when its read lock
    cannot be upgraded ("database is locked").
    """
    from django.db.backends.sqlite3.base import DatabaseWrapper

    def start_transaction_under_autocommit(self):
        self.cursor().execute("BEGIN IMMEDIATE")

    DatabaseWrapper._start_transaction_under_autocommit = start_transaction_under_autocommit
