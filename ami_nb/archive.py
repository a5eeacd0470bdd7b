"""The headless recorder: ``python -m ami_nb.archive ami://user@host:5038 DIR`` archives a PBX's events for ever.

The secret comes from ``AMI_SECRET`` or the connections file (:mod:`ami_nb.targets`; never the command line,
where ``ps`` would show it). The client reconnects by itself after a loss, with capped backoff; each loss and
return is recorded in the archive (``History.gaps`` says "no data 02:10-02:14"). If the PBX cannot be reached at
start, the recorder keeps trying. A wrong secret ends it (exit status 2): retrying would not help. SIGTERM or
SIGINT flush what is pending and stop it (exit status 0). A sample systemd unit is in ``docs/history.md``.
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from .errors import AMIError, AuthenticationError, InvalidTargetError
from .history.writer import Archive, pbx_from_host
from .targets import resolve_target

__all__ = ["Archive", "main", "record"]

log = logging.getLogger("ami_nb.archive")


def record(target: str, path: str, *, pbx: str | None = None, flush_seconds: float = 5.0,
           stop: threading.Event | None = None, retry: tuple[float, float] = (1.0, 60.0),
           **connect_options: Any) -> None:
    """Archive ``target``'s events into ``path`` until ``stop`` is set (the loop of the command line).

    ``retry``: the first and the largest wait between attempts to connect at start (doubling, with jitter).
    """
    from .session import connect

    stop = stop or threading.Event()
    # a secret inside the URL is refused: on a command line every user's ``ps`` would show it
    resolved = resolve_target(target, secret=connect_options.pop("secret", None), url_secret=False, prompt=None)
    name = pbx or pbx_from_host(resolved.host)
    delay = retry[0]
    while not stop.is_set():
        try:
            session = connect(resolved, **connect_options)
        except AuthenticationError:
            raise
        except (AMIError, OSError) as exc:
            log.warning("cannot reach %s:%s (%s); trying again in %.0f s", resolved.host, resolved.port, exc, delay)
            if stop.wait(delay * random.uniform(0.5, 1.0)):
                return
            delay = min(retry[1], delay * 2)
            continue
        delay = retry[0]
        try:
            archive = session.archive(path, pbx=name, flush_seconds=flush_seconds)
            log.info("archiving %s into %s (pbx=%s)", session.url, path, name)
            while not stop.wait(1.0):
                if session.state == "closed":  # the client gave up (it does not, unless told to): start again
                    log.warning("session to %s closed; connecting again", session.url)
                    break
        finally:
            session.close()
        log.info("archive %s: %d events written in %d files", path, archive.written, archive.files_written)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ami_nb.archive", description=__doc__.split("\n\n")[0])
    p.add_argument("target", help="ami://user@host:port, amis://... (TLS), host[:port] or a connections-file section")
    p.add_argument("path", help="the archive directory (a Hive-partitioned Parquet dataset)")
    p.add_argument("--pbx", help="the PBX's name in the archive (default: the host)")
    p.add_argument("--flush-seconds", type=float, default=5.0, help="write at least this often (default 5)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        record(args.target, args.path, pbx=args.pbx, flush_seconds=args.flush_seconds, stop=stop)
    except (AuthenticationError, InvalidTargetError, ValueError) as exc:
        print(f"ami_nb.archive: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
