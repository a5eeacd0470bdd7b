"""EventStore: the contract, dtypes, sparse and repeated keys, capacity, snapshots under concurrent appends."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ami_nb.protocol import Message, Parser
from ami_nb.store import EventStore

TRANSCRIPTS = Path(__file__).parent / "fixtures" / "transcripts"
T0 = 1_700_000_000.0


def ev(name: str, **fields: str) -> Message:
    return Message.from_pairs([("Event", name), *fields.items()])


def transcript_events(name: str) -> list[Message]:
    msgs = Parser().feed((TRANSCRIPTS / name).read_bytes())
    return [m for m in msgs if m.is_event]


def all_transcript_events() -> list[Message]:
    out: list[Message] = []
    for path in sorted(TRANSCRIPTS.glob("[0-9]*.txt")):
        out += transcript_events(path.name)
    return out


def cell_text(value: object) -> list[str]:
    """A frame cell back as the list of wire values it came from."""
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, pd.Timestamp):  # Timestamp is kept as a datetime (recording 48 has it)
        us = value.value // 1000
        return [f"{us // 1_000_000}.{us % 1_000_000:06d}"]
    return [str(value)]


# -- contract ------------------------------------------------------------------------------------------------
def test_contract_basics() -> None:
    store = EventStore()
    assert len(store) == 0 and store.total == 0 and store.dropped == 0
    assert list(store.frame().columns) == ["received"]
    store.extend([ev("Newchannel", Channel="Local/1", Uniqueid="1.1"), ev("Hangup", Channel="Local/1", Cause="16")],
                 T0)
    store.extend([], T0 + 1)  # an empty read is a no-op
    store.extend([ev("Newstate", Channel="Local/1", ChannelStateDesc="Up")], T0 + 2)
    assert len(store) == 3 and store.total == 3
    df = store.frame()
    assert list(df.columns) == ["received", "Event", "Channel", "Uniqueid", "Cause", "ChannelStateDesc"]
    assert list(df["Event"]) == ["Newchannel", "Hangup", "Newstate"]
    assert list(df["received"]) == [pd.Timestamp(T0 + t, unit="s", tz="UTC") for t in (0, 0, 2)]
    hang = store["Hangup"]
    assert len(hang) == 1 and list(hang.columns) == ["received", "Event", "Channel", "Cause"]
    assert hang["Cause"].iloc[0] == 16
    store.clear()
    assert len(store) == 0 and store.total == 3 and store.dropped == 3
    assert store.frame().empty


def test_pattern_last_since_and_columns() -> None:
    store = EventStore(chunk_size=4)
    names = ["QueueCallerJoin", "Newchannel", "QueueCallerLeave", "Hangup", "AgentCalled", "Hangup", "Newstate"]
    for i, name in enumerate(names):
        store.extend([ev(name, Seq=str(i))], T0 + i)
    assert list(store.frame("Queue*")["Seq"]) == ["0", "2"]
    assert list(store.frame("hangup")["Seq"]) == ["3", "5"]  # event names match case-insensitively
    assert list(store.frame("*Call*")["Seq"]) == ["0", "2", "4"]
    assert store.frame("NoSuchEvent").empty
    assert list(store.frame(["Newchannel", "Agent*"])["Seq"]) == ["1", "4"]
    assert list(store.frame(last=2)["Seq"]) == ["5", "6"]
    assert list(store.frame("Hangup", last=1)["Seq"]) == ["5"]
    assert store.frame(last=0).empty
    assert list(store.frame(since=T0 + 5)["Seq"]) == ["5", "6"]
    assert list(store.frame(since=pd.Timestamp(T0 + 4, unit="s", tz="UTC"))["Seq"]) == ["4", "5", "6"]
    assert list(store.frame(since=dt.datetime.fromtimestamp(T0 + 6, dt.UTC))["Seq"]) == ["6"]
    iso = pd.Timestamp(T0 + 3, unit="s").isoformat()  # naive string: read as UTC
    assert list(store.frame("Hangup", since=iso)["Seq"]) == ["3", "5"]
    assert list(store.frame(columns=["Seq"]).columns) == ["received", "Seq"]


def test_delta_cursor() -> None:
    store = EventStore(chunk_size=3)
    store.extend([ev("A", N="1"), ev("B", N="2")], T0)
    df, cur = store.delta(0)
    assert list(df["N"]) == ["1", "2"] and cur == 2
    df, cur2 = store.delta(cur)
    assert df.empty and cur2 == 2
    store.extend([ev("C", N=str(i)) for i in range(3, 9)], T0)
    df, cur3 = store.delta(cur2)
    assert list(df["N"]) == [str(i) for i in range(3, 9)] and cur3 == 8


# -- dtypes --------------------------------------------------------------------------------------------------
def test_dtypes_identifiers_and_numbers() -> None:
    store = EventStore()
    store.extend(
        [
            ev("Newchannel", Privilege="call,all", Channel="Local/100@demo-00000001;1", ChannelState="0",
               ChannelStateDesc="Down", CallerIDNum="0123", Exten="100", Context="demo", Priority="1",
               Uniqueid="1700000000.510", Linkedid="1700000000.500"),
            ev("Hangup", Privilege="call,all", Channel="Local/100@demo-00000001;1", ChannelState="6",
               ChannelStateDesc="Up", CallerIDNum="0123", Exten="100", Context="demo", Priority="7", Cause="16",
               Uniqueid="1700000000.510", Linkedid="1700000000.500"),
        ],
        T0,
    )
    df = store.frame()
    assert str(df["received"].dtype) == "datetime64[ns, UTC]"
    for col in ("Event", "Privilege", "ChannelState", "ChannelStateDesc", "Context"):
        assert isinstance(df[col].dtype, pd.CategoricalDtype), col
    for col in ("Uniqueid", "Linkedid", "CallerIDNum", "Exten", "Channel"):
        assert pd.api.types.is_string_dtype(df[col].dtype) and not isinstance(df[col].dtype, pd.CategoricalDtype)
    assert list(df["Uniqueid"]) == ["1700000000.510"] * 2  # not a float, trailing zero kept
    assert list(df["CallerIDNum"]) == ["0123"] * 2  # leading zero kept
    assert str(df["Priority"].dtype) == "Int64" and list(df["Priority"]) == [1, 7]
    assert str(df["Cause"].dtype) == "Int64" and pd.isna(df["Cause"].iloc[0]) and df["Cause"].iloc[1] == 16


def test_numeric_column_with_a_non_number_stays_strings() -> None:
    store = EventStore()
    store.extend([ev("ListDialplan", Priority="1"), ev("ListDialplan", Priority="hint"),
                  ev("X", Cause="016")], T0)
    df = store.frame()
    assert list(df["Priority"].iloc[:2]) == ["1", "hint"]
    assert df["Cause"].iloc[2] == "016"  # "016" would not print back as 16


def test_timestamp_header_parsed() -> None:
    store = EventStore()
    store.extend([ev("Newchannel", Timestamp="1700000000.123456"), ev("Hangup"), ev("X", Timestamp="junk")], T0)
    ts = store.frame()["Timestamp"]
    assert str(ts.dtype) == "datetime64[ns, UTC]"
    assert ts.iloc[0] == pd.Timestamp("2023-11-14 22:13:20.123456", tz="UTC")
    assert pd.isna(ts.iloc[1]) and pd.isna(ts.iloc[2])


def test_sparse_columns_and_first_seen_order() -> None:
    store = EventStore(chunk_size=2)
    store.extend([ev("A", One="1"), ev("B", Two="2")], T0)
    store.extend([ev("A", One="3", Three="x")], T0)
    store.extend([ev("C", Zero="z")], T0)  # still in the open buffer
    df = store.frame()
    assert list(df.columns) == ["received", "Event", "One", "Two", "Three", "Zero"]
    assert df["Two"].isna().tolist() == [True, False, True, True]
    assert df["Three"].tolist()[2] == "x" and df["Three"].isna().sum() == 3
    assert list(store["A"].columns) == ["received", "Event", "One", "Three"]


def test_plain_dicts_are_accepted() -> None:
    store = EventStore()
    store.extend([{"Event": "UserEvent", "UserEvent": "Demo", "Step": "one"}], T0)
    assert store.frame()["Step"].tolist() == ["one"]


# -- repeated keys -------------------------------------------------------------------------------------------
def test_repeated_and_multi_valued_keys() -> None:
    store = EventStore(chunk_size=2)
    store.extend(
        [
            Message.from_pairs([("Event", "Newchannel"), ("ChanVariable", "DEMOVAR="),
                                ("ChanVariable", "CHANNEL(language)=en")]),
            Message.from_pairs([("Event", "Newchannel"), ("ChanVariable", "DEMOVAR=x")]),  # one value: a tuple too
            Message.from_pairs([("Event", "UserEvent"), ("Exten", "100"), ("Exten", "200")]),
            Message.from_pairs([("Event", "OriginateResponse"), ("Channel", "Local/100@demo-0000000b;1"),
                                ("ChanVariable(Local/100@demo-0000000b;1)", "DEMOVAR=originated"),
                                ("ChanVariable(Local/100@demo-0000000b;1)", "CHANNEL(language)=en")]),
            ev("Newexten", Exten="300"),
        ],
        T0,
    )
    df = store.frame()
    assert df["ChanVariable"].tolist()[:2] == [("DEMOVAR=", "CHANNEL(language)=en"), ("DEMOVAR=x",)]
    assert df["ChanVariable"].iloc[3] == ("DEMOVAR=originated", "CHANNEL(language)=en")
    assert not any(c.startswith("ChanVariable(") for c in df.columns)
    assert df["Exten"].iloc[2] == ("100", "200") and df["Exten"].iloc[4] == "300"


def test_every_transcript_event_round_trips() -> None:
    """Each value of each real event comes back, first values and repeated keys alike."""
    events = all_transcript_events()
    store = EventStore(chunk_size=97)
    for i in range(0, len(events), 13):
        store.extend(events[i:i + 13], T0 + i)
    df = store.frame()
    assert len(df) == len(events) > 400
    records = df.to_dict("records")
    for msg, row in zip(events, records, strict=True):
        for key in dict.fromkeys(k for k, _ in msg.pairs()):
            if key.startswith("ChanVariable("):
                continue
            assert cell_text(row[key]) == msg.getall(key) if isinstance(row[key], tuple) else \
                cell_text(row[key]) == [msg[key]], (key, row[key], msg.getall(key))
        present = {k for k, v in row.items() if not (pd.api.types.is_scalar(v) and pd.isna(v))}
        assert present - {"received", "ChanVariable"} <= set(msg)


# -- capacity ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("capacity", "chunk"), [(100, 16), (100, 1000), (7, 3), (1, 1)])
def test_capacity_keeps_newest(capacity: int, chunk: int) -> None:
    store = EventStore(capacity=capacity, chunk_size=chunk)
    n = 0
    for size in (1, 5, 40, 3, 90, 111, 2):
        store.extend([ev("E", Seq=str(n + i)) for i in range(size)], T0)
        n += size
        assert len(store) == min(n, capacity)
        assert store.total == n and store.dropped == n - len(store)
        seqs = store.frame()["Seq"].tolist()
        assert seqs == [str(i) for i in range(n - len(store), n)]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        EventStore(capacity=0)


# -- concurrency ---------------------------------------------------------------------------------------------
def test_snapshots_are_consistent_while_a_thread_appends() -> None:
    store = EventStore(capacity=20_000, chunk_size=512)
    done = threading.Event()
    looked = threading.Semaphore(0)
    n_total = 60_000

    def writer() -> None:
        seq = 0
        while seq < n_total:
            size = 1 + seq % 37
            store.extend([ev("Tick" if (seq + i) % 3 else "Tock", Seq=str(seq + i)) for i in range(size)], T0)
            if seq // 5000 != (seq + size) // 5000:
                looked.acquire(timeout=5)  # let the reader look at least once per 5000 events
            seq += size
        done.set()

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    snapshots = 0
    while not done.is_set() or snapshots < 3:
        df = store.frame(columns=["Seq"])
        seqs = df["Seq"].astype(int).to_numpy()
        if len(seqs):
            # a snapshot is a contiguous run of the newest events: no gap, no duplicate, nothing reordered
            assert (np.diff(seqs) == 1).all()
            assert len(seqs) <= 20_000
        tocks = store.frame("Tock", columns=["Seq"])["Seq"].astype(int).to_numpy()
        assert (tocks % 3 == 0).all()
        snapshots += 1
        looked.release()
    t.join(timeout=30)
    assert not t.is_alive()
    assert snapshots >= 12
    assert store.total == len(store) + store.dropped
    assert store.frame()["Seq"].astype(int).tolist() == list(range(store.total - 20_000, store.total))


# -- stats and memory ----------------------------------------------------------------------------------------
def test_counts_and_rate() -> None:
    store = EventStore(chunk_size=4)
    store.extend([ev("Hangup")] * 3 + [ev("Newchannel")] * 5, T0 + 10.2)
    store.extend([ev("Newchannel")] * 2, T0 + 11.7)
    counts = store.counts()
    assert counts.to_dict() == {"Newchannel": 7, "Hangup": 3}
    rate = store.rate(seconds=5, now=T0 + 12.5)
    assert rate.tolist() == [0, 0, 8, 2, 0]
    assert rate.index[-1] == pd.Timestamp(T0 + 12, unit="s", tz="UTC")
    assert store.events_per_second(window=2, now=T0 + 12.5) == 5.0


def test_memory_held_per_event_is_small() -> None:
    """Frozen chunks hold codes and dictionaries: far below a DataFrame of Python strings."""
    base = [m for m in all_transcript_events() if m.event in {"Newchannel", "Newstate", "Hangup", "DialBegin",
                                                              "Newexten", "VarSet", "BridgeEnter", "Cdr"}]
    assert len(base) > 100
    store = EventStore(chunk_size=8192)
    events = []
    for i in range(40_000):
        m = dict(base[i % len(base)])
        m["Uniqueid"] = f"1700000000.{i // 10}"  # a channel gives about ten events
        events.append(m)
    for i in range(0, len(events), 64):
        store.extend(events[i:i + 64], T0 + i / 1000)
    assert store.frozen == 40_000 - 40_000 % 8192
    before = store.frame()
    store.freeze()  # the open buffer too
    assert store.frozen == 40_000 and len(store) == 40_000
    per_event = store.nbytes / store.frozen
    assert 5 < per_event < 200, per_event
    pd.testing.assert_frame_equal(store.frame(), before)


def test_snapshot_taken_while_a_batch_is_being_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The batch being frozen (outside the lock) is still part of every snapshot."""
    import ami_nb.store as store_mod

    real = store_mod._freeze
    seen: list[list[str]] = []
    inside = threading.local()

    def spying_freeze(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not getattr(inside, "busy", False):
            inside.busy = True
            try:
                seen.append(store.frame()["Seq"].tolist())
            finally:
                inside.busy = False
        return real(*args, **kwargs)

    monkeypatch.setattr(store_mod, "_freeze", spying_freeze)
    store = EventStore(chunk_size=4)
    store.extend([ev("E", Seq=str(i)) for i in range(3)], T0)
    store.extend([ev("E", Seq=str(i)) for i in range(3, 6)], T0)  # freezes 0..5 while a snapshot is taken
    assert seen and seen[0] == [str(i) for i in range(6)]
    assert store.frame()["Seq"].tolist() == [str(i) for i in range(6)]


def test_odd_values_survive_freezing() -> None:
    """A NUL inside a value, lone surrogates (a parser run with surrogateescape), non-ASCII text."""
    store = EventStore(chunk_size=2)
    store.extend([{"Event": "X", "Name": "a\x00b", "Raw": "Zo\udceb", "Text": "Zoë ✓"}, {"Event": "Y"}], T0)
    for _ in range(2):  # from the open buffer, then frozen
        df = store.frame()
        assert (df["Name"].iloc[0], df["Raw"].iloc[0], df["Text"].iloc[0]) == ("a\x00b", "Zo\udceb", "Zoë ✓")
        assert pd.isna(df["Name"].iloc[1])
        store.freeze()


# -- the production-PBX defects (issue 9) and the frame cache ------------------------------------------------
SECRET = "amp111"  # the scripted server's admin user


def wait_total(store: EventStore, n: int, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while store.total < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"{store.total} of {n} events arrived within {timeout} s")
        time.sleep(0.02)


def originate_responses(start: int, n: int) -> bytes:
    """OriginateResponse events as Asterisk writes them with channelvars set: one header name per channel."""
    out = []
    for i in range(start, start + n):
        chan = f"Local/100@demo-{i:08x};1"
        out.append(
            f"Event: OriginateResponse\r\nPrivilege: call,all\r\nActionID: o-{i}\r\nResponse: Success\r\n"
            f"Channel: {chan}\r\nContext: demo\r\nExten: 100\r\nApplication: \r\nData: \r\nReason: 4\r\n"
            f"Uniqueid: 1796187429.{i}\r\nCallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\n"
            f"ChanVariable({chan}): DEMOVAR=originated\r\nChanVariable({chan}): CHANNEL(language)=en\r\n\r\n"
        )
    return "".join(out).encode()


def serve_once(chunks: Iterable[bytes]) -> tuple[int, threading.Thread]:
    """A loopback server for one client: the AMI banner, then ``chunks``, then close; (port, thread)."""
    import socket

    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def run() -> None:
        with srv:
            conn, _ = srv.accept()
            with conn:
                conn.sendall(b"Asterisk Call Manager/11.0.0\r\n")
                for data in chunks:
                    conn.sendall(data)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return port, t


def test_server_chosen_header_names_do_not_grow_memory() -> None:
    """Issue 9.3: ``ChanVariable(<channel>)`` names made key shapes unbounded (~1 KiB kept per event)."""
    import gc
    import socket
    import tracemalloc

    total, step = 200_000, 5_000
    port, server = serve_once(originate_responses(i, step) for i in range(0, total, step))
    store = EventStore(capacity=10_000, chunk_size=2_048)
    parser = Parser()
    marks: dict[int, int] = {}
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        while data := sock.recv(65536):  # the client's read size
            store.extend(parser.feed(data))
            if store.total >= 150_000 and not tracemalloc.is_tracing():
                tracemalloc.start()  # every bounded cache has filled by now; tracing slows the reads, so late
            if tracemalloc.is_tracing() and not marks and store.total >= 160_000:
                gc.collect()
                marks[store.total] = tracemalloc.get_traced_memory()[0]
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - next(iter(marks.values()))
        tracemalloc.stop()
    server.join(10)
    assert store.total == total and parser.buffered == 0
    # unbounded, the last 40,000 shapes kept ~40 MiB; bounded, only the caches' fixed ceilings remain
    assert grown < 12 * 2**20, f"{grown / 2**20:.1f} MiB more held over the last {total - 160_000:,} events"
    df = store.frame("OriginateResponse")
    last = total - 1
    assert len(df) == 10_000 and store.dropped == total - 10_000
    assert df["Channel"].iloc[-1] == f"Local/100@demo-{last:08x};1"
    assert df["ChanVariable"].iloc[-1] == ("DEMOVAR=originated", "CHANNEL(language)=en")
    assert df["ActionID"].iloc[0] == f"o-{last - 9_999}" and df["Reason"].iloc[-1] == 4


def test_values_starting_with_x01_or_holding_nul_come_back_as_sent(ami_server) -> None:
    """Issue 9.8: the store marked tuples with a leading \\x01 inside the text, so such a value became a tuple."""
    from ami_nb.session import connect

    odd = [("Event", "UserEvent"), ("UserEvent", "odd"), ("Data", "\x01a\x01b"), ("Note", "\x01"),
           ("ChanVariable", "\x01V=1"), ("Exten", "1"), ("Exten", "\x012"), ("Nul", "a\x00b")]
    with connect(ami_server.url, secret=SECRET, keepalive=None) as s:
        base = s.events.total
        ami_server.push_event(odd)
        ami_server.push_event([("Event", "UserEvent"), ("UserEvent", "plain"), ("Data", "x"), ("Exten", "3")])
        wait_total(s.events, base + 2)
        for freeze in (False, True):  # the open buffer and a frozen chunk
            if freeze:
                s.events.freeze()
            df = s.events.frame("UserEvent")
            row = df.iloc[-2]
            assert row["Data"] == "\x01a\x01b" and row["Note"] == "\x01" and row["Nul"] == "a\x00b"
            assert row["ChanVariable"] == ("\x01V=1",)
            assert row["Exten"] == ("1", "\x012") and df["Exten"].iloc[-1] == "3"


def test_frames_from_the_cache_equal_frames_converted_afresh() -> None:
    """Issue 13: frozen chunks are converted once; whatever is cached, a frame must equal an uncached one."""
    events = all_transcript_events()
    cached = EventStore(capacity=1_500, chunk_size=256)
    fresh = EventStore(capacity=1_500, chunk_size=256, frame_cache_bytes=0)
    kws = [{}, {"pattern": "Newexten", "last": 300}, {"columns": ["Channel", "AppData", "Uniqueid"], "since": T0 + 3}]
    for i in range(5):  # the store fills, evicts old chunks, and keeps receiving between frames
        for s in (cached, fresh):
            s.extend(events[i * 500 : (i + 1) * 500] or events[:500], T0 + i)
        for kw in kws:
            pd.testing.assert_frame_equal(cached.frame(**kw), fresh.frame(**kw))
        df, _ = cached.delta(cached.total - 700)
        pd.testing.assert_frame_equal(df, fresh.delta(fresh.total - 700)[0])
    assert cached.frame_cache_nbytes > 0 and fresh.frame_cache_nbytes == 0
    before = cached.frame_cache_nbytes
    cached.clear()
    assert cached.frame_cache_nbytes == 0 < before  # entries leave with their chunks


def test_frame_cache_is_bounded() -> None:
    events = all_transcript_events()
    store = EventStore(capacity=20_000, chunk_size=512, frame_cache_bytes=64 * 1024)
    for i in range(6):
        store.extend(events, T0 + i)
        store.frame()
        assert store.frame_cache_nbytes <= 64 * 1024
    assert store.frame_cache_nbytes > 0


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 16384])
def test_a_selections_dtypes_follow_its_own_rows_not_its_chunks(chunk_size: int) -> None:
    """``Reason`` is a number in OriginateResponse (4 = answered) and a word in AgentComplete (``caller``): a frame
    of OriginateResponses is ``Int64`` however the events were chunked and whatever else the chunks held, as
    :func:`ami_nb.values.coerce_frame` types the same rows; a frame of both is text. Categories list the values
    of the rows selected only."""
    from ami_nb.values import coerce_frame

    events = [
        Message({"Event": "AgentComplete", "Queue": "sales", "Reason": "caller"}),
        Message({"Event": "OriginateResponse", "Queue": "support", "Reason": "4"}),
        Message({"Event": "AgentComplete", "Queue": "sales", "Reason": "agent"}),
        Message({"Event": "OriginateResponse", "Queue": "support", "Reason": "5"}),
    ]
    store = EventStore(chunk_size=chunk_size)
    for ev in events:
        store.extend([ev], 1.0)
    orig = store.frame("OriginateResponse")
    assert str(orig["Reason"].dtype) == "Int64" and list(orig["Reason"]) == [4, 5]
    assert list(orig["Queue"].cat.categories) == ["support"]
    by_hand = coerce_frame(pd.DataFrame([ev.to_dict() for ev in events if ev.event == "OriginateResponse"]))
    assert by_hand["Reason"].dtype == orig["Reason"].dtype
    both = store.frame()
    assert list(both["Reason"]) == ["caller", "4", "agent", "5"] and both["Reason"].dtype.kind in "OT"


def test_since_copied_from_a_frames_row_includes_that_row() -> None:
    """A frame shows ``received`` in whole microseconds (AMI's resolution); a read's time from ``time.time()``
    has more digits and may round up. ``frame(since=<a row's received>)`` must still include that row."""
    store = EventStore()
    store.extend([Message({"Event": "Early"})], 1_796_187_355.1234561)  # shows as .123456: rounds down
    store.extend([Message({"Event": "Boundary"})], 1_796_187_355.2345677)  # shows as .234568: rounds up
    store.extend([Message({"Event": "Late"})], 1_796_187_356.0)
    shown = store.frame()["received"]
    assert list(store.frame(since=shown.iloc[1])["Event"]) == ["Boundary", "Late"]
    assert list(store.frame(since=shown.iloc[0])["Event"]) == ["Early", "Boundary", "Late"]
