"""The sans-IO protocol on bytes: every real transcript, fed whole, byte by byte and split at every offset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ami_nb import protocol
from ami_nb.errors import InvalidActionError, ProtocolError
from ami_nb.protocol import (
    LATIN1_FALLBACK,
    Message,
    Parser,
    command_output,
    convert,
    convert_value,
    encode_action,
    encode_message,
    parse_config,
    parse_config_json,
)

FIXTURES = Path(__file__).parent / "fixtures" / "transcripts"
TRANSCRIPTS = sorted(FIXTURES.glob("[0-9]*.txt"))
TERM = b"\r\n\r\n"

# Both implementations must give identical messages; the C one only where it was built.
SPEEDUPS = [False] + ([True] if protocol._speedups is not None else [])


@pytest.fixture(params=SPEEDUPS, ids=lambda s: "C" if s else "pure")
def speedups(request: pytest.FixtureRequest) -> bool:
    return request.param


def parse_all(data: bytes, speedups: bool, **kw) -> list[list[tuple[str, str]]]:
    p = Parser(speedups=speedups, **kw)
    return [m.pairs() for m in p.feed(data)]


def readme_counts() -> dict[str, tuple[int, int]]:
    """(events, responses) per file, from the table in the transcripts' README."""
    out = {}
    for line in (FIXTURES / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 5 and cells[1].endswith(".txt") and cells[3].isdigit():
            out[cells[1]] = (int(cells[3]), int(cells[4]))
    return out


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_transcript_counts_match_the_recording(path: Path, speedups: bool) -> None:
    p = Parser(speedups=speedups)
    msgs = p.feed(path.read_bytes())
    assert p.banner is not None and p.banner.version == "11.0.0"
    assert p.buffered == 0
    events = sum(m.is_event for m in msgs)
    responses = sum(1 for m in msgs if not m.is_event and "Response" in m)
    assert (events, responses) == readme_counts()[path.name]


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_byte_at_a_time_equals_whole(path: Path, speedups: bool) -> None:
    data = path.read_bytes()
    whole = parse_all(data, speedups)
    p = Parser(speedups=speedups)
    one = []
    for i in range(len(data)):
        one += [m.pairs() for m in p.feed(data[i : i + 1])]
    assert one == whole


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_split_at_every_offset(path: Path, speedups: bool) -> None:
    """A split's effect is confined to the message it falls in (the parser holds only that message's bytes),
    so splitting each window of two neighbouring messages at every offset covers every offset of the file."""
    data = path.read_bytes()
    banner_end = data.index(b"\n") + 1
    body = data[banner_end:]
    segments, pos = [data[:banner_end]], 0
    while pos < len(body):
        end = body.find(TERM, pos)
        end = len(body) if end < 0 else end + len(TERM)
        segments.append(body[pos:end])
        pos = end
    for k in range(len(segments) - 1):
        window = segments[k] + segments[k + 1]
        kw = {"expect_banner": k == 0}
        expected = parse_all(window, speedups, **kw)
        for i in range(1, len(segments[k]) + len(TERM)):
            p = Parser(speedups=speedups, **kw)
            got = [m.pairs() for m in p.feed(window[:i])] + [m.pairs() for m in p.feed(window[i:])]
            assert got == expected, (path.name, k, i)


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=lambda p: p.stem)
def test_recorded_recv_chunks(path: Path, speedups: bool) -> None:
    """The chunk boundaries the real socket produced, from the timeline files."""
    timeline = FIXTURES / "timeline" / f"{path.stem}.timeline.jsonl"
    chunks = [json.loads(line) for line in timeline.read_text().splitlines()]
    p = Parser(speedups=speedups)
    got = []
    for c in chunks:
        if c["dir"] == "in":
            got += [m.pairs() for m in p.feed(c["data"].encode("latin-1"))]
    assert got == parse_all(path.read_bytes(), speedups)


