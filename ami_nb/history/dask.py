"""The buckets of :meth:`History.calls` on a Dask cluster: one Dask task per bucket, the same pandas code.

Each :class:`~ami_nb.history.buckets.Task` is plain data (the dataset's path, a SQL condition, a hash range or
the joined calls it takes), so a worker reads its own bucket from the Parquet files with its own DuckDB and runs
:func:`ami_nb.analysis.calls` on it; only the call tables travel back (Arrow, texts
dictionary-encoded). The workers must see the dataset at the
same path (a shared filesystem, or one machine).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pyarrow as pa

from .buckets import Task, _run_alone

__all__ = ["iter_tasks", "run_tasks"]


def _run(task: Task) -> pa.Table:
    return _run_alone(task, "1GB")  # one DuckDB thread per task: Dask runs tasks side by side


def iter_tasks(client: Any, tasks: list[Task], *,
               in_flight: int | None = None) -> Generator[tuple[int, pa.Table], None, None]:
    """Run ``tasks`` on ``client`` (a ``dask.distributed.Client``): ``(index in tasks, compact table)`` as each
    bucket finishes (:func:`ami_nb.history.results.compact`), as :func:`~ami_nb.history.buckets.run_pool` gives
    them, so the caller writes each out (``out=``) or keeps it as it comes.

    At most ``in_flight`` buckets (default: twice the cluster's worker threads, so none waits for work) are
    submitted and not yet taken, and each result is released on the cluster once taken: what the client holds,
    and the cluster keeps for it, is bounded by those buckets, not by the period. Closing the generator early
    (or an error) cancels the buckets still in flight.
    """
    from distributed import as_completed

    if not tasks:
        return
    if in_flight is None:
        in_flight = 2 * max(1, sum(client.nthreads().values()))
    queue = iter(enumerate(tasks))
    pending: dict[Any, int] = {}
    done = as_completed()

    def submit() -> None:
        nxt = next(queue, None)
        if nxt is not None:
            fut = client.submit(_run, nxt[1], pure=False)
            pending[fut] = nxt[0]
            done.add(fut)

    for _ in range(max(1, int(in_flight))):
        submit()
    try:
        for fut in done:
            i = pending.pop(fut)
            table = fut.result()  # a bucket's error is raised here, in the caller
            fut.release()
            submit()
            yield i, table
    finally:
        for fut in pending:
            fut.cancel()


def run_tasks(client: Any, tasks: list[Task]) -> list[pa.Table]:
    """Every table of :func:`iter_tasks`, in the order of ``tasks`` (the client holds them all at the end)."""
    got: list[pa.Table | None] = [None] * len(tasks)
    for i, table in iter_tasks(client, tasks):
        got[i] = table
    return [t for t in got if t is not None]
