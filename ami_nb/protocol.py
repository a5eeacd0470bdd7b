"""Sans-IO AMI protocol: bytes -> :class:`Message`, action -> bytes.

No sockets, no threads, no clocks. The client, the store and the simulated PBX all stand on this module.

Framing follows what a real Asterisk 22 sends (see ``tests/fixtures/transcripts``): a banner line with no blank
line after it, then ``Key: Value\\r\\n`` blocks ended by an empty line. Bytes are decoded only after a whole
region of complete messages is framed, so a multibyte character split across two reads is never damaged.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast, overload

from .errors import InvalidActionError, ProtocolError
from .values import IDENTIFIER_SUFFIXES, SECRET_KEYS, convert, convert_value, is_identifier

# IDENTIFIER_SUFFIXES, convert, convert_value and is_identifier live in ami_nb.values (the one type policy);
# they stay importable from here, where they used to live.

__all__ = [
    "IDENTIFIER_SUFFIXES",
    "LATIN1_FALLBACK",
    "MAX_HEADERS",
    "MAX_LINE_BYTES",
    "Banner",
    "Config",
    "ConfigCategory",
    "Message",
    "Parser",
    "command_output",
    "convert",
    "convert_value",
    "encode_action",
    "encode_message",
    "is_identifier",
    "parse_config",
    "parse_config_json",
]

#: Asterisk reads client lines into a 1025-byte buffer and discards longer ones (``manager.c``).
MAX_LINE_BYTES = 1024
#: Asterisk keeps at most 128 headers of a client message and silently drops the rest.
MAX_HEADERS = 128
#: Default bound on bytes held while waiting for a message's end.
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024

#: Decoding error policy: bytes that are not valid UTF-8 are read as Latin-1 (a ``Zo\\xeb`` caller name
#: becomes ``Zoë``), so nothing is dropped and nothing is replaced.
LATIN1_FALLBACK = "ami-latin1-fallback"


def _latin1_fallback(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeDecodeError):
        raise err
    return err.object[err.start : err.end].decode("latin-1"), err.end


codecs.register_error(LATIN1_FALLBACK, _latin1_fallback)

try:  # optional C accelerator (setup.py); AMI_NB_PURE_PYTHON=1 forces the reference implementation
    if os.environ.get("AMI_NB_PURE_PYTHON"):
        raise ImportError
    from . import _speedups
except ImportError:
    _speedups = None  # type: ignore[assignment]  # checked through Parser._fast

#: header names seen, interned so a million events share one str per key
_KEYS: dict[str, str] = {}

_MISSING: Any = object()
_T = TypeVar("_T")


@dataclass(frozen=True)
class Banner:
    """The greeting line, e.g. ``Asterisk Call Manager/11.0.0`` (AMI protocol version, not Asterisk's)."""

    text: str

    @property
    def version(self) -> str:
        return self.text.rpartition("/")[2]


class Message(dict[str, str]):
    """One AMI message: an event or a response.

    A ``dict`` built by C code on the hot path, with case-insensitive lookups on top: ``msg["event"]``,
    ``msg.get("actionid")`` and ``"EVENT" in msg`` all work. ``msg[key]`` is always a ``str`` (the first value
    when a key repeats, as Asterisk's own ``astman_get_header`` does); ``msg.getall(key)`` is always a
    ``list[str]`` with every value in order (``Output``, ``Variable``, ``ChanVariable``...); ``msg.pairs()``
    gives every ``(key, value)`` as received. Treat it as read-only: every listener and the store share it.
    """

    #: every (key, value) pair in order; set only on messages whose keys repeat
    _pairs: list[Any] | None = None

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Message:
        """Build a message from ordered ``(key, value)`` pairs; keys may repeat."""
        plist = [(str(k), str(v)) for k, v in pairs]
        msg = cls(plist)
        if len(msg) != len(plist):
            msg.update(reversed(plist))
            msg._pairs = plist
        return msg

    # -- case-insensitive lookups ---------------------------------------------------------------------------
    def _lookup(self, key: str) -> Any:
        kl = key.lower()
        for k, v in self.items():
            if k.lower() == kl:
                return v
        return _MISSING

    def __missing__(self, key: str) -> str:
        v = self._lookup(key) if isinstance(key, str) else _MISSING
        if v is _MISSING:
            raise KeyError(key)
        return cast(str, v)

    @overload
    def get(self, key: str, default: None = None, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str, /) -> str: ...
    @overload
    def get(self, key: str, default: _T, /) -> str | _T: ...

    def get(self, key: str, default: Any = None, /) -> Any:
        v = dict.get(self, key, _MISSING)
        if v is _MISSING:
            v = self._lookup(key)
            if v is _MISSING:
                return default
        return v

    def __contains__(self, key: object) -> bool:
        return dict.__contains__(self, key) or (isinstance(key, str) and self._lookup(key) is not _MISSING)

    def getall(self, key: str) -> list[str]:
        """Every value of ``key`` (case-insensitive), in order; ``[]`` when absent."""
        if self._pairs is None:
            v = self.get(key, _MISSING)
            return [] if v is _MISSING else [v]
        kl = key.lower()
        return [v for k, v in self._pairs if k.lower() == kl]

    def pairs(self) -> list[tuple[str, str]]:
        """All ``(key, value)`` pairs in the order received, repeated keys included."""
        if self._pairs is None:
            return list(self.items())
        return list(map(tuple, self._pairs))  # the pure-Python path keeps [key, value] lists

    def to_dict(self, *, multi: bool = False) -> dict[str, Any]:
        """A plain dict; with ``multi=True`` a repeated key maps to a list of all its values."""
        if not multi or self._pairs is None:
            return dict(self)
        out: dict[str, Any] = {}
        for k, v in self._pairs:
            if k in out:
                prev = out[k]
                if isinstance(prev, list):
                    prev.append(v)
                else:
                    out[k] = [prev, v]
            else:
                out[k] = v
        return out

    # -- what kind of message --------------------------------------------------------------------------------
    @property
    def event(self) -> str | None:
        """The event name, or ``None`` for a response."""
        return self.get("Event")

    @property
    def is_event(self) -> bool:
        """True for events; an ``OriginateResponse`` is an event although it carries ``Response:``."""
        return self.get("Event") is not None

    @property
    def is_response(self) -> bool:
        return self.get("Event") is None and self.get("Response") is not None

    @property
    def response(self) -> str | None:
        """``Success``, ``Error``, ``Goodbye``, ``Follows``… for responses (and ``OriginateResponse``)."""
        return self.get("Response")

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    def converted(self, keep_strings: Iterable[str] | None = None) -> dict[str, int | str]:
        """First values with lossless int conversion (see :func:`convert`)."""
        return convert(self, keep_strings)

    def __repr__(self) -> str:
        shown = {k: ("***" if k.lower() in SECRET_KEYS else v) for k, v in self.pairs()}
        return f"Message({shown!r})"

    def __reduce__(self) -> Any:
        return (Message.from_pairs, (self.pairs(),))


# -- parsing -------------------------------------------------------------------------------------------------
_HEADER_KEY = re.compile(r"[^\s:]+\Z")


def _header(line: str) -> tuple[str, str] | None:
    """``(key, value)`` of a header line, else ``None``. ``Key: value`` is the rule of the hot path (anything
    before the first ``": "``); ``Key:value`` and ``Key:`` are accepted for a key without spaces."""
    k, sep, v = line.partition(": ")
    if sep:
        return k, v
    k, sep, v = line.partition(":")
    if sep and _HEADER_KEY.match(k):
        return k, v
    return None


def _parse_slow(lines: list[str]) -> tuple[Message | None, int]:
    """One block, tolerantly: ``(message, junk lines skipped)``; ``(None, 0)`` when no line is a header.

    Blank lines carry nothing; a line that is no header continues the previous value (a raw CRLF inside
    Newexten's AppData); lines before the first header belong to no message and are counted as junk.
    """
    pairs: list[tuple[str, str]] = []
    junk = 0
    for line in lines:
        if not line:
            continue
        kv = _header(line)
        if kv is not None:
            pairs.append(kv)
        elif pairs:
            pk, pv = pairs[-1]
            pairs[-1] = (pk, pv + "\r\n" + line)
        else:
            junk += 1
    if not pairs:
        return None, 0
    return Message.from_pairs(pairs), junk


def _parse_fast(lines: list[str]) -> Message | None:
    """The hot path: C-level splits and dict building; ``None`` sends the block to :func:`_parse_slow`."""
    pairs = [line.split(": ", 1) for line in lines]
    try:
        msg = Message(pairs)  # ValueError when a line has no ": " (continuation line, "Key:value")
    except ValueError:
        return None
    if len(msg) != len(pairs):
        # Repeated keys (ChanVariable, Output...): dict(pairs) kept first-seen order but last values;
        # updating from the reversed pairs makes the first value win without moving any key.
        msg.update(reversed(cast("list[tuple[str, str]]", pairs)))  # [key, value] lists: pairs all the same
        msg._pairs = pairs
    return msg


def _legacy_follows(text: str) -> Message:
    """``Response: Follows`` … raw text … ``--END COMMAND--`` (Asterisk before 14) as ``Output`` pairs."""
    lines = text.replace("\r\n", "\n").split("\n")
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        k, sep, v = lines[i].partition(": ")
        if not sep or k.lower() not in ("response", "privilege", "actionid", "message"):
            break
        pairs.append((k, v))
        i += 1
    out = lines[i:]
    while out and out[-1] == "":
        out.pop()
    if out and out[-1].endswith("--END COMMAND--"):
        last = out.pop()[: -len("--END COMMAND--")]
        if last:
            out.append(last)
    pairs.extend(("Output", line) for line in out)
    return Message.from_pairs(pairs)


class Parser:
    """Incremental AMI parser: ``feed(bytes) -> list[Message]``.

    Framing rule: a message ends at the first empty line (CRLFCRLF; LFLF too in ``lenient`` mode), whatever the
    read boundaries, so the same bytes give the same messages however TCP cuts them. That is how Asterisk ends a
    message itself (``manager.c`` reads a client's lines until an empty one) and how its own writer means them:
    it never escapes a value, so a value holding a blank line (``AppData`` of ``Set(X=a\r\n\r\nb)``) ends the
    message early, and the headerless rest is counted in :attr:`stray_blocks`. Lines without ``": "`` inside a
    message continue the previous value (a raw CRLF in a value, recordings' oddity 3); a value may end in a bare
    LF (oddity 4). Pre-14 ``Response: Follows`` blocks run to ``--END COMMAND--`` (their text holds blank lines).

    ``expect_banner`` (client side) consumes the greeting line first and keeps it in :attr:`banner`.
    ``lenient`` (server side) also frames bare-LF messages (``Action: Ping\\n\\n``), as Asterisk accepts them.
    ``errors`` is the decoding policy after framing: :data:`LATIN1_FALLBACK` (default, never loses a byte),
    or any codec policy (``"strict"`` raises :class:`ProtocolError`, ``"replace"``, ``"surrogateescape"``…).
    More than ``max_message_bytes`` without a message end raises :class:`ProtocolError`.
    ``speedups=False`` uses the pure-Python reference parser even when the C accelerator is built.
    """

    def __init__(
        self,
        *,
        expect_banner: bool = True,
        lenient: bool = False,
        encoding: str = "utf-8",
        errors: str = LATIN1_FALLBACK,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        speedups: bool = True,
    ) -> None:
        codecs.lookup(encoding)
        codecs.lookup_error(errors)
        self.encoding = encoding
        self.errors = errors
        # The C accelerator decodes UTF-8 only; any other encoding takes the pure-Python path.
        self._fast = speedups and _speedups is not None and codecs.lookup(encoding).name == "utf-8"
        self.lenient = lenient
        self.max_message_bytes = max_message_bytes
        self.banner: Banner | None = None
        self._want_banner = expect_banner
        self._buf = b""
        #: blocks that held no header and could not be attached to a message (counted, never silent)
        self.stray_blocks = 0
        #: lines before a message's first header, which belong to no message (counted, never silent)
        self.stray_lines = 0

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a message."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message]:
        """Add received bytes; return every message now complete, in order."""
        old = len(self._buf)
        buf = self._buf + data if old else bytes(data)
        if self._want_banner:
            nl = buf.find(b"\n")
            if nl < 0:
                self._buf = buf
                self._check_size()
                return []
            line = buf[:nl].rstrip(b"\r").decode(self.encoding, "replace")
            if "Call Manager/" not in line:
                raise ProtocolError(f"expected an AMI banner ('Asterisk Call Manager/<version>'), got {line[:80]!r}")
            self.banner = Banner(line)
            self._want_banner = False
            buf = buf[nl + 1 :]
            old = 0
        if self.lenient:
            return self._feed_lenient(buf)
        end = buf.rfind(b"\r\n\r\n", max(0, old - 3))
        if end < 0:
            self._buf = buf
            self._check_size()
            return []
        region = buf[:end]
        self._buf = buf[end + 4 :]
        if region.startswith(b"Response: Follows") or b"\r\n\r\nResponse: Follows" in region:
            return self._legacy_region(region)
        return self._parse_region(region)

    def _check_size(self) -> None:
        if len(self._buf) > self.max_message_bytes:
            size = len(self._buf)
            self._buf = b""
            raise ProtocolError(
                f"no end of message within {self.max_message_bytes} bytes ({size} buffered): "
                "the peer sent an endless line or an oversized message"
            )

    def _decode(self, raw: bytes) -> str:
        try:
            return raw.decode(self.encoding, self.errors)
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                f"undecodable bytes in message ({self.encoding}, errors={self.errors!r}): {exc}"
            ) from exc

    def _parse_block(self, lines: list[str]) -> Message | None:
        msg = _parse_fast(lines)
        if msg is None:
            msg, junk = _parse_slow(lines)
            self.stray_lines += junk
        return msg

    def _parse_region(self, region: bytes) -> list[Message]:
        if self._fast:
            try:
                items, nslow = _speedups.parse_region(region, self.errors, Message, _KEYS)
            except UnicodeDecodeError as exc:
                raise ProtocolError(f"undecodable bytes in message (utf-8, errors={self.errors!r}): {exc}") from exc
            if not nslow:
                return items
        else:
            items = self._decode(region).split("\r\n\r\n")
        out: list[Message] = []
        self._collect(items, out)
        return out

    def _collect(self, items: list[Any], out: list[Message]) -> None:
        """Append parsed blocks to ``out``; a block with no header at all is counted in :attr:`stray_blocks`.

        Such a block is what follows a value that held CRLFCRLF (a raw blank line in ``AppData``). The message
        before it has already ended there, as every AMI reader ends it (see :class:`Parser`): gluing the text back
        on would depend on whether both halves arrived in the same read.
        """
        for block in items:
            if type(block) is not str:
                out.append(block)
                continue
            msg = self._parse_block(block.split("\r\n"))
            if msg is not None:
                out.append(msg)
            elif block.strip("\r\n"):
                self.stray_blocks += 1

    def _legacy_region(self, region: bytes) -> list[Message]:
        """Frame a region that holds pre-14 ``Response: Follows`` blocks, whose text may hold blank lines."""
        out: list[Message] = []
        blocks = region.split(b"\r\n\r\n")
        i = 0
        while i < len(blocks):
            block = blocks[i]
            if block.lstrip(b"\r\n").startswith(b"Response: Follows"):
                j = i
                while b"--END COMMAND--" not in block and j + 1 < len(blocks):
                    j += 1
                    block += b"\r\n\r\n" + blocks[j]
                if b"--END COMMAND--" not in block:
                    self._buf = block + b"\r\n\r\n" + self._buf
                    self._check_size()  # an unfinished Follows block is bounded like any other message
                    break
                out.append(_legacy_follows(self._decode(block.lstrip(b"\r\n"))))
                i = j + 1
                continue
            self._collect([self._decode(block)], out)
            i += 1
        return out

    def _feed_lenient(self, buf: bytes) -> list[Message]:
        out: list[Message] = []
        pos = 0
        n = len(buf)
        while pos < n:
            while pos < n and buf[pos] in (13, 10):
                pos += 1
            nl = buf.find(b"\n", pos)
            if nl < 0:
                break
            crlf = nl > pos and buf[nl - 1] == 13
            sep = b"\r\n\r\n" if crlf else b"\n\n"
            end = buf.find(sep, pos)
            if end < 0:
                break
            text = self._decode(buf[pos:end])
            lines = text.split("\r\n") if crlf else [ln.rstrip("\r") for ln in text.split("\n")]
            msg = self._parse_block(lines)
            if msg is not None:
                out.append(msg)
            else:
                self.stray_blocks += 1
            pos = end + len(sep)
        self._buf = buf[pos:]
        self._check_size()
        return out


