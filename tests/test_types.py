"""The package type-checks (mypy, configured in pyproject.toml) and ships its types (py.typed, one version).

mypy comes with the test extra. The whole package is checked at the configured settings (mypy's defaults plus
checked ``type: ignore`` comments; the core modules strict), and the core modules once more with ``--strict``
itself, so the flag list in pyproject.toml cannot drift from what ``--strict`` means.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import pytest

import ami_nb

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

#: Modules whose owners are still cleaning them, the last of them (every other module of the package must be
#: clean): this set only shrinks, and is empty when the reshaping is done.
PENDING: frozenset[str] = frozenset()
#: Strict modules (the override in pyproject.toml) not yet passing ``mypy --strict``; the same rule.
PENDING_STRICT: frozenset[str] = frozenset()

_ERROR = re.compile(r"^(?P<path>[^:\n]+\.pyi?):\d+(?::\d+)?: error: (?P<text>.*)$", re.M)


def module_of(path: str) -> str:
    p = Path(path)
    parts = list(p.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def run_mypy(*args: str) -> tuple[dict[str, list[str]], str]:
    """mypy from the repository root; ``({module: [error lines]}, full output)``."""
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    out = done.stdout + done.stderr
    if done.returncode not in (0, 1) or (done.returncode == 1 and "error: " not in out):
        pytest.fail(f"mypy did not run: rc={done.returncode}\n{out}")
    errors: dict[str, list[str]] = {}
    for m in _ERROR.finditer(out):
        errors.setdefault(module_of(m["path"]), []).append(m.group(0))
    return errors, out


def modules() -> list[str]:
    """Every module of the package, by its file."""
    return sorted(module_of(str(p.relative_to(ROOT))) for p in (ROOT / "ami_nb").rglob("*.py"))


def strict_modules() -> list[str]:
    """The modules pyproject.toml makes strict (the override that sets disallow_untyped_defs)."""
    for override in PYPROJECT["tool"]["mypy"]["overrides"]:
        if override.get("disallow_untyped_defs"):
            return list(override["module"])
    raise AssertionError("no strict override in pyproject.toml")


def test_the_package_is_clean_at_the_configured_settings() -> None:
    errors, _ = run_mypy()  # files, flags and overrides from pyproject.toml
    bad = {mod: lines for mod, lines in errors.items() if mod not in PENDING}
    assert not bad, "mypy errors (mypy is configured in pyproject.toml):\n" + "\n".join(
        line for lines in bad.values() for line in lines)
    assert "ami_nb.magics" in modules() and len(modules()) > 40  # the run saw the whole package


def test_the_strict_modules_pass_mypy_strict() -> None:
    files = []
    for mod in strict_modules():
        path = ROOT / (mod.replace(".", "/") + ".py")
        if path.is_file():  # a module listed ahead of its arrival is checked once it exists
            files.append(str(path.relative_to(ROOT)))
    assert "ami_nb/protocol.py" in files and "ami_nb/session.py" in files
    errors, _ = run_mypy("--strict", "--follow-imports=silent", *files)
    bad = {mod: lines for mod, lines in errors.items() if mod not in PENDING_STRICT}
    assert not bad, "\n".join(line for lines in bad.values() for line in lines)


def test_the_strict_override_lists_every_per_module_strict_flag() -> None:
    # mypy --help names the flags --strict enables; the per-module ones must all be in the override
    done = subprocess.run([sys.executable, "-m", "mypy", "--help"], capture_output=True, text=True, timeout=60)
    text = re.sub(r"\s+", " ", done.stdout)
    m = re.search(r"--strict Strict mode; enables the following flags: (.*?)(?: --[a-z-]+ [A-Z]| -[a-zA-Z] )", text)
    assert m, "mypy --help no longer lists the strict flags"
    flags = {f.strip().lstrip("-").replace("- ", "-").replace("-", "_") for f in m.group(1).split(",")}
    global_only = {"warn_redundant_casts", "warn_unused_ignores"}  # set for every module in [tool.mypy]
    override = next(o for o in PYPROJECT["tool"]["mypy"]["overrides"] if o.get("disallow_untyped_defs"))
    missing = {f for f in flags - global_only if not override.get(f)}
    assert not missing, f"add to the strict override in pyproject.toml: {sorted(missing)}"
    assert all(PYPROJECT["tool"]["mypy"].get(f) for f in global_only)


def test_py_typed_ships_and_the_version_has_one_home(tmp_path: Path) -> None:
    assert (ROOT / "ami_nb" / "py.typed").is_file()
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ami_nb.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[.-]?\w+)?", ami_nb.__version__)
    setuptools_config = pytest.importorskip("setuptools.config.pyprojecttoml")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # setuptools calls [tool.setuptools] "beta"
        expanded = setuptools_config.read_configuration(ROOT / "pyproject.toml")
    assert expanded["project"]["version"] == ami_nb.__version__
    # what setuptools puts in a build: py.typed beside the modules
    done = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "ami_nb" / "py.typed").is_file() and (tmp_path / "ami_nb" / "targets.py").is_file()