def test_c_and_pure_python_agree_on_every_transcript() -> None:
    if protocol._speedups is None:
        pytest.skip("C accelerator not built on this machine")
    for path in TRANSCRIPTS:
        data = path.read_bytes()
        a, b = Parser(speedups=True).feed(data), Parser(speedups=False).feed(data)
        assert [m.pairs() for m in a] == [m.pairs() for m in b]
        assert [dict(m) for m in a] == [dict(m) for m in b]


# -- the oddities of the README ------------------------------------------------------------------------------


def feed1(data: bytes, speedups: bool, **kw) -> list[Message]:
    return Parser(expect_banner=False, speedups=speedups, **kw).feed(data)


def test_raw_lf_and_crlf_inside_values(speedups: bool) -> None:
    data = (
        b"Event: Newexten\r\nAppData: DEMOVAR=line1\nline2\r\nUniqueid: 1.1\r\n\r\n"
        b"Event: Newexten\r\nAppData: CRLFVAR=a\r\nb\r\nUniqueid: 1.2\r\n\r\n"
        b"Event: Hangup\r\nUniqueid: 1.3\r\n\r\n"
    )
    msgs = feed1(data, speedups)
    assert [m["Uniqueid"] for m in msgs] == ["1.1", "1.2", "1.3"]
    assert msgs[0]["AppData"] == "DEMOVAR=line1\nline2"
    assert msgs[1]["AppData"] == "CRLFVAR=a\r\nb"


def test_value_holding_crlfcrlf_ends_the_message_whatever_the_chunking(speedups: bool) -> None:
    """Issue 9.7: the rest of the value was glued back only when both halves came in one read (5 cuts of 64)."""
    data = b"Event: Newexten\r\nAppData: x=a\r\n\r\nb\r\n\r\nEvent: Hangup\r\n\r\n"
    for cut in range(len(data) + 1):
        p = Parser(expect_banner=False, speedups=speedups)
        msgs = p.feed(data[:cut]) + p.feed(data[cut:])
        assert [m.pairs() for m in msgs] == [[("Event", "Newexten"), ("AppData", "x=a")], [("Event", "Hangup")]], cut
        assert p.stray_blocks == 1 and p.stray_lines == 0, cut


def test_message_ending_in_bare_lf(speedups: bool) -> None:
    data = (
        b"Response: Error\r\nActionID: m1\r\nMessage: Could not get channel snapshot\n\r\n\r\nResponse: Success\r\n\r\n"
    )
    msgs = feed1(data, speedups)
    assert len(msgs) == 2
    assert msgs[0]["Message"] == "Could not get channel snapshot\n"


def test_latin1_caller_name_decoded_faithfully(speedups: bool) -> None:
    data = "Event: Newchannel\r\nCallerIDName: Zoë Latin1\r\nExten: café ✓\r\n\r\n"
    raw = data.replace("Zoë", "Zo\udceb").encode("utf-8", "surrogateescape")
    assert b"Zo\xeb Latin1" in raw
    (msg,) = feed1(raw, speedups)
    assert msg["CallerIDName"] == "Zoë Latin1"
    assert msg["Exten"] == "café ✓"


def test_multibyte_character_split_across_reads(speedups: bool) -> None:
    raw = "Event: X\r\nName: ☃ snow\r\n\r\n".encode()
    cut = raw.index("☃".encode()) + 1
    p = Parser(expect_banner=False, speedups=speedups)
    assert p.feed(raw[:cut]) == []
    (msg,) = p.feed(raw[cut:])
    assert msg["Name"] == "☃ snow"


def test_error_policies(speedups: bool) -> None:
    raw = b"Event: X\r\nName: Zo\xeb\r\n\r\n"
    assert feed1(raw, speedups, errors="replace")[0]["Name"] == "Zo\ufffd"
    assert feed1(raw, speedups, errors=LATIN1_FALLBACK)[0]["Name"] == "Zoë"
    with pytest.raises(ProtocolError, match="undecodable"):
        feed1(raw, speedups, errors="strict")
    assert Parser(expect_banner=False, encoding="latin-1").feed(raw)[0]["Name"] == "Zoë"


