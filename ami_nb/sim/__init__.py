"""A simulated Asterisk 22 that speaks real AMI, for notebooks, tests and benchmarks without a PBX.

In-process (the server runs its own asyncio loop in a daemon thread)::

    from ami_nb import sim
    with sim.start(seed=1, time_scale=600, timestampevents=True) as pbx:   # 10 simulated minutes per second
        pbx.url                      # 'ami://admin@127.0.0.1:<port>'
        truth = pbx.simulate(3600, rate=120)   # an hour of traffic (about 6 real s), returns when all calls ended
        pbx.call("queue")            # one call now: answered, busy, noanswer, congestion, queue, abandon, transfer
        pbx.start_traffic(rate=600)  # continuous traffic for a live dashboard ... pbx.stop_traffic()
        pbx.ground_truth()           # one row per call: linkedid, caller, callee, scenario, start, answer, end,
                                     # queue, agent, transferred, disposition, hangup_cause

What it serves is taken from real Asterisk 22.10.1 transcripts: the banner, Login (plain and MD5), the
per-user read/write classes, ``Events`` and ``Filter``, 38 actions in their recorded shapes, the demo
dialplan (``Originate Local/100@demo`` gives the recorded 125-event sequence), and traffic calls between PJSIP
phones through the ``support`` queue, served as app_queue with ``autofill=yes`` serves it: a free agent rings at
once for the longest-waiting caller, and each caller's patience (``abandon`` callers are the impatient ones)
races the answer and the queue's timeout. The clock is virtual: ``time_scale`` simulated seconds pass per real
second (``math.inf`` in :meth:`SimPBX.simulate`: as fast as possible) and the same seed gives the same calls and
events. With ``timestampevents=True`` every event carries ``Timestamp:`` on that clock (but ``FullyBooted``, as in
Asterisk: manager.c writes it to the session directly): turn it on whenever the time scale is not 1, or durations
measured from arrival times are scaled.

Users are those of the recorded server: ``admin``/``amp111`` (read=all, write=all) and ``limited``/``lim123``
(read=call, write=originate). ``start(tls=(certfile, keyfile))`` serves AMI over TLS (``amis://`` URL).

From a shell::

    python -m ami_nb.sim --host 127.0.0.1 --port 5038 --traffic --rate 600 --time-scale 60 --timestampevents
    python -m ami_nb.sim --replay tests/fixtures/transcripts/19_originate_async_100.txt

Benchmarks: run the simulator in its own process so it does not share the client's GIL. Either
``python -m ami_nb.sim --port 0 --print-port --flood N --flood-clients 1 --exit-after-flood`` (read the port from
the first stdout line; N events go to the first logged-in client, then the process exits), or start
``python -m ami_nb.sim --port 0 --print-port``, log in, and send ``Action: SimFlood`` / ``Count: N`` (needs the
``system`` write class). Either way the events are realistic call events pre-rendered from the model, written
in ~1 MiB chunks (about 500,000 events/s to one loopback client), followed by one ``Event: SimFloodComplete``
/ ``Count: N`` that is not counted in N. In-process, :meth:`SimPBX.flood` does the same.
"""

from __future__ import annotations

import asyncio
import math
import ssl
import warnings
from collections.abc import Coroutine
from typing import Any

from ..errors import AMITimeoutError
from ..loop import LoopThread
from . import traffic as _traffic
from .flood import flood as _flood
from .model import DEFAULT_MIX, Traffic
from .replay import start_replay
from .server import DEFAULT_USERS, AMIServer, User, server_tls

__all__ = ["DEFAULT_MIX", "DEFAULT_USERS", "SimPBX", "Traffic", "User", "start", "start_replay"]


