"""The package's layers import downwards only, and docs/architecture.md names every module.

Read from the source (``ast``; imports inside functions count too, since a lazy import is still a dependency), so
a new upward import, or a module the architecture page does not know, fails here rather than in a review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("analysis", "history", "sim", "widgets")  # each counts as one unit here (sim walks its own, test_sim_*)

#: unit -> level; a unit may import only units of a lower level (docs/architecture.md draws the same picture)
LAYERS: dict[str, int] = {
    "errors": 0, "values": 0, "transcript": 0, "listeners": 0, "display": 0, "_speedups": 0,
    "protocol": 1, "loop": 1, "targets": 1,
    "correlator": 2, "response": 2, "store": 2, "analysis": 2, "sim": 2,
    "client": 3, "recording": 3, "live_state": 3,  # live_state counts by analysis.kpi's KPIConfig
    "history": 4, "widgets": 4,
    "session": 5,
    "ami_nb": 6,  # the package's facade: connect(), the extension hooks
    "archive": 7, "magics": 7, "demo": 7,
}


def _unit(module: str) -> str:
    parts = module.split(".")
    return "ami_nb" if len(parts) == 1 else parts[1]


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every ami_nb module ``path`` imports, relative imports resolved."""
    module = _module(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                if node.module:
                    found.add(f"{base}.{node.module}")
                else:
                    found.update(f"{base}.{a.name}" for a in node.names)
            elif node.module and node.module.split(".")[0] == "ami_nb":
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "ami_nb")
    return found


SOURCES = sorted((ROOT / "ami_nb").rglob("*.py"))


def test_every_unit_has_a_layer() -> None:
    units = {_unit(_module(p)) for p in SOURCES}
    assert units - LAYERS.keys() == set(), "a new module: give it a layer here and a row in docs/architecture.md"
    assert LAYERS.keys() - units - {"_speedups"} == set(), "a module went away: drop it from LAYERS"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: _module(p))
def test_imports_go_down(path: Path) -> None:
    me = _unit(_module(path))
    up = sorted(m for m in _imports(path) if _unit(m) != me and LAYERS[_unit(m)] >= LAYERS[me])
    assert up == [], f"{_module(path)} (layer {LAYERS[me]}) imports upwards or sideways: {up}"


def test_no_module_reaches_a_sibling_through_the_facade() -> None:
    """``import ami_nb`` from inside the package would run the facade to reach a sibling (a cycle in waiting)."""
    through = sorted(_module(p) for p in SOURCES if p != ROOT / "ami_nb" / "__init__.py" and "ami_nb" in _imports(p))
    assert through == []


def test_architecture_page_names_every_module() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    missing = []
    for p in SOURCES:
        rel = p.relative_to(ROOT)
        name = rel.parent.as_posix() + "/" if rel.name == "__init__.py" else rel.as_posix()
        if name not in page and f"`{rel.name}`" not in page and f"`{rel.stem}`" not in page:
            missing.append(name)
    assert missing == []
