"""The README's quickstart runs as written (against the simulated PBX it starts itself)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_quickstart_runs_as_written(tmp_path: Path) -> None:
    """In a fresh interpreter, as a newcomer would paste it: ``import ami_nb`` is all it needs. The analytics and
    recording snippet runs on the same session, before the quickstart closes it."""
    quickstart, analytics = python_blocks()[:2]
    assert "ami_nb.sim.start()" in quickstart and "ami.close()" in quickstart
    body, _, ending = quickstart.partition("ami.close()")
    check = "rec.stop()\nprint('calls:', len(calls), 'replayed:', len(ami_nb.read_transcript('today.txt')))\n"
    code = body + analytics + check + "ami.close()" + ending
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "calls:" in done.stdout and (tmp_path / "today.timeline.jsonl").is_file()