class SimPBX:
    """Handle on a running simulated PBX (its asyncio loop runs on a :class:`~ami_nb.loop.LoopThread`)."""

    def __init__(self, server: AMIServer, loop_thread: LoopThread) -> None:
        self._server = server
        self._lt = loop_thread
        self.host: str = server.host
        self.port: int = server.port
        self.users: dict[str, User] = dict(server.users)
        self._stopped = False

    # -- basics ----------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``ami://admin@host:port`` (``amis://`` when serving TLS)."""
        return f"{'amis' if self._server.tls else 'ami'}://admin@{self.host}:{self.port}"

    @property
    def seed(self) -> int:
        return self._server.pbx.seed

    @property
    def time_scale(self) -> float:
        return self._server.time_scale

    @property
    def now(self) -> float:
        """The simulated clock (epoch seconds)."""
        return self._server.pbx.now

    @property
    def events_emitted(self) -> int:
        return self._server.events_emitted

    @property
    def active_calls(self) -> int:
        """Calls (Linkedids) with a channel still up."""
        return len(self._server.pbx.linked)

    @property
    def sessions(self) -> int:
        """Connections currently open."""
        return len(self._server.connections)

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running"
        return f"<SimPBX {state} {self.host}:{self.port} seed={self.seed} time_scale={self.time_scale}>"

    def _run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = 30.0) -> Any:
        if self._stopped:
            coro.close()
            raise RuntimeError("the simulated PBX is stopped")
        try:
            return self._lt.run(coro, timeout)
        except AMITimeoutError:
            raise TimeoutError(f"the simulated PBX did not finish within {timeout} s") from None

    def stop(self) -> None:
        """Close every connection and the listening socket; the loop thread ends."""
        if self._stopped:
            return
        try:
            self._run(self._server.close(), 10.0)
        finally:
            self._stopped = True
            self._lt.stop(10.0)

    def __enter__(self) -> SimPBX:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- driving calls -----------------------------------------------------------------------------------------
    def call(self, kind: str = "answered", **options: Any) -> str:
        """Start one call now (``answered``, ``busy``, ``noanswer``, ``congestion``, ``queue``, ``abandon``,
        ``transfer``); ``caller=``, ``callee=``, ``talk=``, ``ring=`` override the draws. Returns its Linkedid."""

        async def go() -> str:
            srv = self._server
            srv.sync_clock()
            gen = _traffic.scenario(srv.pbx, kind, **options)
            before = set(srv.pbx.calls)
            delay = next(gen)
            srv.pbx.sched.add(gen, 0.0 if not isinstance(delay, (int, float)) else float(delay))
            srv.wake()
            new = [k for k in srv.pbx.calls if k not in before]
            return new[0] if new else ""

        return self._run(go())

    def originate(self, channel: str = "Local/100@demo", *, context: str = "demo", exten: str | None = "sink",
                  application: str | None = None, data: str = "", callerid: str = "",
                  variables: dict[str, str] | None = None, account: str = "") -> None:
        """Originate as the ``Originate`` action does (asynchronously, no OriginateResponse)."""

        async def go() -> None:
            srv = self._server
            srv.sync_clock()
            srv.pbx.sched.add(srv.pbx.originate(
                channel, context=context, exten=exten, application=application, data=data, callerid=callerid,
                variables=list((variables or {}).items()), account=account))
            srv.wake()

        self._run(go())

    def start_traffic(self, *, rate: float | None = None, mix: dict[str, float] | None = None,
                      **traffic: Any) -> None:
        """Continuous background traffic (for a live dashboard) until :meth:`stop_traffic`."""

        if math.isinf(self._server.time_scale):
            raise ValueError("continuous traffic needs a finite time_scale (use simulate() to run as fast as possible)")

        async def go() -> None:
            self._apply_traffic(rate, mix, traffic)
            self._server.sync_clock()
            _traffic.start_traffic(self._server.pbx)
            self._server.wake()

        self._run(go())

    def stop_traffic(self) -> None:
        """No new calls; calls in progress finish normally."""

        async def go() -> None:
            _traffic.stop_traffic(self._server.pbx)

        self._run(go())

    def _apply_traffic(self, rate: float | None, mix: dict[str, float] | None, opts: dict[str, Any]) -> None:
        t = self._server.pbx.traffic
        if rate is not None:
            t.rate = float(rate)
        if mix is not None:
            unknown = set(mix) - set(DEFAULT_MIX)
            if unknown:
                raise ValueError(f"unknown scenario(s) in mix: {sorted(unknown)}; known: {sorted(DEFAULT_MIX)}")
            t.mix = dict(mix)
        for k, v in opts.items():
            if k not in Traffic.__dataclass_fields__:
                raise ValueError(f"unknown traffic option {k!r}; known: {sorted(Traffic.__dataclass_fields__)}")
            setattr(t, k, v)

    def simulate(self, duration: float = 3600.0, *, rate: float | None = None, mix: dict[str, float] | None = None,
                 time_scale: float | None = None, timeout: float | None = None, **traffic: Any) -> Any:
        """Run ``duration`` simulated seconds of traffic (at the time scale) and return when every call of
        it has ended. Returns :meth:`ground_truth` of the calls that started in this run.

        ``rate``, ``mix`` and other :class:`Traffic` options change the traffic model for this and later runs;
        ``time_scale`` changes the server's speed (``math.inf``: as fast as possible). Background traffic pauses
        during the run. Clients should keep reading while it runs: one whose unread output passes
        ``max_client_buffer`` is disconnected."""
        if time_scale is not None:
            self.set_time_scale(time_scale)
        scale = self._server.time_scale
        if scale != 1.0 and not self._server.timestampevents:
            warnings.warn("simulate() with a time scale but timestampevents=False: events carry no Timestamp, so "
                          "durations measured from arrival times are scaled; start(..., timestampevents=True)",
                          stacklevel=2)
        if timeout is None:
            timeout = 60.0 + (0.0 if math.isinf(scale) else (duration + 3600.0) / scale)

        async def go() -> list[str]:
            srv = self._server
            pbx = srv.pbx
            self._apply_traffic(rate, mix, traffic)
            srv.sync_clock()
            before = set(pbx.calls)
            background = pbx.traffic_running
            until = pbx.now + duration
            _traffic.start_traffic(pbx, until=until)  # replaces background traffic for the run
            srv.wake()
            while (pbx.traffic_running and pbx.now < until) or pbx.linked:
                await asyncio.sleep(0.005)
                if pbx.sched.next_time() is None and not pbx.linked:
                    break
            _traffic.stop_traffic(pbx)
            if background:
                srv.sync_clock()
                _traffic.start_traffic(pbx)
                srv.wake()
            return [k for k in pbx.calls if k not in before]

        ids = self._run(go(), timeout)
        frame = self.ground_truth()
        return frame[frame["linkedid"].isin(ids)].reset_index(drop=True)

    def simulate_contact_centre(self, hours: float = 8.0, *, seed: int = 0, time_scale: float | None = None,
                                timeout: float | None = None, pause_at: float | None = None,
                                **options: Any) -> dict[str, Any]:
        """Run a contact centre's working day of ``hours`` simulated hours (agents logging in and out, pauses
        with reasons, wrap-up, three queues, named trunks in and out; :mod:`~ami_nb.sim.workforce`) and return
        when it has ended: :meth:`contact_centre_truth`. Same ``seed`` (and ``start(start_time=...)``): same day.
        ``pause_at`` (a fraction of the day) returns at that point instead, the PBX's clock held there (connect a
        session mid-day, ask QueueStatus), until :meth:`resume_contact_centre`. ``options`` go to
        :class:`~ami_nb.sim.workforce.ContactCentre` (queues, agents, trunks, hold_share)."""
        from .workforce import run_day

        if time_scale is not None:
            self.set_time_scale(time_scale)
        self._cc_hours, self._cc_scale = hours, self._server.time_scale
        self._run(run_day(self._server, hours=hours, seed=seed, pause_at=pause_at, **options),
                  self._day_timeout(hours, timeout))
        return self.contact_centre_truth()

    def resume_contact_centre(self, timeout: float | None = None) -> dict[str, Any]:
        """Run the rest of a day :meth:`simulate_contact_centre` held at ``pause_at``; its ground truth."""
        from .workforce import resume_day

        self._run(resume_day(self._server), self._day_timeout(getattr(self, "_cc_hours", 8.0), timeout))
        return self.contact_centre_truth()

    def _day_timeout(self, hours: float, timeout: float | None) -> float:
        scale = getattr(self, "_cc_scale", self._server.time_scale)  # not the held day's standstill
        if timeout is not None:
            return timeout
        return 60.0 + (0.0 if math.isinf(scale) else (hours * 3600.0 * 1.1 + 900.0) / scale)

    def contact_centre_truth(self, since: Any = None) -> dict[str, Any]:
        """The last :meth:`simulate_contact_centre` day's ground truth: a dict of DataFrames ``agent_states``,
        ``agents``, ``agent_totals``, ``sessions``, ``pauses``, ``member_pauses``, ``ring_no_answer``,
        ``outages``, ``agent_calls``, ``stints``, ``queues``, ``trunks``, ``trunk_kpis`` (schemas in
        :mod:`~ami_nb.sim.workforce`) and ``calls`` (the day's rows of :meth:`ground_truth`). ``since`` (a
        Timestamp or epoch seconds) clips the agent tables to the time from then on."""
        from .workforce import truth_of

        if since is not None and not isinstance(since, (int, float)):
            since = since.timestamp()

        async def go() -> dict[str, Any]:
            return truth_of(self._server.pbx, since)

        out: dict[str, Any] = self._run(go())
        calls = self.ground_truth()
        ids = set(out["stints"]["linkedid"]) | set(out["trunks"]["linkedid"])
        out["calls"] = calls[calls["linkedid"].isin(ids)].reset_index(drop=True)
        return out

    def set_time_scale(self, time_scale: float) -> None:
        """Simulated seconds per real second (``math.inf``: run as fast as possible)."""

        async def go() -> None:
            self._server.set_time_scale(time_scale)

        self._run(go())

    def flood(self, n_events: int, *, clients: int = 0, timeout: float = 120.0, wait: bool = True) -> Any:
        """Send ``n_events`` pre-rendered call events to every logged-in session with events on (waiting
        first for ``clients`` such sessions); returns the total written (n_events x sessions).

        Writing awaits the clients' reading: a reader in the calling thread needs ``wait=False``, which returns
        a :class:`concurrent.futures.Future` of the total at once."""
        async def go() -> int:
            loop = asyncio.get_running_loop()
            end = loop.time() + timeout
            while clients and loop.time() < end:
                ready = [c for c in self._server.connections if c.events_on]
                if len(ready) >= clients:
                    break
                await asyncio.sleep(0.01)
            return await _flood(self._server, n_events)

        if not wait:
            if self._stopped:
                raise RuntimeError("the simulated PBX is stopped")
            return self._lt.submit(go())
        return self._run(go(), timeout + 5.0)

    def ground_truth(self) -> Any:
        """One row per call, the schema documented in :class:`~ami_nb.sim.state.CallRecord`: linkedid, caller,
        callee, scenario, start, answer, end (UTC datetimes), queue, agent, transferred, disposition,
        hangup_cause, linkedids, caller_channel, answered_by, hop, transfer_type, transferer, transfer_target,
        transfer_time, other_linkedid, queue_stints, finished."""
        from .state import ground_truth_frame

        async def go() -> list[dict[str, Any]]:
            return [rec.row() for rec in self._server.pbx.calls.values()]

        return ground_truth_frame(self._run(go()))


