"""Let ``--nbval-sanitize-with notebooks/nbval_sanitize.cfg`` work from any directory pytest starts in."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    name = getattr(config.option, "nbval_sanitize_with", None)
    if name and not Path(name).exists():
        for base in (config.rootpath, Path(__file__).parent):
            if (base / name).exists():
                config.option.nbval_sanitize_with = str(base / name)
                return
            if (base / Path(name).name).exists():
                config.option.nbval_sanitize_with = str(base / Path(name).name)
                return
