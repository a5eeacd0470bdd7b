"""IPython magics for AMI (``%load_ext ami_nb``), each a thin line over the Python API.

==================  ==============================================================================================
``%ami_connect``    ``ami_nb.connect(...)``; no target: an embedded simulated PBX on a free loopback port
``%%ami_action``    ``session.action(name, fields)`` for each block of ``Key: Value`` lines
``%ami_events``     ``session.events.frame(pattern, last=, since=)``
``%ami_live``       ``ami_nb.widgets.live(session)``
``%ami_status``     one row per connection: state, counters, events held and dropped, listeners' skips
``%ami_disconnect`` ``session.close()``
==================  ==============================================================================================

Options are traitlets on :class:`AmiMagics`: ``%config AmiMagics`` lists them, ``%config AmiMagics.timeout = 5``
sets one. A secret is never read from the magic line (a URL holding one is refused): it comes from the
connections file, ``AMI_SECRET`` or a hidden prompt, so it never reaches ``In``, ``Out`` or the history database.
"""

from __future__ import annotations

import getpass  # noqa: F401  # tests replace getpass.getpass through this module
import re
import string
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Dict, Float, Int, Unicode

from . import targets
from .errors import ActionError, AMIError, InvalidTargetError

__all__ = ["AmiMagics", "Connection", "load_ipython_extension", "unload_ipython_extension"]

SIM_ALIAS = "sim"


@dataclass
class Connection:
    """One named connection: its session, the embedded simulator it owns (if any), its live view."""

    alias: str
    session: Any
    sim: Any = None
    views: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for view in self.views:
            view.stop()
        try:
            self.session.close()
        finally:
            if self.sim is not None:
                self.sim.stop()

    def __repr__(self) -> str:
        return f"<Connection {self.alias!r} {self.session.url} state={self.session.state}>"


#: A short, traceback-free error: IPython prints a plain ``UsageError`` in one line (not a subclass of it).
AmiUsageError = UsageError


def _fail(exc: BaseException) -> str:
    """One line naming an AMI failure (never a secret: the exception tree guarantees it)."""
    if isinstance(exc, ActionError):
        return f"AMI {exc.action} failed: {exc.message}" if exc.action else f"AMI error: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


# -- the body of %%ami_action ---------------------------------------------------------------------------------
_FIELD = re.compile(r"\s*([^\s:]+)\s*:\s?(.*)\Z")


def fill(text: str, namespace: dict[str, Any]) -> str:
    """Replace ``{name}`` (also ``{name.attr}``, ``{name[key]}``, ``{name!r}``, ``{name:fmt}``) from ``namespace``.

    ``{{`` / ``}}`` are literal braces; ``${...}`` is left alone (Asterisk's own dialplan syntax).
    """
    out: list[str] = []
    fmt = string.Formatter()
    for literal, fname, spec, conv in fmt.parse(text):
        out.append(literal)
        if fname is None:
            continue
        if literal.endswith("$"):  # ${EXTEN}: Asterisk's, not ours
            inner = fname + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "")
            out.append("{" + inner + "}")
            continue
        try:
            value, _ = fmt.get_field(fname, (), namespace)
        except (KeyError, AttributeError, IndexError) as exc:
            raise AmiUsageError(f"%%ami_action: {{{fname}}} is not defined in the notebook ({exc!r})") from None
        value = fmt.convert_field(value, conv)
        out.append(fmt.format_field(value, spec or ""))
    return "".join(out)


_BREAKS = frozenset("\r\n\0")


Actions = list[tuple[str, dict[str, Any]]]


def _fill_one(what: str, template: str, namespace: dict[str, Any]) -> str:
    value = fill(template, namespace) if "{" in template or "}" in template else template
    if _BREAKS.intersection(value):
        raise AmiUsageError(
            f"%%ami_action: {what}, once filled in, holds a line break (CR or LF) or a NUL, which would "
            "make it other AMI headers or actions; nothing was sent. Clean the variable first (for example "
            "value.replace('\\n', ' '))")
    return value


