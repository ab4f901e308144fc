"""``python -m benchmarks``: see ``python -m benchmarks --help``."""

from __future__ import annotations

import os
import shutil
import sys

# The benchmarks always use their own settings, whatever the shell has.
os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from benchmarks.runner import main  # noqa: E402

try:
    code = main()
finally:
    if settings.BENCHMARK_TMPDIR:
        shutil.rmtree(settings.BENCHMARK_TMPDIR, ignore_errors=True)
sys.exit(code)
