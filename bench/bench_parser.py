"""Parser throughput: ami_nb's sans-IO parser beside panoramisk's protocol path, on the same bytes, in one run.

The stream is every message of the real Asterisk 22 transcripts in ``tests/fixtures/transcripts`` (call events with
CEL, Cdr, repeated ChanVariable keys, list responses), repeated to a few MB, fed in 64 KiB chunks (what an asyncio
transport hands over) and in the recv() chunk sizes recorded in the timelines. Each parser's messages are then
read field by field, so nothing is left lazily unparsed.

Run: ``python bench/bench_parser.py`` (panoramisk comes with ``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from ami_nb import protocol
from ami_nb.protocol import Parser

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "transcripts"


def corpus(target_bytes: int) -> bytes:
    """Messages of every transcript (banner stripped), repeated to about ``target_bytes``."""
    body = b"".join(p.read_bytes().split(b"\r\n", 1)[1] for p in sorted(FIXTURES.glob("[0-9]*.txt")))
    return body * max(1, target_bytes // len(body))


def recv_sizes() -> list[int]:
    """The chunk sizes a real socket returned while recording the transcripts."""
    sizes = []
    for p in sorted((FIXTURES / "timeline").glob("*.jsonl")):
        for line in p.read_text().splitlines():
            rec = json.loads(line)
            if rec["dir"] == "in":
                sizes.append(len(rec["data"].encode("latin-1")))
    return sizes


def chunked(data: bytes, sizes: list[int]) -> list[bytes]:
    out, pos, i = [], 0, 0
    while pos < len(data):
        n = sizes[i % len(sizes)]
        out.append(data[pos : pos + n])
        pos += n
        i += 1
    return out


def run_ami_nb(chunks: list[bytes], read: bool, speedups: bool = True) -> int:
    p = Parser(expect_banner=False, speedups=speedups)
    n = 0
    for c in chunks:
        msgs = p.feed(c)
        n += len(msgs)
        if read:
            for m in msgs:
                for _k, _v in m.pairs():
                    pass
    return n


def run_ami_nb_pure(chunks: list[bytes], read: bool) -> int:
    return run_ami_nb(chunks, read, speedups=False)


def run_panoramisk(chunks: list[bytes], read: bool) -> int:
    from panoramisk.ami_protocol import AMIProtocol

    got: list = []
    proto = AMIProtocol()
    proto.connection_made(None)
    proto.version = "11.0.0"
    proto.encoding = "utf-8"
    proto.handle_message = got.append  # its framing + Message.from_line; no dispatch
    n = 0
    for c in chunks:
        proto.data_received(c)
        n += len(got)
        if read:
            for m in got:
                for _k, _v in m.items():
                    pass
        got.clear()
    return n


def run_naive(chunks: list[bytes], read: bool) -> int:
    """A plain pure-Python bytes -> dict loop: the floor any parser is compared with."""
    buf = b""
    n = 0
    for c in chunks:
        buf += c
        *blocks, buf = buf.split(b"\r\n\r\n")
        for b in blocks:
            d = {}
            for line in b.decode("utf-8", "replace").split("\r\n"):
                k, _, v = line.partition(": ")
                d[k] = v
            n += 1
    return n


def timed(fn: Callable[[list[bytes], bool], int], chunks: list[bytes], read: bool, repeat: int) -> float:
    best = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn(chunks, read)
        best.append(time.perf_counter() - t)
    return statistics.median(best)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=4.0, help="size of the stream in MB")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    data = corpus(int(args.mb * 1_000_000))
    n_msgs = run_ami_nb([data], False)
    splits = {"64 KiB chunks": chunked(data, [65536]), "recorded recv() sizes": chunked(data, recv_sizes())}
    peers: dict[str, Callable[[list[bytes], bool], int]] = {
        "ami_nb (C accelerator)" if protocol._speedups else "ami_nb (no C accelerator built)": run_ami_nb,
        "ami_nb, pure Python": run_ami_nb_pure,
        "naive dict loop": run_naive,
    }
    try:
        import panoramisk  # noqa: F401

        peers["panoramisk 1.4"] = run_panoramisk
    except ImportError:
        print("panoramisk not installed (pip install -e .[bench]): its column is left out")
    print(f"{len(data) / 1e6:.1f} MB, {n_msgs} messages ({len(data) / n_msgs:.0f} bytes/message)\n")
    print("| chunks | parser | messages/s parsed | messages/s parsed + every field read |")
    print("|---|---|---:|---:|")
    for label, chunks in splits.items():
        for name, fn in peers.items():
            rates = [n_msgs / timed(fn, chunks, read, args.repeat) for read in (False, True)]
            print(f"| {label} | {name} | {rates[0]:,.0f} | {rates[1]:,.0f} |")


if __name__ == "__main__":
    main()