# -- serialising ---------------------------------------------------------------------------------------------
FieldValue = str | int | float | bool | None | Iterable[Any] | Mapping[str, Any]


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidActionError(f"field {key!r}: bytes that are not UTF-8; pass text", key) from None
    return str(value)


def _field_lines(key: str, value: Any) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield key, f"{k}={_scalar(key, v)}"
    elif isinstance(value, Iterable) and not isinstance(value, (str, bytes, bytearray)):
        for v in value:  # lists, tuples, sets, generators: one line each (Variable)
            yield key, _scalar(key, v)
    else:
        yield key, _scalar(key, value)


def encode_action(
    name: str,
    fields: Mapping[str, FieldValue] | Iterable[tuple[str, FieldValue]] = (),
    action_id: str | None = None,
) -> bytes:
    """Serialise one action as CRLF bytes.

    A list (or any iterable) value becomes repeated lines (``Variable=["a=1", "b=2"]``), a dict value
    ``key=value`` lines, a bool ``true``/``false``, bytes their UTF-8 text; ``None`` is left out. Raises
    :class:`InvalidActionError` (a ``ValueError``) naming the field for a key or value holding CR or LF (header
    injection) or NUL, a line over :data:`MAX_LINE_BYTES` bytes, or more than :data:`MAX_HEADERS` headers:
    Asterisk would silently cut those.
    """
    items = fields.items() if isinstance(fields, Mapping) else fields
    lines: list[tuple[str, str]] = [("Action", str(name))]
    if action_id is not None:
        lines.append(("ActionID", str(action_id)))
    for key, value in items:
        lines.extend(_field_lines(str(key), value))
    if len(lines) > MAX_HEADERS:
        raise InvalidActionError(
            f"action {name!r} has {len(lines)} headers; Asterisk keeps only {MAX_HEADERS} and drops the rest", None
        )
    out = []
    for key, value in lines:
        if not key or not _HEADER_KEY.match(key):
            raise InvalidActionError(f"field {key!r}: a header name must be non-empty, without spaces or ':'", key)
        if "\r" in value or "\n" in value:
            raise InvalidActionError(
                f"field {key!r}: the value holds a line break (CR or LF), which would inject AMI headers", key
            )
        if "\0" in value:
            raise InvalidActionError(f"field {key!r}: the value holds a NUL byte, where Asterisk would cut it", key)
        line = f"{key}: {value}\r\n".encode()
        if len(line) > MAX_LINE_BYTES:
            raise InvalidActionError(
                f"field {key!r}: the line is {len(line)} bytes; Asterisk discards lines over {MAX_LINE_BYTES} bytes",
                key,
            )
        out.append(line)
    out.append(b"\r\n")
    return b"".join(out)


