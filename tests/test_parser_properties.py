"""Property-based parser suite (hypothesis): on generated AMI streams with the oddities of real recordings,

* the C accelerator and the pure-Python reference give the same messages and the same counters, and
* the result does not depend on where the reads end (the framing rule of :class:`ami_nb.protocol.Parser`).

Derandomised and bounded, so it runs the same examples every time, in a few seconds.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ami_nb import protocol
from ami_nb.protocol import Parser

SETTINGS = settings(derandomize=True, max_examples=100, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SPEEDUPS = [False] + ([True] if protocol._speedups is not None else [])

KEYS = st.one_of(
    st.sampled_from([b"Event", b"Response", b"ActionID", b"Channel", b"Uniqueid", b"Output", b"ChanVariable",
                     b"AppData", b"Message", b"Privilege", b"EventList", b"ListItems", b"Some Key", b"K\xe9y",
                     b"ChanVariable(Local/100@demo-0000000b;1)", b"X"]),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12).map(
        str.encode),
)
VALUES = st.one_of(
    st.sampled_from([b"", b"ok", b"Up", b"a: b", b"Zo\xeb", "caf\xe9 \u2713".encode(), b"line1\nline2", b"a\r\nb",
                     b"a\r\n\r\nb", b"snapshot\n", b"Response: Follows", b"--END COMMAND--", b"x" * 40, b"\x01v",
                     b"a\x00b", b"\xff\xfe", b"call,all", b"DEMOVAR=line1\\nline2", b":", b" "]),
    st.binary(max_size=12).filter(lambda b: b"\r" not in b and b"\n" not in b),
)
JUNK = st.sampled_from([b"junk", b"Key:v", b"Empty:", b"", b"no colon here", b"\n"])


@st.composite
def message(draw: st.DrawFn) -> bytes:
    lines = [k + b": " + v for k, v in draw(st.lists(st.tuples(KEYS, VALUES), min_size=1, max_size=7))]
    if draw(st.booleans()) and draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(JUNK))
    if draw(st.booleans()):  # a key that repeats (Output, ChanVariable...)
        lines.append(lines[0].split(b": ", 1)[0] + b": " + draw(VALUES))
    return b"\r\n".join(lines) + b"\r\n\r\n"


@st.composite
def follows(draw: st.DrawFn) -> bytes:
    """A pre-14 ``Response: Follows`` block: raw text lines (blank ones too) up to ``--END COMMAND--``."""
    text = draw(st.lists(st.sampled_from([b"Asterisk 1.8", b"", b"Name: not a header", b"a\r", b"x" * 30]),
                         max_size=5))
    head = b"Response: Follows\r\nPrivilege: Command\r\n"
    if draw(st.booleans()):
        head += b"ActionID: f-1\r\n"
    return head + b"\n".join(text) + b"\n--END COMMAND--\r\n\r\n"


@st.composite
def stream(draw: st.DrawFn, legacy: bool = False) -> bytes:
    parts = [b"Asterisk Call Manager/11.0.0\r\n"]
    item = st.one_of(message(), follows()) if legacy else message()
    for part in draw(st.lists(item, min_size=1, max_size=6)):
        parts.append(part)
        if draw(st.integers(0, 5)) == 0:
            parts.append(b"\r\n")  # a stray blank line between messages
    return b"".join(parts)


def cuts(data: bytes) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(data)), max_size=8).map(sorted)


def run(data: bytes, points: list[int], speedups: bool, **kw: object) -> tuple[object, ...]:
    """Everything a user sees: the banner, every message's pairs, the counters (not how many bytes of a stray
    blank line after the last message wait in the buffer: 2 or 0, depending on the reads, and harmless)."""
    p = Parser(speedups=speedups, **kw)  # type: ignore[arg-type]
    msgs = []
    last = 0
    for cut in [*points, len(data)]:
        msgs += p.feed(data[last:cut])
        last = cut
    banner = p.banner.text if p.banner else None
    return banner, [m.pairs() for m in msgs], p.stray_blocks, p.stray_lines


@pytest.mark.skipif(len(SPEEDUPS) < 2, reason="C accelerator not built on this machine")
@SETTINGS
@given(st.data())
def test_c_and_pure_python_parsers_agree(data: st.DataObject) -> None:
    raw = data.draw(stream(legacy=data.draw(st.booleans())))
    points = data.draw(cuts(raw))
    assert run(raw, points, True) == run(raw, points, False)


@pytest.mark.parametrize("speedups", SPEEDUPS, ids=lambda s: "C" if s else "pure")
@SETTINGS
@given(data=st.data())
def test_the_same_bytes_give_the_same_messages_whatever_the_reads(speedups: bool, data: st.DataObject) -> None:
    raw = data.draw(stream(legacy=data.draw(st.booleans())))
    assert run(raw, data.draw(cuts(raw)), speedups) == run(raw, [], speedups)


@pytest.mark.parametrize("speedups", SPEEDUPS, ids=lambda s: "C" if s else "pure")
@settings(SETTINGS, max_examples=40)
@given(data=st.data())
def test_byte_at_a_time_equals_whole(speedups: bool, data: st.DataObject) -> None:
    raw = data.draw(stream())
    assert run(raw, list(range(len(raw))), speedups) == run(raw, [], speedups)


@st.composite
def client_stream(draw: st.DrawFn) -> bytes:
    """What a client sends a server: CRLF or bare-LF actions (Asterisk accepts both, recordings' oddity 5)."""
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        lines = [k + b": " + v for k, v in draw(st.lists(st.tuples(KEYS, VALUES.filter(lambda v: b"\n" not in v)),
                                                          min_size=1, max_size=5))]
        eol = draw(st.sampled_from([b"\r\n", b"\n"]))
        parts.append(eol.join(lines) + eol + eol)
    return b"".join(parts)


@pytest.mark.parametrize("speedups", SPEEDUPS, ids=lambda s: "C" if s else "pure")
@SETTINGS
@given(data=st.data())
def test_lenient_server_side_framing_ignores_the_reads(speedups: bool, data: st.DataObject) -> None:
    raw = data.draw(client_stream())
    kw = {"expect_banner": False, "lenient": True}
    assert run(raw, data.draw(cuts(raw)), speedups, **kw) == run(raw, [], speedups, **kw)