def test_repeated_keys_keep_order_and_one_type(speedups: bool) -> None:
    data = (
        b"Event: UserEvent\r\nExten: 100\r\nUserEvent: DemoProgress\r\nExten: 100b\r\n"
        b"ChanVariable: DEMOVAR=x\r\nChanVariable: CHANNEL(language)=en\r\n\r\n"
    )
    (msg,) = feed1(data, speedups)
    assert msg["Exten"] == "100"  # the first, as Asterisk's astman_get_header
    assert msg.getall("exten") == ["100", "100b"]
    assert msg.getall("ChanVariable") == ["DEMOVAR=x", "CHANNEL(language)=en"]
    assert msg.getall("Nope") == []
    assert msg.getall("UserEvent") == ["DemoProgress"]
    assert [k for k, _ in msg.pairs()] == ["Event", "Exten", "UserEvent", "Exten", "ChanVariable", "ChanVariable"]
    assert msg.to_dict(multi=True)["ChanVariable"] == ["DEMOVAR=x", "CHANNEL(language)=en"]
    assert isinstance(msg.to_dict()["ChanVariable"], str)


def test_case_insensitive_mapping() -> None:
    (msg,) = feed1(b"Event: Hangup\r\nActionID: a1\r\nCallerIDNum: 0123\r\n\r\n", False)
    assert msg["event"] == msg["EVENT"] == "Hangup"
    assert msg.get("actionid") == "a1" and msg.action_id == "a1"
    assert "calleridnum" in msg and "Nope" not in msg
    assert msg.get("nope", "d") == "d"
    with pytest.raises(KeyError):
        msg["nope"]
    assert isinstance(msg, dict) and dict(msg) == {"Event": "Hangup", "ActionID": "a1", "CallerIDNum": "0123"}


def test_originate_response_is_an_event(speedups: bool) -> None:
    (msg,) = feed1(b"Event: OriginateResponse\r\nResponse: Success\r\nActionID: o1\r\n\r\n", speedups)
    assert msg.is_event and not msg.is_response and msg.response == "Success"
    (resp,) = feed1(b"Response: Success\r\nActionID: o1\r\n\r\n", speedups)
    assert resp.is_response and not resp.is_event and resp.event is None


def test_tolerant_key_forms(speedups: bool) -> None:
    (msg,) = feed1(b"Event: X\r\nEmpty:\r\nA:b\r\nSystemName: \r\n\r\n", speedups)
    assert msg.pairs() == [("Event", "X"), ("Empty", ""), ("A", "b"), ("SystemName", "")]


def test_colons_in_values_and_action_ids(speedups: bool) -> None:
    (msg,) = feed1(b"Response: Success\r\nActionID: id with spaces: and colon\r\nColon: a: b\r\n\r\n", speedups)
    assert msg["ActionID"] == "id with spaces: and colon" and msg["Colon"] == "a: b"


def test_legacy_follows_command_output() -> None:
    legacy = (
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: c1\r\n"
        b"Asterisk 1.8.0 built by x\nName: not a header\n\r\n\r\nafter a blank line\n--END COMMAND--\r\n\r\n"
        b"Event: Hangup\r\n\r\n"
    )
    for cut in range(1, len(legacy)):
        p = Parser(expect_banner=False)
        msgs = p.feed(legacy[:cut]) + p.feed(legacy[cut:])
        assert [m.event for m in msgs] == [None, "Hangup"], cut
        assert msgs[0]["ActionID"] == "c1" and msgs[0].response == "Follows"
        assert command_output(msgs[0]) == [
            "Asterisk 1.8.0 built by x",
            "Name: not a header",
            "",
            "",
            "after a blank line",
        ]


