"""The buckets of :meth:`History.calls` on a Dask cluster: one partition per bucket, the same pandas code.

Each :class:`~ami_nb.history.buckets.Task` is plain data (the dataset's path, a SQL condition, a hash range or
the joined calls it takes), so a worker reads its own bucket from the Parquet files with its own DuckDB and runs
:func:`ami_nb.analysis.calls` on it; only the call tables travel back (Arrow, texts
dictionary-encoded). The workers must see the dataset at the
same path (a shared filesystem, or one machine).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from .buckets import Task, _run_alone

__all__ = ["run_tasks"]


def _run(task: Task) -> pa.Table:
    return _run_alone(task, "1GB")  # one DuckDB thread per task: Dask runs tasks side by side


def run_tasks(client: Any, tasks: list[Task]) -> list[pa.Table]:
    """Run ``tasks`` on ``client`` (a ``dask.distributed.Client``) as ``map_partitions`` of a bag of buckets:
    their compact call tables (:func:`ami_nb.history.results.compact`), in the order of ``tasks``."""
    import dask.bag as db

    if not tasks:
        return []
    bag = db.from_sequence(tasks, npartitions=len(tasks))
    futures = client.compute(bag.map_partitions(lambda part: [_run(t) for t in part]).to_delayed())
    out: list[pa.Table] = []
    for part in client.gather(futures):
        out.extend(part)
    return out