def encode_message(fields: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> bytes:
    """Serialise a response or event as the server sends it (no checks: a server may send raw oddities)."""
    items = fields.items() if isinstance(fields, Mapping) else fields
    return ("".join(f"{k}: {v}\r\n" for k, v in items) + "\r\n").encode("utf-8", "surrogateescape")


# -- shaped answers ------------------------------------------------------------------------------------------
def command_output(message: Mapping[str, str]) -> list[str]:
    """The output lines of a ``Command`` response, from either shape (``Output:`` lines or legacy Follows)."""
    if isinstance(message, Message):
        return message.getall("Output")
    out = message.get("Output")
    if out is None:
        return []
    return list(out) if isinstance(out, list) else str(out).split("\n")


@dataclass
class ConfigCategory:
    """One ``[category]`` of a config file: its lines in order, keys may repeat (``exten``, ``same``)."""

    name: str
    lines: list[tuple[str, str]] = field(default_factory=list)
    is_template: bool = False
    templates: list[str] = field(default_factory=list)

    def get(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.lines:
            if k == key:
                return v
        return default

    def getall(self, key: str) -> list[str]:
        return [v for k, v in self.lines if k == key]


class Config(dict[str, list[tuple[str, str]]]):
    """A config file as ``{category: [(key, value), ...]}`` in file order.

    Category names may repeat (``pjsip.conf`` has ``[6001]`` as endpoint and as auth): the mapping shows the
    first, :attr:`categories` keeps all with their template flags.
    """

    def __init__(self, categories: list[ConfigCategory]) -> None:
        super().__init__()
        self.categories = categories
        for cat in categories:
            self.setdefault(cat.name, cat.lines)

    def category(self, name: str) -> list[ConfigCategory]:
        return [c for c in self.categories if c.name == name]

    def __repr__(self) -> str:
        return f"Config({dict(self)!r})"

    def _repr_html_(self) -> str:
        """Categories as collapsible key/value tables (a notebook shows this instead of the ``Config({...})`` wall)."""
        import html

        parts = [f"<div style='font-size:12px'><b>Config</b>: {len(self.categories)} categories "
                 f"({sum(len(c.lines) for c in self.categories)} lines)"]
        for i, cat in enumerate(self.categories):
            flag = " (template)" if cat.is_template else ""
            uses = f" uses {html.escape(', '.join(cat.templates))}" if cat.templates else ""
            cell = "<td style='text-align:left;padding:0 8px'>"
            rows = "".join(f"<tr>{cell}{html.escape(k)}</td>{cell}{html.escape(v)}</td></tr>" for k, v in cat.lines)
            parts.append(f"<details{' open' if i < 3 else ''}><summary><b>[{html.escape(cat.name)}]</b>{flag}{uses} "
                         f"&middot; {len(cat.lines)} lines</summary><table style='font-family:monospace;"
                         f"font-size:11px'>{rows}</table></details>")
        return "".join(parts) + "</div>"


_CONFIG_KEY = re.compile(r"(Category|Line|IsTemplate|Templates)-(\d+)(?:-(\d+))?\Z")


def parse_config(message: Message) -> Config:
    """Combine GetConfig's ``Category-NNNNNN`` / ``Line-NNNNNN-NNNNNN`` keys into a :class:`Config`."""
    cats: dict[str, ConfigCategory] = {}
    for key, value in message.pairs():
        m = _CONFIG_KEY.match(key)
        if not m:
            continue
        kind, idx = m.group(1), m.group(2)
        if kind == "Category":
            cats[idx] = ConfigCategory(value)
            continue
        cat = cats.setdefault(idx, ConfigCategory(""))
        if kind == "Line":
            k, _, v = value.partition("=")
            cat.lines.append((k, v))
        elif kind == "IsTemplate":
            cat.is_template = value.strip() == "1"
        else:
            cat.templates = [t for t in value.split(",") if t]
    return Config(list(cats.values()))


def parse_config_json(message: Mapping[str, str]) -> Config:
    """GetConfigJSON's ``JSON:`` header as a :class:`Config`, keeping the keys the JSON repeats."""
    raw = message.get("JSON")
    if raw is None:
        raise ProtocolError("GetConfigJSON answer has no JSON header")
    try:
        top = json.loads(raw, object_pairs_hook=list)
    except ValueError as exc:
        raise ProtocolError(f"GetConfigJSON answer is not JSON: {exc}") from exc
    cats = []
    for name, body in top:
        lines = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in body] if isinstance(body, list) else []
        cats.append(ConfigCategory(name, lines))
    return Config(cats)
