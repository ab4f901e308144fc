"""Sphinx configuration for the drf-bulk documentation."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

project = "drf-bulk"
copyright = "drf-bulk contributors"
author = "drf-bulk contributors"

try:
    release = version("drf-bulk")
except PackageNotFoundError:
    # Building from a checkout where the package isn't installed.
    init = Path(__file__).parent.parent / "rest_framework_bulk" / "__init__.py"
    release = re.search(r'__version__ = "([^"]+)"', init.read_text()).group(1)
version = ".".join(release.split(".")[:2])

extensions: list[str] = []
exclude_patterns = ["_build"]
root_doc = "index"

html_theme = "furo"
html_title = f"drf-bulk {release}"