def test_modern_command_output_keeps_blank_lines_and_padding() -> None:
    msgs = Parser().feed((FIXTURES / "10_command_core_show_channels.txt").read_bytes())
    lines = command_output(msgs[1])
    assert lines[0].startswith("Channel") and lines[0].endswith(" ")
    assert any("active channels" in line for line in lines)
    msgs = Parser().feed((FIXTURES / "11_command_dialplan_show_demo.txt").read_bytes())
    lines = command_output(msgs[1])
    assert "" in lines  # "Output: " (an empty line of output) is kept, in place
    assert any("Zoë Ünïcødé ✓" in line for line in lines)


# -- limits and errors ---------------------------------------------------------------------------------------


def test_banner_required() -> None:
    with pytest.raises(ProtocolError, match="banner"):
        Parser().feed(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    p = Parser()
    assert p.feed(b"Asterisk Call Man") == []
    assert p.feed(b"ager/2.10.6\r\nResponse: Success\r\n\r\n")[0]["Response"] == "Success"
    assert p.banner.version == "2.10.6"


@pytest.mark.parametrize("chunk", [1, 4096])
def test_endless_line_is_a_protocol_error(chunk: int) -> None:
    p = Parser(expect_banner=False, max_message_bytes=64 * 1024)
    with pytest.raises(ProtocolError, match="no end of message within 65536 bytes"):
        for _ in range(100 * 1024 // chunk + 1):
            p.feed(b"x" * chunk)
    assert p.buffered == 0  # the buffer is released, never grows without bound


def test_endless_banner_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        Parser(max_message_bytes=1024).feed(b"A" * 2048)


def test_large_message_within_limit(speedups: bool) -> None:
    big = "x" * 500_000
    (msg,) = feed1(f"Event: Big\r\nJSON: {big}\r\n\r\n".encode(), speedups)
    assert msg["JSON"] == big


def test_lenient_server_side_reading() -> None:
    """What a client may send: bare LF, lowercase names, no space after the colon (transcript 21)."""
    sent = (FIXTURES / "sent" / "21_unknown_action.sent.txt").read_bytes()
    msgs = Parser(expect_banner=False, lenient=True).feed(sent)
    assert [m.get("action") for m in msgs] == ["Login", "NoSuchAction", "ping", None, "PING", "Ping", "Ping", "Logoff"]
    assert msgs[5]["ActionID"] == "bare-LF-line-endings"
    assert msgs[6]["ActionID"] == "no-space-after-colon"
    assert msgs[4]["actionid"] == "lowercase-headers"


# -- serialising ---------------------------------------------------------------------------------------------


def test_encode_action_round_trip() -> None:
    raw = encode_action(
        "Originate",
        {"Channel": "Local/100@demo", "Priority": 1, "Async": True, "Variable": ["A=1", "B=2"], "Skip": None},
        action_id="x-1",
    )
    assert raw.startswith(b"Action: Originate\r\nActionID: x-1\r\n") and raw.endswith(b"\r\n\r\n")
    (msg,) = Parser(expect_banner=False, lenient=True).feed(raw)
    assert msg.getall("Variable") == ["A=1", "B=2"]
    assert msg["Async"] == "true" and msg["Priority"] == "1" and "Skip" not in msg
    dict_vars = encode_action("Originate", {"Variable": {"A": 1, "B": "x y"}})
    assert b"Variable: A=1\r\nVariable: B=x y\r\n" in dict_vars


@pytest.mark.parametrize("value", ["a\r\nEvent: fake", "a\nb", "a\rb"])
def test_encode_refuses_line_breaks_and_names_the_field(value: str) -> None:
    with pytest.raises(InvalidActionError, match=r"'Channel'.*line break") as err:
        encode_action("Hangup", {"Channel": value})
    assert err.value.field == "Channel" and isinstance(err.value, ValueError)
    assert "fake" not in str(err.value)


def test_encode_never_echoes_a_secret() -> None:
    with pytest.raises(InvalidActionError) as err:
        encode_action("Login", {"Username": "admin", "Secret": "s3cr3t\r\nAction: Originate"})
    assert "s3cr3t" not in str(err.value) and "Secret" in str(err.value)


def test_encode_refuses_bad_keys() -> None:
    for key in ["", "Bad Key", "Bad:Key", "Bad\r\nKey"]:
        with pytest.raises(InvalidActionError):
            encode_action("Ping", {key: "x"})


def test_encode_line_and_header_limits() -> None:
    prefix = len(b"Data: ") + 2
    encode_action("UserEvent", {"Data": "x" * (1024 - prefix)})
    with pytest.raises(InvalidActionError, match=r"'Data'.*1025 bytes"):
        encode_action("UserEvent", {"Data": "x" * (1025 - prefix)})
    encode_action("Originate", {"Variable": [f"V{i}=1" for i in range(126)]}, action_id="a")
    with pytest.raises(InvalidActionError, match="129 headers"):
        encode_action("Originate", {"Variable": [f"V{i}=1" for i in range(127)]}, action_id="a")


def test_encode_message_for_servers_keeps_repeats() -> None:
    raw = encode_message([("Event", "X"), ("ChanVariable", "a=1"), ("ChanVariable", "b=2")])
    (msg,) = Parser(expect_banner=False).feed(raw)
    assert msg.getall("ChanVariable") == ["a=1", "b=2"]


# -- values --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("42", 42),
        ("0", 0),
        ("-7", -7),
        ("0123", "0123"),
        ("", ""),
        ("+44123", "+44123"),
        ("1700000000.510", "1700000000.510"),
        ("-0", "-0"),
        ("1.5", "1.5"),
        ("١٢", "١٢"),
        ("12 ", "12 "),
        ("9" * 5000, "9" * 5000),
    ],
)
def test_convert_value_is_lossless(raw: str, expected: object) -> None:
    got = convert_value(raw)
    assert got == expected and type(got) is type(expected)
    assert str(got) == raw


