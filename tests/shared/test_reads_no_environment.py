"""The core reads no environment variable: the app factory hands it every setting it needs.

So a test, a demo or a second app in one process configures the core by what it passes,
and sciatica_coach/config.py stays the one list of SCIATICA_* settings (README's table).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.paths import REPO

CORE = REPO / "shared"

#: os's ways into the environment, by attribute (`os.environ`) or imported name.
ENVIRONMENT = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


def environment_uses(source: str) -> list[str]:
    """Where `source` touches the process environment, as 'line: what'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT:
            found.append(f"{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in {"os", "posix", "nt"}:
            names = [alias.name for alias in node.names if alias.name in ENVIRONMENT]
            found += [f"{node.lineno}: from os import {name}" for name in names]
        elif isinstance(node, ast.Name) and node.id in {"environ", "getenv"}:
            found.append(f"{node.lineno}: {node.id}")
    return found


@pytest.mark.parametrize(
    "path",
    sorted(CORE.rglob("*.py")),
    ids=lambda path: str(path.relative_to(CORE.parent)),
)
def test_no_core_module_reads_the_environment(path: Path) -> None:
    assert environment_uses(path.read_text("utf-8")) == []


@pytest.mark.parametrize(
    "source",
    [
        "import os\nx = os.environ.get('SCIATICA_DB')",
        "import os\nx = os.getenv('SCIATICA_DB')",
        "from os import environ",
        "from os import getenv as g",
        "import os as o\nx = o.environ['A']",
    ],
)
def test_the_check_finds_each_way_of_reading_it(source: str) -> None:
    assert environment_uses(source) != []
