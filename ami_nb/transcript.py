"""The recording file format, in one place (stdlib only): a transcript and its timeline, written and read.

A *transcript* is the exact bytes a server sent, banner first (``tests/fixtures/transcripts/*.txt``, what
``session.record(path)`` writes). After a reconnect the new connection's banner appears in the stream again.
Its *timeline* (``<stem>.timeline.jsonl`` beside it, or ``timeline/<stem>.timeline.jsonl``) says when each read
arrived: one JSON object per line, ``{"t": seconds since the start, "dir": "in" | "out" | "eof" | "meta",
"data": latin-1 text}``; the ``in`` records' data joins to the transcript's bytes; a record may carry ``"epoch"``,
the absolute time of its ``t``.

:class:`TranscriptWriter` writes both; :func:`iter_reads` gives ``(t, bytes)`` per read (the timeline's, or the
whole file at 0.0); :func:`iter_connections` splits those reads where a banner starts a new connection, so a
reader knows when to start a fresh parser. Parsing the bytes is the protocol layer's job, not this module's.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

__all__ = [
    "BANNER_PREFIX",
    "TIMELINE_SUFFIX",
    "TranscriptWriter",
    "find_timeline",
    "iter_connections",
    "iter_reads",
    "timeline_epoch",
    "timeline_path",
]

PathLike = str | os.PathLike[str]
BANNER_PREFIX = b"Asterisk Call Manager/"
TIMELINE_SUFFIX = ".timeline.jsonl"
_BANNER_AFTER_LF = re.compile(rb"(?<=\n)(?=" + re.escape(BANNER_PREFIX) + rb")")


def timeline_path(path: PathLike) -> Path:
    """Where the timeline of the transcript ``path`` is written: ``<stem>.timeline.jsonl`` beside it."""
    p = Path(path)
    return p.with_name(p.stem + TIMELINE_SUFFIX)


def find_timeline(path: PathLike) -> Path | None:
    """The timeline of a transcript: beside it (:func:`timeline_path`) or in a ``timeline/`` folder, else None."""
    p = Path(path)
    for cand in (timeline_path(p), p.parent / "timeline" / (p.stem + TIMELINE_SUFFIX)):
        if cand.is_file():
            return cand
    return None


def _resolve(path: Path, timeline: PathLike | bool) -> Path | None:
    if timeline is True:
        return find_timeline(path)
    if timeline is False:
        return None
    return Path(timeline)


def json_lines(path: Path, what: str = "JSON object") -> Iterator[tuple[int, dict[str, object]]]:
    """``(line number, object)`` for each non-blank line of a JSON Lines file; a line that is not a JSON object
    raises ``ValueError`` naming the file, the line and ``what`` was expected there."""
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path.name} line {n}: not a {what} ({exc})") from exc
            if not isinstance(rec, dict):
                raise ValueError(f"{path.name} line {n}: not a {what} (a JSON {type(rec).__name__})")
            yield n, rec


def timeline_epoch(path: PathLike, *, timeline: PathLike | bool = True) -> float | None:
    """The absolute time (epoch seconds) of ``t == 0``, when a timeline record states it, else None."""
    tl = _resolve(Path(path), timeline)
    if tl is None:
        return None
    for n, rec in json_lines(tl, "timeline record"):
        epoch, t = rec.get("epoch"), rec.get("t", 0.0)
        if isinstance(epoch, int | float) and not isinstance(epoch, bool):
            if not isinstance(t, int | float):
                raise ValueError(f"{tl.name} line {n}: not a timeline record ('t' is not a number)")
            return float(epoch) - float(t)
    return None


def iter_reads(path: PathLike, *, timeline: PathLike | bool = True) -> Iterator[tuple[float, bytes]]:
    """``(seconds since the start, bytes)`` for each read of the transcript ``path``.

    ``timeline``: True finds it (:func:`find_timeline`), a path names it, False ignores it. Without one the
    whole file is one read at 0.0. The timeline's ``in`` chunks are checked against the file as they are read
    (a ValueError names the line when a record is broken, or says they do not join to the file's bytes).
    """
    p = Path(path)
    tl = _resolve(p, timeline)
    if tl is None:
        yield 0.0, p.read_bytes()
        return
    mismatch = f"{tl.name} does not match {p.name}: its 'in' chunks do not join to the file's bytes"
    with p.open("rb") as data:
        for n, rec in json_lines(tl, "timeline record"):
            if rec.get("dir") != "in":
                continue
            t, text = rec.get("t"), rec.get("data")
            if not isinstance(t, int | float) or isinstance(t, bool) or not isinstance(text, str):
                raise ValueError(f"{tl.name} line {n}: not a timeline record (an 'in' record needs 't' and 'data')")
            try:
                chunk = text.encode("latin-1")
            except UnicodeEncodeError as exc:
                raise ValueError(f"{tl.name} line {n}: not a timeline record ({exc})") from exc
            if data.read(len(chunk)) != chunk:
                raise ValueError(mismatch)
            yield float(t), chunk
        if data.read(1):
            raise ValueError(mismatch)


def iter_connections(
    reads: Iterator[tuple[float, bytes]] | list[tuple[float, bytes]],
) -> Iterator[tuple[float, bytes, bool]]:
    """Split reads where a banner starts a line: ``(t, bytes, starts_connection)``, each piece with
    ``starts_connection`` beginning with the banner of a new connection (the first one too, when the file has
    its banner). A reader starts a fresh parser at each such piece."""
    at_line_start = True
    for t, chunk in reads:
        if not chunk:
            continue
        cuts = [m.start() for m in _BANNER_AFTER_LF.finditer(chunk)]
        if at_line_start and chunk.startswith(BANNER_PREFIX):
            cuts.insert(0, 0)
        if not cuts or cuts[0] != 0:
            yield t, chunk[: cuts[0] if cuts else len(chunk)], False
        for i, start in enumerate(cuts):
            end = cuts[i + 1] if i + 1 < len(cuts) else len(chunk)
            yield t, chunk[start:end], True
        at_line_start = chunk.endswith(b"\n")


class TranscriptWriter:
    """Writes a transcript and (``timeline=True``) its timeline beside it; ``write(bytes)`` per read.

    The timeline opens with a ``meta`` record holding the epoch time of ``t == 0``; each read's ``t`` comes from
    ``clock`` (monotonic seconds), so the read times survive clock changes during the recording.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        timeline: bool = True,
        clock: Callable[[], float] = time.monotonic,
        epoch: float | None = None,
    ) -> None:
        self.path = Path(path)
        self.timeline_path: Path | None = timeline_path(self.path) if timeline else None
        self.bytes_written = 0
        self._clock = clock
        self._file: IO[bytes] = self.path.open("wb")
        self._timeline: IO[str] | None = None
        self._t0 = clock()
        if self.timeline_path is not None:
            self._timeline = self.timeline_path.open("w", encoding="utf-8")
            start = time.time() if epoch is None else epoch
            self._timeline.write(json.dumps({"t": 0.0, "dir": "meta", "epoch": start}) + "\n")

    @property
    def closed(self) -> bool:
        return self._file.closed

    def write(self, data: bytes) -> None:
        """Append one read (empty reads are skipped). Raises ValueError once closed."""
        if not data:
            return
        self._file.write(data)
        self.bytes_written += len(data)
        if self._timeline is not None:
            t = round(self._clock() - self._t0, 6)
            self._timeline.write(json.dumps({"t": t, "dir": "in", "data": data.decode("latin-1")}) + "\n")

    def flush(self) -> None:
        self._file.flush()
        if self._timeline is not None:
            self._timeline.flush()

    def close(self) -> None:
        """Close both files (idempotent)."""
        self._file.close()
        if self._timeline is not None:
            self._timeline.close()

    def __enter__(self) -> TranscriptWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<TranscriptWriter {str(self.path)!r} {state} {self.bytes_written} bytes>"