def test_convert_keeps_identifiers_as_strings() -> None:
    msg = Message({"Event": "Newchannel", "Uniqueid": "1700000000", "CallerIDNum": "100", "Exten": "200"})
    msg.update({"ChannelState": "4", "Priority": "1", "ActionID": "7"})
    out = convert(msg)
    assert out["ChannelState"] == 4 and out["Priority"] == 1
    assert out["Uniqueid"] == "1700000000" and out["CallerIDNum"] == "100" and out["Exten"] == "200"
    assert out["ActionID"] == "7"
    assert convert(msg, keep_strings=["priority"])["Priority"] == "1"


def test_repr_masks_secrets() -> None:
    msg = Message.from_pairs([("Action", "Login"), ("Username", "admin"), ("Secret", "amp111"), ("Key", "abc")])
    assert "amp111" not in repr(msg) and "abc" not in repr(msg) and "admin" in repr(msg)


# -- shaped answers ------------------------------------------------------------------------------------------


def test_getconfig_combined() -> None:
    msgs = Parser().feed((FIXTURES / "13_getconfig_extensions.txt").read_bytes())
    whole, one_cat, missing = msgs[1], msgs[2], msgs[3]
    cfg = parse_config(whole)
    assert list(cfg) == ["general", "globals", "demo", "agents"]
    assert cfg["globals"] == [("DEMOGLOBAL", "hello")]
    demo = cfg["demo"]
    assert demo[0][0] == "exten" and demo[0][1].startswith("100,1,NoOp(")
    assert [k for k, _ in demo].count("same") > 10
    assert ("exten", "200,hint,Local/200@demo") in demo
    assert cfg.category("demo")[0].getall("exten")[0].startswith("100,1")
    assert list(parse_config(one_cat)) == ["agents"]
    assert missing["Message"] == "Config file not found"


