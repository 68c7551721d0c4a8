"""`make lint`: no first-party import inside a function in the product (an import placed there to
dodge a cycle is still a cycle); import-linter's contracts (pyproject.toml) check the layers.

    .venv/bin/python -m tools.check_imports
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The product: what the wheel ships (tools, tests and migrations are outside it).
PRODUCT = (
    "app.py",
    "api",
    "calls",
    "cases",
    "config",
    "desk",
    "console",
    "core",
    "ivr",
    "open311",
    "providers",
    "recordings",
    "routing",
    "staff",
    "surveys",
)
FIRST_PARTY = {name.removesuffix(".py") for name in PRODUCT} | {"tools", "migrations", "tests"}


def _files() -> Iterator[Path]:
    for name in PRODUCT:
        path = ROOT / name
        yield from [path] if path.is_file() else sorted(path.rglob("*.py"))


def function_level_imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every first-party import inside a function or method of `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                names = [alias.name for alias in inner.names]
            elif isinstance(inner, ast.ImportFrom) and inner.level == 0 and inner.module:
                names = [inner.module]
            elif isinstance(inner, ast.ImportFrom):  # a relative import: first-party
                names = ["." * inner.level + (inner.module or "")]
            else:
                continue
            for name in names:
                if name.startswith(".") or name.split(".")[0] in FIRST_PARTY:
                    yield inner.lineno, name


def main() -> int:
    """Print each function-level first-party import; exit 1 if there is any."""
    found = [
        f"{path.relative_to(ROOT)}:{line}: import of {module} inside a function"
        for path in _files()
        for line, module in function_level_imports(path)
    ]
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} first-party import(s) inside functions: move them to the top")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
