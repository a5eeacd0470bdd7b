"""History at scale: archive write rate beside the store's ingest rate, size on disk, and calls over the archive.

    python bench/bench_history.py --events 100_000_000 --workdir /var/tmp/ami_bench --dask

0. *Write rows* (``--write-only`` for these alone; ``--baseline DIR`` runs them on an older checkout's ami_nb
   too, in the same sitting): simulated hours fed to an ``EventStore`` alone, then to a store with the archive
   writer beside it (as ``session.archive()`` wires it): the store's ingest events/s alone and with the writer
   running, the writer's end to end, bytes on disk per event; the writer's own CPU per event on one thread
   (``writer_cpu_us_per_event``: the flushes of the whole run, converted and written as ``Archive`` does), the
   bytes per event of those flush files and of the compacted layout ``compact()`` makes of them.
1. *Base*: one simulated busy day (the simulator's call model, rendered and parsed as the client would receive
   it), fed to an ``EventStore`` (the session's ingest path) and, separately, to the archive writer fed by a
   store (a session with ``session.archive()``): events/s of each, and bytes on disk per event.
2. *Scale*: the base day replicated with DuckDB ``COPY`` to ``--events`` events: each copy shifted by whole days,
   its ids shifted too (Uniqueids, Linkedids, channel names, bridge ids, ``call_hash``), written in the compacted
   layout (one file per day, sorted by ``call_hash``, small row groups).
3. Each measured path runs in its own process (its tree's CPU and peak RSS sampled, see ``_TreeSampler``):
   * ``History.calls()`` over ``--calls-events`` (whole days; all of them when it equals ``--events``): cold (no
     stored day tables: computes them and stores them, ``_calls`` deleted first), then warm (the same question,
     the tables read back); ``--fresh`` also the ``cache=False`` row (everything from the events);
   * the bucket reads alone (``History.iter_buckets``: DuckDB -> typed frames, no analysis) over everything;
   * a hand-written DuckDB query computing a disposition per call, over everything;
   * the in-memory path, ``analysis.calls()`` of whole days' events frame (as ``store.frame()`` gives it: the
     archive round trip is tested equal), at ``--inmemory`` numbers of days.

Peak RSS is the sum over the measured process and its descendants (pool workers, a Dask cluster), and ``cpu_s``
the CPU of them all, sampled every ~0.2 s (``wait4`` misses the workers of a fork server); the child and the
processes it starts import the ami_nb of the checkout measured (``PYTHONPATH``), ``--baseline``'s included.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
if os.environ.get("AMI_NB_BENCH_CODE"):  # --baseline: another checkout's ami_nb, this file's bench code
    sys.path.insert(0, os.environ["AMI_NB_BENCH_CODE"])

DAY = 86400
T0 = 1_798_761_600.0  # 2027-01-01 00:00 UTC: the base day starts at midnight, so a copy is one date partition
HASH_STEP = 2654435761  # a copy's call_hash = (hash + k * step) mod 2**32: every copy lands in other buckets


# -- traffic -------------------------------------------------------------------------------------------------------
def sim_reads(hours: float, rate: float, seed: int = 0, per_read: int = 64,
              start: float = T0) -> list[tuple[list[Any], float]]:
    """Simulated traffic as parsed reads: ``(events, received)``, ``per_read`` events per socket read."""
    from ami_nb.protocol import Parser, encode_message
    from ami_nb.sim.model import PBX
    from ami_nb.sim.traffic import start_traffic

    out: list[tuple[float, bytes]] = []

    def sink(name: str, priv: str, pairs: list[Any], now: float) -> None:
        out.append((now, encode_message([("Event", name), ("Privilege", priv), ("Timestamp", f"{now:.6f}"),
                                         *pairs])))

    pbx = PBX(sink, seed=seed, start_time=start, traffic={"rate": rate})
    end = start + hours * 3600
    start_traffic(pbx, until=end)
    pbx.sched.run_until(min(end + 3 * 3600, start + DAY - 1))
    parser = Parser(expect_banner=False)
    reads = []
    for i in range(0, len(out), per_read):
        chunk = out[i:i + per_read]
        reads.append((parser.feed(b"".join(d for _, d in chunk)), chunk[-1][0]))
    return reads


def rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- step 1: the base day ------------------------------------------------------------------------------------------
def build_base(work: Path, hours: float, rate: float) -> dict[str, Any]:
    from ami_nb.history import Archive
    from ami_nb.store import EventStore

    t = time.perf_counter()
    reads = sim_reads(hours, rate)
    n = sum(len(e) for e, _ in reads)
    gen = time.perf_counter() - t
    print(f"base: {n:,} events simulated in {gen:.1f} s", flush=True)

    store = EventStore(capacity=n + 1)
    t = time.perf_counter()
    for events, received in reads:
        store.extend(events, received)
    store.freeze()
    store_s = time.perf_counter() - t
    del store

    base = work / "base"
    shutil.rmtree(base, ignore_errors=True)
    store = EventStore(capacity=1_000_000)  # a session's store, the archive fed by it (session.archive())
    t = time.perf_counter()
    with Archive(base, pbx="bench", flush_seconds=5.0, seq_base=int(T0 * 1e9), store=store) as a:
        for events, received in reads:
            store.extend(events, received)
        handed = time.perf_counter() - t
    archive_s = time.perf_counter() - t
    size = sum(p.stat().st_size for p in base.rglob("*.parquet"))
    from ami_nb.history.compact import compact

    t = time.perf_counter()
    compact(base, include_today=True)
    compact_s = time.perf_counter() - t
    csize = sum(p.stat().st_size for p in base.rglob("*.parquet"))
    out = {"events": n, "reads": len(reads), "store_eps": n / store_s, "archive_eps": n / archive_s,
           "handover_eps": n / handed,
           "bytes_per_event_flushed": size / n, "bytes_per_event_compacted": csize / n,
           "compact_eps": n / compact_s, "files_flushed": a.files_written}
    print(json.dumps(out, indent=1), flush=True)
    return out


# -- the write rows: store ingest alone, beside the archive writer, end to end ---------------------------------
def measure_write(work: Path, hours: float, rate: float, repeat: int = 2, pace: float = 0.0) -> dict[str, Any]:
    """Store ingest alone, then the same reads into a store with an archive beside it (as ``session.archive()``
    wires it: fed by the store's chunks when this code can, else a batch sink after the store's), in one process:
    events/s of the store's ingest loop alone and with the writer running, the writer's end to end (the last
    event on disk), bytes on disk per event. ``repeat``: alternations of the two, best of each. ``pace``: then the
    reads once more at that many events/s, as a session receives them: the writer's largest backlog, how far
    the feeding fell behind the pace, the time from the last event to all on disk (the flush interval's tail)."""
    import inspect
    import pickle

    import ami_nb
    from ami_nb.history import Archive
    from ami_nb.store import EventStore

    t = time.perf_counter()
    cache = work / f"reads-{hours:g}h-{rate:g}.pickle"  # the same reads for every child of a sitting
    if cache.exists():
        reads = pickle.loads(cache.read_bytes())
    else:
        reads = sim_reads(hours, rate)
        cache.write_bytes(pickle.dumps(reads, protocol=pickle.HIGHEST_PROTOCOL))
    n = sum(len(e) for e, _ in reads)
    print(f"write: {n:,} events ready in {time.perf_counter() - t:.1f} s (code: {Path(ami_nb.__file__).parent})",
          flush=True)
    fed = "store" in inspect.signature(Archive).parameters
    out: dict[str, Any] = {"events": n, "fed_by_store": fed, "store_eps": 0.0, "ingest_with_writer_eps": 0.0,
                           "writer_eps": 0.0}
    for _ in range(repeat):
        store = EventStore(capacity=1_000_000)
        t = time.perf_counter()
        for events, received in reads:
            store.extend(events, received)
        store.freeze()
        out["store_eps"] = max(out["store_eps"], n / (time.perf_counter() - t))
        del store

        root = work / "write"
        shutil.rmtree(root, ignore_errors=True)
        store = EventStore(capacity=1_000_000)
        t = time.perf_counter()
        if fed:
            a = Archive(root, pbx="bench", seq_base=int(T0 * 1e9), store=store)
            for events, received in reads:
                store.extend(events, received)
        else:
            a = Archive(root, pbx="bench", seq_base=int(T0 * 1e9))
            for events, received in reads:
                store.extend(events, received)
                a.write(events, received, store.total - len(events))
        store.freeze()
        ingest = time.perf_counter() - t
        a.close()
        e2e = time.perf_counter() - t
        out["ingest_with_writer_eps"] = max(out["ingest_with_writer_eps"], n / ingest)
        out["writer_eps"] = max(out["writer_eps"], n / e2e)
        out["bytes_per_event"] = sum(p.stat().st_size for p in root.rglob("*.parquet")) / n
        out["files"] = a.files_written
        del store
    # the writer's own work on one thread, nothing beside it (CPU seconds: what it takes from the session's cores)
    from ami_nb.history.writer import write_partitions

    store = EventStore(capacity=n + 1)
    for events, received in reads:
        store.extend(events, received)
    store.freeze()  # the store's own work, done either way
    root = work / "write-cpu"
    shutil.rmtree(root, ignore_errors=True)
    c = time.thread_time()
    if fed:
        from ami_nb.history import schema

        b = schema.RowBuilder()
        chunks = list(store._chunks)
        for i in range(0, len(chunks), 30):  # about 500,000 events a file, as flush_rows writes them
            if hasattr(schema, "chunks_table"):  # what Archive does: the flush's chunks at once, strings encoded
                parts = [schema.chunks_table([(ch, 0) for ch in chunks[i:i + 30]], encoded=True)]
            else:
                parts = [schema.chunk_columns(ch) for ch in chunks[i:i + 30]]
            write_partitions(b.finish(parts, seq_base=int(T0 * 1e9)), root, "bench")
    else:
        from ami_nb.history.schema import RowBuilder

        b = RowBuilder()
        seqs = [0]
        for events, _ in reads:
            seqs.append(seqs[-1] + len(events))
        batches = [(events, received, seqs[i]) for i, (events, received) in enumerate(reads)]
        step = max(1, len(batches) * 500_000 // n)
        for i in range(0, len(batches), step):
            write_partitions(b.table(batches[i:i + step]), root, "bench")
    out["writer_cpu_us_per_event"] = 1e6 * (time.thread_time() - c) / n
    out["cpu_bytes_per_event"] = sum(p.stat().st_size for p in root.rglob("*.parquet")) / n  # the flush files
    from ami_nb.history.compact import compact

    compact(root, include_today=True)  # the closed-day layout those files become
    out["compacted_bytes_per_event"] = sum(p.stat().st_size for p in root.rglob("*.parquet")) / n
    del store
    if pace:  # a session receiving ``pace`` events/s: does the writer keep up (its backlog, its lag at the end)?
        store = EventStore(capacity=1_000_000)
        t = time.perf_counter()
        sent = 0
        for events, received in reads:  # first without the writer: what this machine gives the store now
            ahead = t + sent / pace - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
            store.extend(events, received)
            sent += len(events)
        out["paced_achieved_eps_without_writer"] = n / (time.perf_counter() - t)
        shutil.rmtree(root, ignore_errors=True)
        store = EventStore(capacity=1_000_000)
        a = Archive(root, pbx="bench", seq_base=int(T0 * 1e9), **({"store": store} if fed else {}))
        pending, sent, late = 0, 0, 0.0
        t = time.perf_counter()
        for i, (events, received) in enumerate(reads):
            ahead = t + sent / pace - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
            else:
                late = max(late, -ahead)
            store.extend(events, received)
            if not fed:
                a.write(events, received, store.total - len(events))
            sent += len(events)
            if i % 100 == 0:
                pending = max(pending, a.pending)
        fed_s = time.perf_counter() - t
        u = time.perf_counter()
        a.close()
        out.update(paced_offered_eps=pace, paced_achieved_eps=n / fed_s, paced_max_pending=pending,
                   paced_behind_s=late, paced_close_s=time.perf_counter() - u)
    print(json.dumps(out), flush=True)
    return out


# -- step 2: replicate ---------------------------------------------------------------------------------------------
def _uid_sql(x: str, secs: int) -> str:
    """A DuckDB expression: an id ``epoch.counter`` (Uniqueid, Linkedid) -> the same id ``secs`` later."""
    return (f"CASE WHEN regexp_full_match({x}, '[0-9]+[.][0-9]+') THEN CAST(CAST(split_part({x}, '.', 1) "
            f"AS BIGINT) + {secs} AS VARCHAR) || '.' || split_part({x}, '.', 2) ELSE {x} END")


def shift_select(columns: list[tuple[str, str]], source: str, k: int) -> str:
    """``SELECT`` of copy ``k`` of the base day (``columns``: its ``(name, DuckDB type)``): times, ``seq``, ids,
    channel names (a copy's own counter), bridge ids and ``call_hash`` shifted, every other column as it is."""
    from ami_nb.history.schema import key_of

    secs = k * DAY
    out = []
    for name, typ in columns:
        q = '"' + name.replace('"', '""') + '"'
        key = key_of(name)
        if typ.startswith("TIMESTAMP"):
            e = f"{q} + to_days({k})"
        elif name == "seq":
            e = f"{q} + {secs * 10**9}"
        elif name == "call_hash":
            e = f"CASE WHEN {q} < 0 THEN {q} ELSE ({q} + {k * HASH_STEP}) % {1 << 32} END"
        elif name == "links":
            e = f"list_transform({q}, lambda x: {_uid_sql('x', secs)})"
        elif typ == "VARCHAR" and key == "BridgeUniqueid":
            e = f"{q} || '-{k}'"
        elif typ == "VARCHAR" and (name == "call_id" or key.lower().endswith(("uniqueid", "linkedid"))):
            e = _uid_sql(q, secs)
        elif typ == "VARCHAR" and key.endswith("Channel"):  # PJSIP/201-0000001c: a copy's own counter
            e = f"regexp_replace({q}, '-[0-9a-f]{{2}}([0-9a-f]{{6}}(;[0-9])?)$', '-{k % 256:02x}\\1')"
        else:
            out.append(q)
            continue
        out.append(f"{e} AS {q}")
    return f"SELECT {', '.join(out)} FROM {source}"


def replicate(work: Path, copies: int) -> Path:
    """The base day written ``copies`` times by DuckDB ``COPY ... TO`` parquet, shifted by SQL expressions
    (:func:`shift_select`), one file per day in the reader's layout (``pbx=bench/date=<day>/``). The base is
    compacted (sorted by ``call_hash``, small row groups); a copy's hashes are the base's rotated, sorted but
    for one wrap, so its row groups stay narrow ranges of ``call_hash`` without sorting again."""
    import duckdb

    from ami_nb.history.compact import ROW_GROUP_ROWS

    base_files = sorted((work / "base").rglob("*.parquet"))
    big = work / "big"
    shutil.rmtree(big, ignore_errors=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")  # keep the base's call_hash order
    files = "[" + ", ".join("'" + str(f) + "'" for f in base_files) + "]"
    source = f"read_parquet({files}, hive_partitioning = false, union_by_name = true)"
    columns = [(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    t = time.perf_counter()
    for k in range(copies):
        day = time.strftime("%Y-%m-%d", time.gmtime(T0 + k * DAY))
        d = big / "pbx=bench" / f"date={day}"
        d.mkdir(parents=True)
        con.execute(f"COPY ({shift_select(columns, source, k)}) TO '{d / f'part-{k:06d}-c.parquet'}' "
                    f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP_ROWS})")
        if k % 10 == 0:
            print(f"  copy {k + 1}/{copies} ({time.perf_counter() - t:.0f} s)", flush=True)
    print(f"replicated {copies} days in {time.perf_counter() - t:.0f} s", flush=True)
    return big


# -- step 3: the measured paths (each in its own process) -------------------------------------------------------
def child(args: argparse.Namespace) -> None:
    """One measured path; prints one JSON line."""
    import ami_nb.history as history
    from ami_nb import analysis

    out: dict[str, Any] = {"path": args.child}
    path = Path(args.workdir) / "big"
    work = Path(args.workdir)
    if args.child == "write":
        out.update(measure_write(work, args.hours, args.rate, args.repeat, args.pace))
    elif args.child == "build":
        base = build_base(work, args.hours, args.rate)
        base.update(hours=args.hours, rate=args.rate)
        copies = max(1, round(args.size / base["events"]))
        t = time.perf_counter()
        replicate(work, copies)
        base.update(replicate_seconds=time.perf_counter() - t, copies=copies)
        (work / "base.json").write_text(json.dumps(base))
        out.update(base)
    elif args.child in ("history_calls", "history_calls_cold", "history_calls_warm"):
        # history_calls: every call from the events (cache=False); _cold: no stored day tables yet (computed and
        # stored as it goes); _warm: the same question again, the day tables read back
        if args.child == "history_calls_cold":
            shutil.rmtree(path / "_calls", ignore_errors=True)
        h = history.open(path, memory_limit="1500MB")
        days = args.days
        end = T0 + days * DAY
        n = h.sql("SELECT count(*) AS n FROM events WHERE received < to_timestamp(?)", [end])["n"].iloc[0]
        t = time.perf_counter()
        # end at midnight: every day wholly inside the period (a day partly inside is never stored)
        calls = h.calls(end=end, margin=0, bucket_rows=args.bucket_rows, workers=args.workers,
                        cache=args.child != "history_calls")
        out.update(seconds=time.perf_counter() - t, events=int(n), calls=len(calls), workers=args.workers)
        plan = h.last_calls_plan
        if plan is not None:
            out.update(days_from_tables=len(plan.from_rollups), days_computed=len(plan.computed),
                       tables_written=len(plan.written), remainder_rows=plan.remainder_rows)
    elif args.child == "history_calls_dask":
        from dask.distributed import Client, LocalCluster

        h = history.open(path, memory_limit="1500MB")
        end = T0 + args.days * DAY
        n = h.sql("SELECT count(*) AS n FROM events WHERE received < to_timestamp(?)", [end])["n"].iloc[0]
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                          host="127.0.0.1", memory_limit="3GB") as cluster, Client(cluster) as client:
            t = time.perf_counter()
            # every call from the events on the cluster (cache=False): the stored day tables would answer
            calls = h.calls(end=end, margin=0, bucket_rows=args.bucket_rows, client=client, cache=False)
            out.update(seconds=time.perf_counter() - t, events=int(n), calls=len(calls))
    elif args.child == "bucket_reads":
        h = history.open(path, memory_limit="1500MB")
        end = T0 + args.days * DAY
        total = h.sql("SELECT count(*) AS n FROM events WHERE received < to_timestamp(?)", [end])["n"].iloc[0]
        t = time.perf_counter()
        n = 0
        for frame in h.iter_buckets(end=end - 1, bucket_rows=args.bucket_rows, calls_only=True):
            n += len(frame)
        out.update(seconds=time.perf_counter() - t, events=int(total), rows_read=n)
    elif args.child == "duckdb_sql":
        h = history.open(path, memory_limit="1500MB")
        total = h.sql("SELECT count(*) AS n FROM events")["n"].iloc[0]
        t = time.perf_counter()
        table = h.sql(DISPOSITIONS_SQL)
        out.update(seconds=time.perf_counter() - t, events=int(total), calls=len(table),
                   dispositions=table["disposition"].value_counts().to_dict())
    elif args.child == "inmemory":
        # the events frame of whole days, as the store frames them (the archive round trip is tested equal to
        # store.frame()), read from the archive rather than simulated again
        h = history.open(path, memory_limit="1500MB")
        t = time.perf_counter()
        frame = h.events(end=T0 + args.days * DAY - 1).drop(columns=["pbx"])
        frame_s = time.perf_counter() - t
        t = time.perf_counter()
        calls = analysis.calls(frame)
        out.update(seconds=time.perf_counter() - t, frame_seconds=frame_s, events=len(frame), calls=len(calls))
    out["rss_mb_self"] = rss_mb()
    print("RESULT " + json.dumps(out), flush=True)


#: A disposition per call in one SQL query, the way an analyst would write it against the archive: answered
#: when a dial answered or an agent connected, else the last dial's status, else the hangup cause.
DISPOSITIONS_SQL = """
WITH per_call AS (
  SELECT pbx, call_id,
    min(received) AS start,
    bool_or("Event" = 'AgentConnect' OR ("Event" = 'DialEnd' AND "DialStatus" = 'ANSWER')) AS answered,
    bool_or("Event" = 'QueueCallerJoin') AS queued,
    bool_or("Event" = 'QueueCallerAbandon') AS abandoned,
    arg_max("DialStatus", seq) FILTER (WHERE "Event" = 'DialEnd') AS last_dial,
    arg_min("Cause", seq) FILTER (WHERE "Event" = 'Hangup') AS cause
  FROM events
  WHERE call_id IS NOT NULL AND "Event" IN ('Newchannel', 'DialEnd', 'AgentConnect', 'QueueCallerJoin',
                                          'QueueCallerAbandon', 'Hangup')
  GROUP BY pbx, call_id
)
SELECT pbx, call_id, start,
  CASE WHEN answered THEN 'answered'
       WHEN queued AND abandoned THEN 'abandoned'
       WHEN queued THEN 'no answer'
       WHEN last_dial = 'BUSY' OR cause = '17' THEN 'busy'
       WHEN last_dial = 'NOANSWER' OR cause IN ('16', '18', '19', '21') THEN 'no answer'
       ELSE 'failed' END AS disposition
FROM per_call
"""


_CLK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _proc_stats() -> dict[int, tuple[int, int, float, float, int]]:
    """``pid -> (ppid, start time, own CPU s, reaped children's CPU s, resident bytes)`` of every process, from
    ``/proc/<pid>/stat`` (Linux; elsewhere empty)."""
    out: dict[int, tuple[int, int, float, float, int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return out
    for d in names:
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as fh:
                raw = fh.read()
        except OSError:  # gone meanwhile
            continue
        f = raw[raw.rindex(b")") + 2:].split()  # after the command name, which may hold spaces
        out[int(d)] = (int(f[1]), int(f[19]), (int(f[11]) + int(f[12])) / _CLK, (int(f[13]) + int(f[14])) / _CLK,
                       int(f[21]) * _PAGE)
    return out


class _TreeSampler:
    """The process tree under ``root`` (pool workers and their fork server, a Dask cluster), sampled: its resident
    bytes now (:meth:`sample`), and its CPU seconds over its life (:meth:`cpu_seconds`).

    ``wait4`` counts only the child and the descendants it reaped itself: pool workers forked by a fork server
    are the fork server's children, and the fork server is no child the bench's child waits for, so their CPU
    never reaches it. Here each sample reads every process of the tree (``utime + stime`` of its own, and
    ``cutime + cstime`` of the children it reaped) and keeps the last value seen per process (pid and start
    time); the tree's CPU is every process's own time plus what each reaped that was not seen. Sampled (every
    ~0.2 s): a process living less than a sample interval may be missed (unless a process seen reaped it), and
    a process's last moments (under one interval) are.
    """

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: dict[tuple[int, int], tuple[int, float, float]] = {}  # (pid, start) -> (ppid, own, reaped)

    def sample(self) -> int:
        """Resident bytes of the tree now (and its processes' CPU so far, kept)."""
        stats = _proc_stats()
        kids: dict[int, list[int]] = {}
        for pid, st in stats.items():
            kids.setdefault(st[0], []).append(pid)
        members, todo = set(), [self.root]
        while todo:
            pid = todo.pop()
            if pid in stats and pid not in members:
                members.add(pid)
                todo.extend(kids.get(pid, ()))
        # a process seen before whose parent died since (re-parented out of the tree) is still counted
        members |= {pid for pid, start in self.seen if pid in stats and stats[pid][1] == start}
        rss = 0
        for pid in members:
            ppid, start, own, reaped, resident = stats[pid]
            self.seen[(pid, start)] = (ppid, own, reaped)
            rss += resident
        return rss

    def cpu_seconds(self, root_total: float | None = None) -> float:
        """The tree's CPU seconds from the samples; ``root_total``: the root's own and reaped CPU as ``wait4``
        gave them at its end (exact, where its last sample is up to an interval early)."""
        seen_children: dict[int, float] = {}  # ppid -> the CPU of its children seen (own and reaped, last value)
        for ppid, own, reaped in self.seen.values():
            seen_children[ppid] = seen_children.get(ppid, 0.0) + own + reaped
        total = 0.0
        for (pid, _), (_, own, reaped) in self.seen.items():
            if pid == self.root and root_total is not None:
                reaped = max(reaped, root_total - own)
            total += own + max(0.0, reaped - seen_children.get(pid, 0.0))  # reaped and never seen
        return total


def run_child(argv: list[str], code: str | None = None) -> dict[str, Any]:
    """Run this file with ``argv`` in a child process (its ami_nb from ``code``, a checkout, or this one's):
    its RESULT line, with ``wall_s`` and ``cpu_s`` of the child's whole life (``cpu_s``: the process tree's, see
    :class:`_TreeSampler`; ``cpu_s_reaped``: what ``wait4`` counts) and the peak resident memory."""
    import threading

    # the checkout's ami_nb first on the path of the child and of every process it starts: a fork server (and
    # the pool workers it forks) imports ami_nb anew, and ignores the child's sys.path, so it would find the
    # installed one, or (its path starting with the working directory) the one of the directory run from;
    # PYTHONSAFEPATH leaves the working directory out
    env = dict(os.environ, PYTHONSAFEPATH="1", PYTHONPATH=os.pathsep.join(
        [code or str(ROOT), *([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])]))
    if code:
        env["AMI_NB_BENCH_CODE"] = code
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, *argv], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    peak = [0]
    tree = _TreeSampler(proc.pid)

    def sample() -> None:  # ru_maxrss is one process's peak; the sum over the tree is what the machine holds
        while not finished.is_set():  # (never proc.poll(): it would reap the child before wait4 below)
            peak[0] = max(peak[0], tree.sample())
            time.sleep(0.2)

    finished = threading.Event()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result: dict[str, Any] = {}
    for line in proc.stdout:
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
        else:
            print("   ", line.rstrip(), flush=True)
    finished.set()
    sampler.join()
    _, status, usage = os.wait4(proc.pid, 0)
    result["wall_s"] = time.perf_counter() - t0
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    result["peak_tree_rss_mb"] = peak[0] / 2**20
    # CPU seconds of the whole tree: on a shared machine, events per CPU second is the figure other processes'
    # load does not move
    result["cpu_s_reaped"] = usage.ru_utime + usage.ru_stime
    result["cpu_s"] = tree.cpu_seconds(result["cpu_s_reaped"])
    result["exit"] = status
    if result.get("seconds"):
        result["events_per_s"] = result["events"] / result["seconds"]
        result["events_per_cpu_s"] = result["events"] / result["cpu_s"]
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=100_000_000, help="size of the replicated archive")
    p.add_argument("--calls-events", type=int, default=None, help="History.calls() over this many (whole days; "
                   "default: all)")
    p.add_argument("--reads-events", type=int, default=None, help="the bucket reads alone over this many (whole "
                   "days; default: all)")
    p.add_argument("--hours", type=float, default=16.0, help="busy hours in the base day")
    p.add_argument("--rate", type=float, default=3600.0, help="calls per hour in the base day")
    p.add_argument("--inmemory", default="1", help="comma-separated numbers of days for analysis.calls() of the "
                   "whole events frame in memory")
    p.add_argument("--workers", type=int, default=2, help="History.calls() worker processes (1: in process)")
    p.add_argument("--bucket-rows", type=int, default=500_000)
    p.add_argument("--workdir", default="/tmp/ami_nb_bench_history")
    p.add_argument("--reuse", action="store_true", help="keep the archive of an earlier run")
    p.add_argument("--dask", action="store_true", help="also History.calls(client=...) on a 2-worker LocalCluster")
    p.add_argument("--dask-events", type=int, default=None, help="the Dask path over this many (whole days; "
                   "default: as History.calls())")
    p.add_argument("--write-only", action="store_true", help="only the write rows (store ingest, archive writer)")
    p.add_argument("--read-only", action="store_true", help="only the read rows (needs --reuse of a built archive)")
    p.add_argument("--write-hours", type=float, default=4.0, help="simulated hours for the write rows")
    p.add_argument("--baseline", default=None, help="a checkout of older code: its write rows beside these "
                   "(the same bench code, its ami_nb first on the path)")
    p.add_argument("--repeat", type=int, default=2, help="alternations of the write measurements (best of)")
    p.add_argument("--rounds", type=int, default=1, help="baseline and current write rows alternated this often")
    p.add_argument("--pace", type=float, default=100_000, help="events/s offered in the paced write run (0: none)")
    p.add_argument("--fresh", action="store_true", help="also History.calls(cache=False): every call from the "
                   "events, no stored day tables")
    p.add_argument("--skip", default="", help="comma-separated read rows to leave out (duckdb_sql, bucket_reads)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--days", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    wargs = ["--child", "write", "--hours", str(args.write_hours), "--rate", str(args.rate), "--repeat",
             str(args.repeat), "--pace", str(args.pace), "--workdir", str(work)]
    pairs = ([("write_baseline", args.baseline)] if args.baseline else []) + [("write", None)]
    for r in range(args.rounds if not args.read_only else 0):  # alternated: the machine's load moves
        for label, code in pairs:
            results[f"{label}_{r}" if args.rounds > 1 else label] = run_child(wargs, code)
    if args.write_only:
        print(json.dumps(results, indent=1))
        return
    if not (args.reuse and (work / "base.json").exists() and (work / "big").exists()):
        # in a child too: Linux keeps a process's peak RSS across exec, so this one must stay small
        results["build"] = run_child(["--child", "build", "--hours", str(args.hours), "--rate", str(args.rate),
                                      "--size", str(args.events), "--workdir", str(work)])
    base = json.loads((work / "base.json").read_text())
    results["base"] = base
    total = base["events"] * base["copies"]
    size = sum(f.stat().st_size for f in (work / "big").glob("pbx=*/date=*/*.parquet"))  # events, not _calls
    results["archive"] = {"events": total, "bytes": size, "bytes_per_event": size / total}
    print(json.dumps(results["archive"]), flush=True)
    days = base["copies"] if args.calls_events is None else max(1, round(args.calls_events / base["events"]))
    common = ["--workdir", str(work), "--bucket-rows", str(args.bucket_rows), "--workers", str(args.workers)]
    skip = {s.strip() for s in args.skip.split(",")}
    if "duckdb_sql" not in skip:
        results["duckdb_sql"] = run_child(["--child", "duckdb_sql", *common])
    rdays = base["copies"] if args.reads_events is None else max(1, round(args.reads_events / base["events"]))
    if "bucket_reads" not in skip:
        results["bucket_reads"] = run_child(["--child", "bucket_reads", "--days", str(rdays), *common])
    if args.fresh:
        results["history_calls"] = run_child(["--child", "history_calls", "--days", str(days), *common])
    for row in ("history_calls_cold", "history_calls_warm"):  # cold first: it deletes the stored day tables
        results[row] = run_child(["--child", row, "--days", str(days), *common])
    if args.dask:
        ddays = days if args.dask_events is None else max(1, round(args.dask_events / base["events"]))
        results["history_calls_dask"] = run_child(["--child", "history_calls_dask", "--days", str(ddays), *common])
    for days_s in args.inmemory.split(","):
        if days_s.strip():
            results[f"inmemory_{days_s.strip()}d"] = run_child(["--child", "inmemory", "--days", days_s.strip(),
                                                                *common])
    (work / "results.json").write_text(json.dumps(results, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
