"""Sphinx configuration for the drf-bulk documentation."""

from __future__ import annotations

import os
import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import django

# autodoc imports the package, whose modules need Django set up.
DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS)]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_settings")
django.setup()

project = "drf-bulk"
copyright = "drf-bulk contributors"
author = "drf-bulk contributors"

try:
    release = version("drf-bulk")
except PackageNotFoundError:
    # Building from a checkout where the package isn't installed.
    init = DOCS.parent / "rest_framework_bulk" / "__init__.py"
    release = re.search(r'__version__ = "([^"]+)"', init.read_text()).group(1)
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
exclude_patterns = ["_build"]
root_doc = "index"

html_theme = "furo"
html_title = f"drf-bulk {release}"
