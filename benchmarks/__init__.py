"""Benchmarks for drf-bulk.

Run them from the repository root with ``python -m benchmarks`` (or
``make bench``). They compare, in one run and on one database, drf-bulk's
list-route views, the same operations written with plain Django REST
framework, and the Django ORM's own bulk methods, which no API can beat.
"""