def test_getconfigjson_keeps_repeated_keys() -> None:
    msgs = Parser().feed((FIXTURES / "14_getconfigjson_extensions.txt").read_bytes())
    cfg = parse_config_json(msgs[1])
    same = [v for k, v in cfg["demo"] if k == "same"]
    assert len(same) > 10  # json.loads would have kept one
    assert cfg["globals"] == [("DEMOGLOBAL", "hello")]
    json_cfg = parse_config(Parser().feed((FIXTURES / "13_getconfig_extensions.txt").read_bytes())[1])
    assert cfg["demo"] == json_cfg["demo"]


# -- found in review: each of these once went wrong ----------------------------------------------------------


def test_identical_repeated_values_are_all_kept(speedups: bool) -> None:
    (msg,) = feed1(b"Response: Success\r\nOutput: ok\r\nOutput: ok\r\nVariable: \r\nVariable: \r\n\r\n", speedups)
    assert msg.getall("Output") == ["ok", "ok"] and msg.getall("Variable") == ["", ""]
    assert [k for k, _ in msg.pairs()] == ["Response", "Output", "Output", "Variable", "Variable"]


def test_junk_before_a_message_is_counted_and_the_message_kept(speedups: bool) -> None:
    p = Parser(expect_banner=False, speedups=speedups)
    msgs = p.feed(b"Event: A\r\nX: 1\r\n\r\ngarbage line\r\nEvent: Hangup\r\nUniqueid: 9\r\n\r\n")
    assert [m.event for m in msgs] == ["A", "Hangup"]
    assert msgs[0]["X"] == "1" and msgs[1]["Uniqueid"] == "9"
    assert p.stray_lines == 1 and p.stray_blocks == 0


def test_one_key_rule_whatever_else_the_block_holds(speedups: bool) -> None:
    (msg,) = feed1(b"Event: E\r\nSome Key: v\r\nA:1\r\n\r\n", speedups)
    assert msg.pairs() == [("Event", "E"), ("Some Key", "v"), ("A", "1")]


def test_blank_lines_between_messages_never_reach_a_value(speedups: bool) -> None:
    data = b"Event: E\r\nA: 1\r\n\r\n\r\nEvent: F\r\n\r\n"
    for cut in range(len(data) + 1):
        p = Parser(expect_banner=False, speedups=speedups)
        msgs = p.feed(data[:cut]) + p.feed(data[cut:])
        assert [m.pairs() for m in msgs] == [[("Event", "E"), ("A", "1")], [("Event", "F")]], cut


def test_follows_text_inside_a_value_does_not_change_framing(speedups: bool) -> None:
    data = (
        b"Event: UserEvent\r\nBody: Response: Follows\r\n\r\n"
        b"Event: Newexten\r\nAppData: x=a\r\n\r\nb\r\n\r\nEvent: Hangup\r\n\r\n"
    )
    msgs = feed1(data, speedups)
    assert [m.event for m in msgs] == ["UserEvent", "Newexten", "Hangup"]
    assert msgs[1]["AppData"] == "x=a"  # ended at the blank line, as without the Follows text


def test_unfinished_legacy_follows_is_bounded() -> None:
    p = Parser(expect_banner=False, max_message_bytes=10_000)
    p.feed(b"Response: Follows\r\nPrivilege: Command\r\n")
    with pytest.raises(ProtocolError, match="no end of message"):
        for _ in range(100):
            p.feed(b"line of output\n" * 20 + b"\r\n\r\n")


def test_non_ascii_keys_follow_each_parsers_policy(speedups: bool) -> None:
    raw = b"Event: X\r\nK\xe9y: v\r\n\r\n"
    assert list(feed1(raw, speedups, errors="replace")[0]) == ["Event", "K\ufffdy"]
    assert list(feed1(raw, speedups)[0]) == ["Event", "Kéy"]  # not the text a previous policy produced
    with pytest.raises(ProtocolError):
        feed1(raw, speedups, errors="strict")


