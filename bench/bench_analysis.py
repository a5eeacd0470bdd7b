"""``analysis.calls()`` / ``queue_stats()`` time on simulated traffic, beside the single-module analysis it
replaced (the baseline: ``ami_nb/analysis.py`` as of commit 45355a5, loaded from git), in one run.

The new calls() follows channels (the channel graph, queue stints, transfers), so it does more per call; this
shows what that costs. The events come from the simulator (``pbx.simulate``, as fast as possible) over a real
socket, once; each function then runs ``--repeat`` times on the same frame and the best time is kept.

Run: ``python bench/bench_analysis.py [--hours 4] [--rate 600] [--repeat 3]`` (needs git for the baseline).
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd

import ami_nb
from ami_nb import analysis, sim

BASELINE = "45355a5"


def baseline() -> ModuleType:
    root = Path(__file__).resolve().parents[1]
    src = subprocess.run(["git", "-C", str(root), "show", f"{BASELINE}:ami_nb/analysis.py"], check=True,
                         capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "analysis_baseline.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("analysis_baseline", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=4.0)
    ap.add_argument("--rate", type=float, default=600.0, help="calls per hour")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    with (
        sim.start(seed=1, time_scale=math.inf, timestampevents=True, start_time=1_800_000_000) as pbx,
        ami_nb.connect(pbx.url, secret="amp111", timeout=30) as session,
    ):
        truth = pbx.simulate(args.hours * 3600, rate=args.rate)
        session.action("Ping")
        events: pd.DataFrame = session.events.frame()
    old = baseline()
    print(f"{len(events):,} events, {len(truth):,} calls ({args.hours:g} h at {args.rate:g} calls/h)")
    print(f"{'function':<22}{'baseline s':>12}{'now s':>10}{'ratio':>8}")
    for name, now, then in [
        ("calls", lambda: analysis.calls(events), lambda: old.calls(events)),
        ("queue_stats", lambda: analysis.queue_stats(events), lambda: old.queue_stats(events)),
        ("channels", lambda: analysis.channels(events), lambda: old.channels(events)),
    ]:
        b, n = best(then, args.repeat), best(now, args.repeat)
        print(f"{name:<22}{b:>12.3f}{n:>10.3f}{n / b:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
