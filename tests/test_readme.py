"""The README's quickstart runs as written (against the simulated PBX it starts itself)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_quickstart_runs_as_written() -> None:
    """In a fresh interpreter, as a newcomer would paste it: ``import ami_nb`` is all it needs."""
    quickstart = python_blocks()[0]
    assert "ami_nb.sim.start()" in quickstart and "ami.close()" in quickstart
    code = quickstart + "\nprint('events held:', len(ami.events))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "events held:" in done.stdout