def fill_actions(actions: Actions, namespace: dict[str, Any]) -> Actions:
    """Fill ``{name}`` into each field of already split actions (never into the cell before it is split, where
    a value holding CR/LF would become headers or actions of its own); a filled CR, LF or NUL is refused."""
    out: Actions = []
    for name, fields in actions:
        filled: dict[str, Any] = {}
        for key, value in fields.items():
            k = _fill_one(f"the key {key!r}", key, namespace)
            values = value if isinstance(value, list) else [value]
            new = [_fill_one(f"the value of {k}", v, namespace) for v in values]
            prev = filled.get(k)
            merged = ([] if prev is None else prev if isinstance(prev, list) else [prev]) + new
            filled[k] = merged[0] if len(merged) == 1 else merged
        out.append((_fill_one("the action name", name, namespace), filled))
    return out


def parse_actions(body: str, default_action: str | None) -> Actions:
    """Blocks of ``Key: Value`` lines (separated by blank lines) -> ``[(action, fields)]``; repeated keys -> lists."""
    actions: Actions = []
    blocks = re.split(r"\n[ \t]*\n", body.replace("\r\n", "\n").strip("\n"))
    for block in blocks:
        lines = [ln for ln in block.split("\n") if ln.strip() and not ln.lstrip().startswith("#")]
        if not lines:
            continue
        name: str | None = None
        fields: dict[str, Any] = {}
        for ln in lines:
            m = _FIELD.match(ln)
            if not m:
                raise AmiUsageError(f"%%ami_action: expected 'Key: Value', got {ln.strip()[:60]!r}")
            key, value = m.group(1), m.group(2).rstrip()
            if key.lower() == "action":
                name = value
                continue
            prev = fields.get(key)
            if prev is None:
                fields[key] = value
            elif isinstance(prev, list):
                prev.append(value)
            else:
                fields[key] = [prev, value]
        name = name or default_action
        if not name:
            raise AmiUsageError("%%ami_action: no action: write 'Action: Name' in the cell or put the name on the "
                                "magic line (%%ami_action Ping)")
        actions.append((name, fields))
    if not actions and default_action:
        actions.append((default_action, {}))
    return actions


def cell_value(result: Any) -> Any:
    """What a cell shows: a DataFrame for a list action, else the session's shaped result."""
    from .response import Response

    if isinstance(result, Response) and result.is_list:
        from .display import ListFrame

        frame = ListFrame(result.to_frame())  # displayed with its constant columns once, scrolling
        frame.attrs["response"] = result.to_dict()
        return frame
    return result


def raw_messages(result: Any) -> list[Any]:
    """The messages as received: the response, then the list's item events and its completion event."""
    from .response import Response

    resp = result if isinstance(result, Response) else getattr(result, "response", None)
    if resp is None:
        return [result]
    out = [resp.message, *resp.list_items]
    if resp.complete is not None:
        out.append(resp.complete)
    return out