def test_c_and_pure_python_agree_on_generated_streams() -> None:
    """A differential check on many streams built from AMI's own grammar and its oddities."""
    if protocol._speedups is None:
        pytest.skip("C accelerator not built on this machine")
    import random

    rng = random.Random(7)
    keys = ["Event", "Channel", "Output", "ChanVariable", "AppData", "Uniqueid", "Some Key", "Kéy", "X"]
    values = ["", "ok", "Up", "a: b", "Zo\xeb", "café ✓", "line1\nline2", "a\r\nb", "x" * 40, "Response: Follows"]
    for _ in range(2000):
        blocks = []
        for _ in range(rng.randint(1, 4)):
            lines = [f"{rng.choice(keys)}: {rng.choice(values)}" for _ in range(rng.randint(1, 6))]
            if rng.random() < 0.2:
                lines.insert(rng.randrange(len(lines) + 1), rng.choice(["junk", "Key:v", "Empty:", ""]))
            blocks.append("\r\n".join(lines))
        data = ("\r\n\r\n".join(blocks) + "\r\n\r\n").encode("utf-8", "surrogateescape")
        data = data.replace("Zo\xeb".encode(), b"Zo\xeb")  # a Latin-1 byte on the wire
        cut = rng.randrange(len(data) + 1)
        got = []
        for fast in (True, False):
            p = Parser(expect_banner=False, speedups=fast)
            got.append(([m.pairs() for m in p.feed(data[:cut]) + p.feed(data[cut:])], p.stray_blocks, p.stray_lines))
        assert got[0] == got[1], data


def test_encode_expands_any_iterable_and_refuses_nul_and_bad_bytes() -> None:
    raw = encode_action("Originate", {"Variable": (f"V{i}=1" for i in range(2)), "Codecs": b"ulaw"})
    assert b"Variable: V0=1\r\nVariable: V1=1\r\n" in raw and b"Codecs: ulaw\r\n" in raw
    assert encode_action("X", {"Set": {"only"}}).count(b"Set: only\r\n") == 1
    with pytest.raises(InvalidActionError, match=r"'Channel'.*NUL"):
        encode_action("Hangup", {"Channel": "PJSIP/a\x00b"})
    with pytest.raises(InvalidActionError, match=r"'Data'.*not UTF-8"):
        encode_action("X", {"Data": b"\xff"})


def test_c_parser_does_not_pin_long_or_endless_header_names() -> None:
    """Issue 9.6: every distinct header name (any length, up to 4,096) stayed interned for the process lifetime."""
    if protocol._speedups is None:
        pytest.skip("C accelerator not built on this machine")
    import gc
    import tracemalloc

    def feed_names(tag: str, count: int, length: int) -> None:
        p = Parser(expect_banner=False, speedups=True)
        for i in range(count):
            name = f"{tag}{i:06d}".ljust(length, "x")
            (msg,) = p.feed(f"Event: Odd\r\n{name}: v\r\n\r\n".encode())
            assert msg[name] == "v"

    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        feed_names("Long", 40, 256 * 1024)  # 10 MiB of distinct long names
        feed_names("Many", 20_000, 100)  # 2 MiB of distinct short ones
        gc.collect()
        pinned = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert pinned < 1.5 * 2**20, f"{pinned / 2**20:.1f} MiB left allocated after the parsers were gone"
    assert max(map(len, protocol._KEYS)) <= 128
    (msg,) = Parser(expect_banner=False).feed(b"Event: Hangup\r\nChannel: x\r\n\r\n")
    assert msg.pairs() == [("Event", "Hangup"), ("Channel", "x")]  # the usual names still parse (and intern)


def test_the_c_accelerator_stub_matches_the_module() -> None:
    """``_speedups.pyi`` (its types, beside the pure twin) names exactly what the built module exports."""
    if protocol._speedups is None:
        pytest.skip("C accelerator not built on this machine")
    import ast

    stub = ast.parse((Path(protocol.__file__).parent / "_speedups.pyi").read_text())
    declared = {node.name for node in stub.body if isinstance(node, ast.FunctionDef)}
    assert declared == {n for n in dir(protocol._speedups) if not n.startswith("_")} == {"parse_region"}