def start(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    seed: int = 0,
    timestampevents: bool = False,
    users: dict[str, Any] | None = None,
    traffic: Traffic | dict[str, Any] | None = None,
    time_scale: float = 1.0,
    start_time: float | None = None,
    authtimeout: float = 30.0,
    auth_fail_delay: float = 1.0,
    max_client_buffer: int = 8 * 1024 * 1024,
    background_traffic: bool = False,
    tls: ssl.SSLContext | tuple[str, str] | str | None = None,
) -> SimPBX:
    """Start a simulated PBX on its own loop in a daemon thread and return its handle.

    ``users`` maps name -> :class:`User` (or ``(secret, read, write)``); ``traffic`` sets the traffic model
    (:class:`Traffic` fields: rate per hour, mix, agents, talk/ring/wait means...); ``time_scale`` is simulated
    seconds per real second; ``start_time`` fixes the simulated clock's start (epoch seconds) for reproducible
    Uniqueids; ``authtimeout`` closes connections that never log in; a slow client whose unsent output passes
    ``max_client_buffer`` bytes is disconnected. ``background_traffic`` starts continuous traffic at once.
    ``tls`` (a server ``SSLContext``, a ``(certfile, keyfile)`` pair or one PEM file) serves AMI over TLS.
    """
    server = AMIServer(seed=seed, users=users, timestampevents=timestampevents, traffic=traffic,
                       time_scale=time_scale, start_time=start_time, authtimeout=authtimeout,
                       auth_fail_delay=auth_fail_delay, max_client_buffer=max_client_buffer)
    lt = LoopThread(f"ami-sim-{port}").start()

    async def boot() -> None:
        await server.start(host, port, tls=server_tls(tls))
        if background_traffic:
            _traffic.start_traffic(server.pbx)

    try:
        lt.run(boot(), 30.0, "starting the simulated PBX")
    except BaseException:
        lt.stop()
        raise
    return SimPBX(server, lt)