# -- the magics -------------------------------------------------------------------------------------------------
@magics_class
class AmiMagics(Magics):
    """AMI from IPython: connect, run actions, look at events, watch live."""

    timeout = Float(10.0, help="Seconds to wait for a connection or an action's answer.").tag(config=True)
    autolimit = Int(0, help="Rows %ami_events returns when --last is not given (0: every event held).").tag(
        config=True)
    live_rate = Float(2.0, help="Redraws per second of %ami_live views.").tag(config=True)
    default_url = Unicode(
        "", help="Target of a bare %ami_connect (ami://user@host:port or a connections-file section); "
                 "empty: the embedded simulated PBX.").tag(config=True)
    store_capacity = Int(1_000_000, help="Events each connection keeps (the newest; older ones are dropped).").tag(
        config=True)
    connections_file = Unicode(
        None, allow_none=True,
        help="INI file of named targets: [name] host, port, username, secret, tls, auth. None: AMI_CONNECTIONS_FILE "
             "or ~/.config/ami_nb/connections.ini, as connect() reads; empty: no file.").tag(config=True)
    events = Unicode("on", help="Event mask sent at login (on, off, or classes such as call,agent).").tag(
        config=True)
    sim_options = Dict(
        {"time_scale": 10.0, "background_traffic": True},
        help="Keyword arguments for ami_nb.sim.start() when %ami_connect starts the embedded PBX.").tag(config=True)
    raise_errors = Bool(
        False, help="Raise a short UsageError when an action fails, instead of printing one line to stderr.").tag(
        config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        if shell is not None and "config" not in kwargs:
            kwargs["config"] = shell.config
        super().__init__(shell=shell, **kwargs)
        self.connections: dict[str, Connection] = {}
        self.current: str | None = None

    # -- helpers --------------------------------------------------------------------------------------------
    def connection(self, alias: str | None = None) -> Connection:
        """The named connection, or the default one (the last connected)."""
        name = alias or self.current
        if name is None or name not in self.connections:
            known = ", ".join(sorted(self.connections)) or "none"
            what = f"no AMI connection named {alias!r}" if alias else "not connected"
            raise AmiUsageError(f"{what} (connections: {known}); run %ami_connect first")
        return self.connections[name]

    @property
    def _user_ns(self) -> dict[str, Any]:
        """The notebook's variables (``-o`` writes there, ``{name}`` reads there)."""
        if self.shell is None:
            raise AmiUsageError("the AMI magics need an IPython shell (load them with %load_ext ami_nb)")
        ns: dict[str, Any] = self.shell.user_ns
        return ns

    def _report(self, exc: BaseException) -> None:
        if self.raise_errors:
            raise AmiUsageError(_fail(exc)) from None
        print(_fail(exc), file=sys.stderr)

    def _drop(self, alias: str) -> None:
        conn = self.connections.pop(alias, None)
        if conn is not None:
            conn.close()
        if self.current == alias:
            self.current = next(reversed(self.connections), None)

    # -- %ami_connect -----------------------------------------------------------------------------------------
    @magic_arguments()
    @argument("target", nargs="?", default=None,
              help="ami://user@host:port, amis://user@host:port (TLS), a section of the connections file, or "
                   "nothing for AmiMagics.default_url (empty: start the embedded simulated PBX).")
    @argument("-a", "--alias", default=None, help="Name of this connection (default: the section name, "
                                                      "user@host:port, or 'sim'). The last one connected is the "
                                                      "default of the other magics.")
    @argument("--section", default=None, help="Take host, port, username and secret from this section of "
                                                "AmiMagics.connections_file.")
    @argument("-u", "--user", default=None, help="User name (else the URL's, the section's, or AMI_USERNAME).")
    @argument("--md5", action="store_true", help="Log in with the MD5 challenge (the secret never crosses the wire).")
    @argument("--tls", action="store_true", help="Use TLS (as amis:// does).")
    @argument("--events", default=None, help="Event mask at login: on, off, or classes (default AmiMagics.events).")
    @argument("--timeout", type=float, default=None, help="Seconds (default AmiMagics.timeout).")
    @argument("--archive", default=None, metavar="DIR", help="Also write every event to the Parquet archive in DIR "
              "(session.archive; read it with ami_nb.history.open).")
    @argument("--pbx", default=None, help="The PBX's name in the archive (default: the host).")
    @line_magic
    def ami_connect(self, line: str) -> None:
        """Connect to an Asterisk Manager Interface and make it the default connection.

        The secret comes from the connections file, else ``AMI_SECRET``, else a hidden prompt; a secret inside
        the URL is refused, since the line would keep it in the notebook and its history.
        """
        args = parse_argstring(self.ami_connect, line)
        from .session import connect  # here, not at the top: loading the extension stays cheap

        timeout = self.timeout if args.timeout is None else args.timeout
        events = args.events or self.events
        target = args.target or (None if args.section else (self.default_url or None))
        if target is None and args.section is None:
            self._connect_sim(args.alias or SIM_ALIAS, events, timeout, "md5" if args.md5 else "auto")
            return self._archive(args)

        if target is not None and (typed := targets.url_userinfo(target)) is not None:
            self._scrub(f"//{typed}@", f"//{typed.partition(':')[0]}:***@")
            raise AmiUsageError("put no secret in the URL: it was removed from this session's history, but the "
                                "notebook cell still shows it. Use AMI_SECRET, the connections file, or type it "
                                "at the hidden prompt.")
        try:
            resolved = targets.resolve_target(
                target, username=args.user, tls=bool(args.tls), auth="md5" if args.md5 else None,
                section=args.section, connections_file=self.connections_file, url_secret=False)
        except InvalidTargetError as exc:
            raise AmiUsageError(str(exc)) from None
        alias = args.alias or resolved.name
        user, where = resolved.username, f"{resolved.username}@{resolved.host}:{resolved.port}"
        if alias in self.connections:
            self._drop(alias)
        try:
            session = connect(resolved, events=events,
                                     timeout=timeout, store_capacity=self.store_capacity)
        except (AMIError, OSError, ValueError) as exc:
            raise AmiUsageError(f"cannot connect to {where}: {_fail(exc)}") from None
        finally:
            del resolved
        self._register(Connection(alias, session), user, "")
        self._archive(args)

    def _archive(self, args: Any) -> None:
        """``--archive DIR``: the new connection's ``session.archive(DIR, pbx=...)``."""
        if args.archive:
            a = self.connection().session.archive(args.archive, pbx=args.pbx)
            print(f"Archiving every event into {a.path} (pbx={a.pbx})")

    def _scrub(self, needle: str, replacement: str) -> None:
        """Replace ``needle`` (the ``//user:secret@`` of a URL) in this session's input history: In, _i*, the
        history database. Only that exact URL part is rewritten, so a short secret cannot touch other text."""
        if not needle or self.shell is None:
            return

        def clean(text: Any) -> Any:
            return text.replace(needle, replacement) if isinstance(text, str) else text

        hm = getattr(self.shell, "history_manager", None)
        if hm is not None:
            for hist in (hm.input_hist_parsed, hm.input_hist_raw):
                hist[:] = [clean(t) for t in hist]
            try:
                hm.writeout_cache()
                with hm.db:
                    hm.db.execute("UPDATE history SET source = replace(source, ?, ?), "
                                  "source_raw = replace(source_raw, ?, ?) WHERE session = ?",
                                  (needle, replacement, needle, replacement, hm.session_number))
            except Exception as exc:  # a read-only or disabled history database
                print(f"could not scrub the history database: {type(exc).__name__}", file=sys.stderr)
        ns = self._user_ns
        for key in [k for k in ns if k in ("_i", "_ii", "_iii") or re.fullmatch(r"_i\d+", k)]:
            ns[key] = clean(ns[key])

    def _connect_sim(self, alias: str, events: str, timeout: float, auth: str) -> None:
        from . import sim
        from .session import connect

        if alias in self.connections:
            self._drop(alias)
        options: dict[str, Any] = dict(self.sim_options)
        pbx = sim.start("127.0.0.1", 0, **options)
        try:
            user = "admin"
            session = connect(pbx.host, port=pbx.port, username=user, secret=pbx.users[user].secret,
                                     auth=auth, events=events, timeout=timeout, store_capacity=self.store_capacity)
        except BaseException as exc:
            pbx.stop()
            if isinstance(exc, (AMIError, OSError)):
                raise AmiUsageError(f"cannot connect to the embedded PBX: {_fail(exc)}") from None
            raise
        self._register(Connection(alias, session, sim=pbx), user, " (embedded simulated PBX)")

    def _register(self, conn: Connection, user: str, note: str) -> None:
        self.connections[conn.alias] = conn
        self.current = conn.alias
        s = conn.session
        print(f"Connected to {s.url}{note} as {user}, AMI {s.version or '?'}; alias {conn.alias!r}")

    # -- %%ami_action ---------------------------------------------------------------------------------------
    @magic_arguments()
    @argument("action", nargs="?", default=None,
              help="Action name for blocks of the cell without an 'Action:' line (e.g. QueueStatus).")
    @argument("-o", "--out", default=None, help="Also store the result in this notebook variable.")
    @argument("-a", "--alias", default=None, help="Connection to use (default: the last connected).")
    @argument("--timeout", type=float, default=None, help="Seconds per action (default AmiMagics.timeout).")
    @argument("--raw", action="store_true", help="Return the messages as received instead of shaped results.")
    @line_cell_magic
    def ami_action(self, line: str, cell: str | None = None) -> Any:
        """Send AMI actions written in wire format, one block of ``Key: Value`` lines per action.

        ``{name}`` is filled from the notebook's variables into each field after the cell is split into lines, so a
        value never becomes headers or actions: one holding CR, LF or NUL is refused (``${...}`` is left to
        Asterisk). Blocks separated by blank lines run in order. The value is a mapping for one response, a
        DataFrame for a list action (``CoreShowChannels``, ``QueueStatus``...), the output lines for ``Command``,
        the parsed config for ``GetConfig``; a list of those for several actions. A ``Response: Error`` prints the
        server's message in one line on stderr and gives ``None`` (``AmiMagics.raise_errors`` raises instead).
        """
        args = parse_argstring(self.ami_action, line)
        conn = self.connection(args.alias)
        actions = fill_actions(parse_actions(cell or "", args.action), self._user_ns if cell else {})
        if not actions:
            raise AmiUsageError("%%ami_action: nothing to send (give an action name or a cell body)")
        timeout = self.timeout if args.timeout is None else args.timeout
        results = []
        for name, fields in actions:
            try:
                result = conn.session.action(name, fields, timeout=timeout)
            except AMIError as exc:  # ActionError (Response: Error), timeouts, a lost connection, CR/LF refused
                self._report(exc)
                return None
            results.append(raw_messages(result) if args.raw else cell_value(result))
        value = results[0] if len(results) == 1 else results
        if args.out:
            self._user_ns[args.out] = value
        return value

    # -- %ami_events -------------------------------------------------------------------------------------------
    @magic_arguments()
    @argument("pattern", nargs="*", help="Event names or fnmatch wildcards (Hangup, Queue*); none: every event.")
    @argument("--last", type=int, default=None, help="Only the newest N events (default AmiMagics.autolimit).")
    @argument("--since", default=None, help="Only events received since: an ISO time (UTC if naive), epoch "
                                            "seconds, or a duration ago such as 5min, 30s, 2h.")
    @argument("-a", "--alias", default=None, help="Connection to use (default: the last connected).")
    @argument("-o", "--out", default=None, help="Also store the DataFrame in this notebook variable.")
    @line_magic
    def ami_events(self, line: str) -> Any:
        """The events received so far as a DataFrame (``session.events.frame(...)``)."""
        args = parse_argstring(self.ami_events, line)
        conn = self.connection(args.alias)
        last = args.last if args.last is not None else (self.autolimit or None)
        pattern = args.pattern or None
        since = _since(args.since) if args.since else None
        df = conn.session.events.frame(pattern, last=last, since=since)
        if args.out:
            self._user_ns[args.out] = df
        return df

    # -- %ami_live ---------------------------------------------------------------------------------------------
    @magic_arguments()
    @argument("-a", "--alias", default=None, help="Connection to watch (default: the last connected).")
    @argument("--rate", type=float, default=None, help="Redraws per second (default AmiMagics.live_rate).")
    @argument("--queues", action="store_true", help="The queue wallboard (ami_nb.widgets.wallboard) instead.")
    @argument("--threshold", action="append", default=[], metavar="FIGURE=WARN,BAD",
              help="With --queues: colour FIGURE amber from WARN and red from BAD (waiting, longest_wait in s, "
                   "service_level in %%, available; lower is worse when WARN > BAD). Repeat it per figure; "
                   "as wallboard(thresholds={FIGURE: (WARN, BAD)}).")
    @argument("--service-level", type=float, default=None, metavar="SECONDS",
              help="With --queues: answered within this many seconds counts as in service level (default: the "
                   "queue's own, else 20 s).")
    @argument("--queue", action="append", default=[], metavar="NAME",
              help="With --queues: only this queue (repeat it for several).")
    @line_magic
    def ami_live(self, line: str) -> Any:
        """A live view of the connection (``ami_nb.widgets.live(session)``, or with ``--queues`` the wallboard
        ``ami_nb.widgets.wallboard(session, thresholds=..., service_level=..., queues=...)``); ``.stop()`` it, or
        disconnect. ``%ami_live --queues --threshold longest_wait=20,60 --threshold service_level=90,75``."""
        args = parse_argstring(self.ami_live, line)
        board_only = [f"--{n}" for n, v in (("threshold", args.threshold), ("service-level", args.service_level),
                                            ("queue", args.queue)) if v not in ([], None)]
        if board_only and not args.queues:
            raise AmiUsageError(f"%ami_live: {', '.join(board_only)} set the wallboard: add --queues")
        thresholds = _thresholds(args.threshold)
        conn = self.connection(args.alias)
        from .widgets import live, wallboard

        kind = "wallboard" if args.queues else "live"
        for old in [v for v in conn.views if getattr(v, "kind", "live") == kind]:
            old.stop()  # one view of each kind per connection
        rate = args.rate or self.live_rate
        view: Any
        if args.queues:
            view = wallboard(conn.session, rate=rate, thresholds=thresholds, service_level=args.service_level,
                             queues=args.queue or None)
        else:
            view = live(conn.session, rate=rate)
        conn.views[:] = [v for v in conn.views if v.running and v is not view] + [view]
        return view

    # -- %ami_status and %ami_disconnect -------------------------------------------------------------------------
    @magic_arguments()
    @argument("--listeners", action="store_true",
              help="One row per listener (session.on) instead: events delivered, skipped, queued, errors.")
    @line_magic
    def ami_status(self, line: str = "") -> Any:
        """One row per connection: state, AMI version, events received, held and dropped, actions sent, and what
        its listeners were given and skipped. ``--listeners``: one row per listener (``session.listener_stats()``).

        A sync listener slower than the events keeps only the newest events of its queue and skips the oldest
        (the event store never does); a line on stderr names each listener that skipped.
        """
        import pandas as pd

        args = parse_argstring(self.ami_status, line)
        rows, listener_rows = [], []
        for alias, conn in self.connections.items():
            s = conn.session
            stats = s.stats
            listeners = s.listener_stats() if hasattr(s, "listener_stats") else []
            for ls in listeners:
                listener_rows.append({"alias": alias, **ls})
                if ls.get("skipped"):
                    print(f"listener {ls['callback']} ({ls['pattern']!r}) on {alias!r} skipped {ls['skipped']:,} "
                          f"events: it is slower than they arrive (its queue keeps the newest "
                          f"{ls.get('max_queue') or 0:,})", file=sys.stderr)
            rows.append({
                "alias": alias,
                "default": alias == self.current,
                "url": s.url,
                "state": s.state,
                "ami_version": s.version,
                "events_received": stats.get("events_received", s.events.total),
                "events_held": len(s.events),
                "events_dropped": s.events.dropped,
                "actions_sent": stats.get("actions_sent", 0),
                "reconnects": stats.get("reconnects", 0),
                "archives_failed": stats.get("archives_failed", 0),
                "listeners": len(listeners),
                "listener_delivered": sum(ls.get("delivered") or 0 for ls in listeners),
                "listener_skipped": sum(ls.get("skipped") or 0 for ls in listeners),
                "embedded_pbx": conn.sim is not None,
                "live_views": sum(v.running for v in conn.views),
            })
        if not rows:
            print("No AMI connection: run %ami_connect")
        if args.listeners:
            lcols = ["alias", "pattern", "callback", "kind", "delivered", "skipped", "queued", "errors", "max_queue"]
            return pd.DataFrame(listener_rows, columns=lcols).set_index(["alias", "pattern"])
        cols = ["alias", "default", "url", "state", "ami_version", "events_received", "events_held",
                "events_dropped", "actions_sent", "reconnects", "archives_failed", "listeners", "listener_delivered",
                "listener_skipped", "embedded_pbx", "live_views"]
        return pd.DataFrame(rows, columns=cols).set_index("alias")

    @magic_arguments()
    @argument("-a", "--alias", default=None, help="Connection to close (default: the last connected).")
    @argument("--all", action="store_true", help="Close every connection.")
    @line_magic
    def ami_disconnect(self, line: str) -> None:
        """Log off and close a connection (and its embedded PBX and live views)."""
        args = parse_argstring(self.ami_disconnect, line)
        names = list(self.connections) if args.all else [self.connection(args.alias).alias]
        for name in names:
            self._drop(name)
            print(f"Disconnected {name!r}")

    def close_all(self) -> None:
        for name in list(self.connections):
            self._drop(name)


def _thresholds(items: list[str]) -> dict[str, tuple[float, float]]:
    """``--threshold FIGURE=WARN,BAD`` (repeated) -> the wallboard's ``thresholds``; a bad one is a UsageError."""
    from .widgets import DEFAULT_THRESHOLDS

    out: dict[str, tuple[float, float]] = {}
    for item in items:
        name, eq, values = item.partition("=")
        name = name.strip().replace("-", "_")
        parts = values.replace(":", ",").split(",")
        try:
            if not eq or len(parts) != 2:
                raise ValueError
            warn, bad = float(parts[0]), float(parts[1])
        except ValueError:
            raise AmiUsageError(f"%ami_live: --threshold {item!r}: expected FIGURE=WARN,BAD, e.g. "
                                "longest_wait=20,60") from None
        if name not in DEFAULT_THRESHOLDS:
            raise AmiUsageError(f"%ami_live: --threshold {item!r}: unknown figure {name!r}; known: "
                                f"{', '.join(sorted(DEFAULT_THRESHOLDS))}")
        out[name] = (warn, bad)
    return out


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h|d)\Z")


def _since(text: str) -> Any:
    """``--since``: epoch seconds, an ISO time, or a duration ago (``30s``, ``5min``, ``2h``)."""
    import time

    t = text.strip()
    m = _DURATION.match(t)
    if m:
        unit = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
        return time.time() - float(m.group(1)) * unit
    try:
        return float(t)
    except ValueError:
        return t


_LOADED: dict[int, AmiMagics] = {}


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext ami_nb``: register the magics and make ``%config AmiMagics`` work."""
    if id(ipython) in _LOADED:
        return
    magics = AmiMagics(ipython)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)
    _LOADED[id(ipython)] = magics


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext ami_nb``: close every connection and remove the magics."""
    magics = _LOADED.pop(id(ipython), None)
    if magics is None:
        return
    magics.close_all()
    if magics in ipython.configurables:
        ipython.configurables.remove(magics)
    for kind in ("line", "cell"):
        table: dict[str, Callable[..., Any]] = ipython.magics_manager.magics[kind]
        for name in [n for n in table if n.startswith("ami_")]:
            del table[name]
