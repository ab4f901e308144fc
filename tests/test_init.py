"""The package's lazily loaded public names, and what type checkers see of them."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import rest_framework_bulk
from rest_framework_bulk import _EXPORTS


def type_checking_imports() -> dict[str, str]:
    """The names imported under ``if TYPE_CHECKING:`` in ``__init__.py``, with their module."""
    tree = ast.parse(Path(rest_framework_bulk.__file__).read_text())
    names = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.unparse(statement)
                assert statement.level == 1, ast.unparse(statement)
                for alias in statement.names:
                    names[alias.asname or alias.name] = statement.module
    return names


def test_all_lists_every_export():
    assert sorted(rest_framework_bulk.__all__) == sorted(_EXPORTS)


def test_type_checkers_import_every_export_from_where_it_is_loaded():
    assert type_checking_imports() == _EXPORTS


def test_every_export_loads_from_its_module():
    for name, module in _EXPORTS.items():
        expected = getattr(importlib.import_module(f"rest_framework_bulk.{module}"), name)
        assert getattr(rest_framework_bulk, name) is expected


def test_importing_the_package_loads_no_export():
    code = """
import sys
import rest_framework_bulk
loaded = sorted(m for m in sys.modules if m.startswith("rest_framework_bulk."))
assert not loaded, loaded
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
