"""``python -m ami_nb.sim``: run the simulated PBX (or a replay) from a shell. See ``--help``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import signal
import sys
import threading

from .model import DEFAULT_MIX
from .server import DEFAULT_USERS, AMIServer, server_tls
from .traffic import start_traffic


def _parser() -> argparse.ArgumentParser:
    users = "; ".join(f"{n} / {u.secret} (read={u.read}, write={u.write})" for n, u in DEFAULT_USERS.items())
    p = argparse.ArgumentParser(
        prog="python -m ami_nb.sim",
        description="A simulated Asterisk 22 PBX that speaks real AMI (banner 'Asterisk Call Manager/11.0.0').",
        epilog=f"Users: {users}. Scenarios: {', '.join(DEFAULT_MIX)}. "
               "Flood for benchmarks: --flood N waits for --flood-clients logged-in sessions with events on, writes "
               "N pre-rendered call events to each, then 'Event: SimFloodComplete'; clients can also send "
               "'Action: SimFlood' with 'Count: N'.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=5038, help="TCP port (0 = any free port; default 5038)")
    p.add_argument("--print-port", action="store_true", help="print the port on the first stdout line")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed, same calls (default 0)")
    p.add_argument("--timestampevents", action="store_true", help="add 'Timestamp:' (simulated clock) to events")
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="simulated seconds per real second (e.g. 600: an hour in 6 s; 'inf': no waiting)")
    p.add_argument("--authtimeout", type=float, default=30.0, help="close connections not logged in after N s")
    p.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate (and --tls-key)")
    p.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert (omit if the cert file holds it)")
    g = p.add_argument_group("traffic")
    g.add_argument("--traffic", action="store_true", help="generate continuous call traffic")
    g.add_argument("--rate", type=float, default=120.0, help="calls per simulated hour (default 120)")
    g.add_argument("--mix", default="", help="scenario weights, e.g. answered=5,queue=3,abandon=1")
    g.add_argument("--agents", type=int, default=3, help="queue agents taking calls (default 3)")
    g.add_argument("--talk-mean", type=float, default=180.0, help="mean talk time, simulated s (default 180)")
    g.add_argument("--patience-mean", type=float, default=45.0,
                   help="an abandon caller's mean patience in the queue, simulated s (default 45)")
    g.add_argument("--queue-patience-mean", type=float, default=600.0,
                   help="a queue caller's mean patience (default 600; the queue times out at 300)")
    g.add_argument("--contact-centre", type=float, default=0.0, metavar="HOURS",
                   help="once a client with events on is logged in, run a contact-centre day of HOURS simulated "
                        "hours (agents, pauses, wrap-up, queues, trunks: ami_nb.sim.workforce)")
    f = p.add_argument_group("benchmark / replay")
    f.add_argument("--flood", type=int, default=0, metavar="N", help="flood N events to the clients, then report")
    f.add_argument("--flood-clients", type=int, default=1, help="clients to wait for before flooding (default 1)")
    f.add_argument("--exit-after-flood", action="store_true", help="stop after the flood")
    f.add_argument("--replay", metavar="FILE", help="serve a recorded transcript instead of the simulation")
    f.add_argument("--replay-speed", type=float, default=None,
                   help="replay at this multiple of the recorded pace (1 = as recorded; default: all at once)")
    f.add_argument("--replay-rate", type=float, default=None, help="replay events per second, evenly spaced")
    p.add_argument("-v", "--verbose", action="store_true", help="log connections and errors")
    return p


def _mix(spec: str) -> dict[str, float] | None:
    if not spec:
        return None
    out = {}
    for part in spec.split(","):
        k, _, v = part.partition("=")
        if k.strip() not in DEFAULT_MIX:
            raise SystemExit(f"unknown scenario {k.strip()!r} in --mix; known: {', '.join(DEFAULT_MIX)}")
        out[k.strip()] = float(v or 1)
    return out


async def _serve(args: argparse.Namespace) -> int:
    from .flood import flood

    if args.replay:
        from .replay import ReplayServer

        rs = ReplayServer(args.replay, speed=args.replay_speed, rate=args.replay_rate)
        await rs.start(args.host, args.port)
        _announce(args, rs.port, f"replaying {len(rs.events)} events from {args.replay}")
        await asyncio.Event().wait()
        return 0
    traffic = {"rate": args.rate, "agents": args.agents, "talk_mean": args.talk_mean,
               "patience_mean": args.patience_mean, "queue_patience_mean": args.queue_patience_mean}
    mix = _mix(args.mix)
    if mix:
        traffic["mix"] = mix
    scale = math.inf if args.time_scale == math.inf else args.time_scale
    server = AMIServer(seed=args.seed, timestampevents=args.timestampevents, traffic=traffic, time_scale=scale,
                       authtimeout=args.authtimeout)
    tls = None
    if args.tls_cert:
        tls = server_tls((args.tls_cert, args.tls_key) if args.tls_key else args.tls_cert)
    await server.start(args.host, args.port, tls=tls)
    _announce(args, server.port, f"simulated PBX, seed {args.seed}, time scale {args.time_scale}")
    if args.traffic:
        start_traffic(server.pbx)
        server.wake()
    if args.contact_centre > 0:
        _TASKS.add(asyncio.ensure_future(_contact_centre(server, args)))  # kept referenced while serving
    if args.flood:
        from .flood import event_pool

        event_pool(args.seed, args.timestampevents)  # render before any client is waiting
        while True:
            ready = [c for c in server.connections if c.events_on]
            if len(ready) >= args.flood_clients:
                break
            await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        total = await flood(server, args.flood, ready)
        dt = loop.time() - t0
        print(f"flood: sent {total} events to {len(ready)} session(s) in {dt:.3f} s "
              f"({total / dt if dt else 0:,.0f} events/s)", flush=True)
        if args.exit_after_flood:
            await asyncio.sleep(0.2)
            await server.close()
            return 0
    await asyncio.Event().wait()
    return 0


_TASKS: set[asyncio.Future[None]] = set()


async def _contact_centre(server: AMIServer, args: argparse.Namespace) -> None:
    from .workforce import run_day

    while not any(c.events_on for c in server.connections):
        await asyncio.sleep(0.01)
    await run_day(server, hours=args.contact_centre, seed=args.seed)
    print("contact-centre day over", flush=True)


def _announce(args: argparse.Namespace, port: int, what: str) -> None:
    if args.print_port:
        print(port, flush=True)
    print(f"ami-sim: {what}; listening on {args.host}:{port}", file=sys.stderr, flush=True)


def _terminate(*_: object) -> None:
    """SIGTERM: shut down cleanly, but never hang on it (a client that stopped reading holds a flood's drain)."""
    watchdog = threading.Timer(3.0, os._exit, (0,))
    watchdog.daemon = True
    watchdog.start()
    sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        signal.signal(signal.SIGTERM, _terminate)
    except ValueError:
        pass
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
