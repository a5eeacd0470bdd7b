"""Where to connect: one resolver for ``connect()``, the magics and the recorder, so a target means one thing.

A target is an ``ami://user@host:port`` / ``amis://…`` (TLS) URL, a bare ``host`` or ``host:port`` (``[::1]:5038``
for IPv6), or the name of a section of the connections file::

    [lab]                 ; ~/.config/ami_nb/connections.ini (AMI_CONNECTIONS_FILE names another one)
    host = 10.0.0.5
    port = 5038
    username = admin
    secret = ...          ; chmod 600 the file
    tls = no
    auth = md5            ; optional: auto (default), md5 or plain

Precedence, highest first: the explicit arguments (but ``port``, which is a default: it applies only when neither
the target text nor the section names a port, so ``connect("pbx:5039", port=5038)`` reaches 5039), the target
text, the section (named, or else one describing
the same host, port and user, for its secret only), the environment (``AMI_HOST``, ``AMI_USERNAME``,
``AMI_SECRET``), the defaults (127.0.0.1, 5038), and last a prompt for the secret. No error text ever quotes a
secret or the part of a URL where one may sit: every message is built from the parts already split off.
"""

from __future__ import annotations

import configparser
import getpass
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from .errors import InvalidTargetError

__all__ = [
    "DEFAULT_CONNECTIONS_FILE",
    "DEFAULT_PORT",
    "InvalidTargetError",
    "Target",
    "ask_secret",
    "read_connections",
    "resolve_target",
    "url_userinfo",
]

DEFAULT_PORT = 5038
DEFAULT_HOST = "127.0.0.1"
DEFAULT_CONNECTIONS_FILE = "~/.config/ami_nb/connections.ini"
_SCHEMES = {"ami": False, "amis": True}
_AUTHS = ("auto", "md5", "plain")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*\Z")

Prompt = Callable[[str], str]


@dataclass(frozen=True)
class Target:
    """A resolved target: everything a client needs to connect and log in. The secret is left out of the repr."""

    host: str
    port: int
    username: str
    secret: str = field(repr=False)
    tls: bool = False
    auth: str = "auto"
    section: str | None = None

    @property
    def url(self) -> str:
        """``ami://user@host:port`` (never with the secret)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'amis' if self.tls else 'ami'}://{self.username}@{host}:{self.port}"

    @property
    def name(self) -> str:
        """A default alias: the section's name, else ``user@host:port``."""
        return self.section or f"{self.username}@{self.host}:{self.port}"


def ask_secret(prompt: str) -> str:
    """The default prompt: a hidden ``getpass`` (looked up at call time, so tests can replace it)."""
    return getpass.getpass(prompt)


def _stderr(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr)


# -- the text of a target ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Parts:
    host: str | None = None
    port: int | None = None
    username: str | None = None
    secret: str | None = field(default=None, repr=False)
    tls: bool = False


def parse_port(text: str | int, where: str = "") -> int:
    """A TCP port from text or an int, refused with one message wherever it was written."""
    t = str(text).strip()
    if t.isascii() and t.isdigit() and 1 <= int(t) <= 65535:
        return int(t)
    raise InvalidTargetError(f"bad AMI port {t!r}{where}: use a number from 1 to 65535")


def _split_hostport(text: str) -> tuple[str | None, int | None]:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address -> ``(host, port)``."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise InvalidTargetError("malformed AMI host: '[' without ']' (write an IPv6 address as [::1]:5038)")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise InvalidTargetError("malformed AMI host: only ':port' may follow ']' (as in [::1]:5038)")
        port_text = rest[1:]
    elif text.count(":") > 1:  # a bare IPv6 address: no port possible
        host, port_text = text, ""
    else:
        host, _, port_text = text.partition(":")
    if any(c.isspace() for c in host):
        raise InvalidTargetError("malformed AMI host: it holds white space")
    return host or None, parse_port(port_text) if port_text else None


def url_userinfo(text: str) -> str | None:
    """The ``user:secret`` part of an AMI URL as typed (still %-encoded), when it holds a secret; else ``None``.

    Found even when an unescaped ``/``, ``?`` or ``#`` in the secret breaks the URL, so a caller can scrub it.
    """
    _, sep, rest = text.strip().partition("://")
    if not sep:
        return None
    userinfo = rest.rpartition("@")[0]
    return userinfo if ":" in userinfo else None


def _parse_url(text: str) -> _Parts:
    scheme, _, rest = text.strip().partition("://")
    if not _SCHEME.match(scheme):
        raise InvalidTargetError("malformed AMI URL: use ami://user@host:port or amis://user@host:port (TLS)")
    if scheme.lower() not in _SCHEMES:
        raise InvalidTargetError(f"unknown AMI URL scheme {scheme!r}: use ami://user@host:port or amis:// (TLS)")
    cut = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))  # where the authority ends
    authority, tail = rest[:cut], rest[cut:]
    if tail not in ("", "/"):
        if "@" in tail:  # ami://user:se/cret@host: the '/' ended the authority inside the secret
            raise InvalidTargetError(
                "malformed AMI URL: the secret holds an unescaped '/', '?' or '#' (the URL would be misread); "
                "percent-encode it ('/' as %2F, '?' as %3F, '#' as %23), or leave the secret out of the URL "
                "(AMI_SECRET, the connections file, or the prompt)"
            ) from None  # nothing chained: no frame of the caller's parse is kept with it
        raise InvalidTargetError("malformed AMI URL: nothing may follow host:port (use ami://user@host:port)") from None
    userinfo, at, hostport = authority.rpartition("@")
    user, colon, secret = userinfo.partition(":")
    host, port = _split_hostport(hostport)
    return _Parts(
        host=host,
        port=port,
        username=unquote(user) if at and user else None,
        secret=unquote(secret) if at and colon else None,
        tls=_SCHEMES[scheme.lower()],
    )


def _parse_text(text: str) -> _Parts:
    if "://" in text:
        return _parse_url(text)
    if "@" in text or "/" in text:
        raise InvalidTargetError(
            "malformed AMI target: a user name needs the URL form ami://user@host:port (or a host[:port] alone)"
        )
    host, port = _split_hostport(text.strip())
    return _Parts(host=host, port=port)


# -- the connections file ---------------------------------------------------------------------------------------
def _file_path(connections_file: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path | None:
    if connections_file is None:
        connections_file = environ.get("AMI_CONNECTIONS_FILE", DEFAULT_CONNECTIONS_FILE)
    text = os.fspath(connections_file)
    return Path(os.path.expanduser(text)) if text else None


def read_connections(
    path: str | os.PathLike[str] | None, warn: Callable[[str], None] = _stderr
) -> configparser.ConfigParser:
    """The sections of a connections file (none if ``path`` is empty or missing); warns if others can read it.

    A parse error names the file and the kind of error, never a line of it (a line may hold a secret).
    """
    parser = configparser.ConfigParser(interpolation=None)
    if not path:
        return parser
    p = Path(os.path.expanduser(os.fspath(path)))
    if not p.is_file():
        return parser
    try:
        parser.read(p, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise InvalidTargetError(f"cannot read the connections file {p.name}: {type(exc).__name__}") from None
    holds_secret = any(parser.has_option(sec, "secret") for sec in parser.sections())
    if holds_secret and os.name == "posix" and p.stat().st_mode & 0o077:
        warn(f"{p.name} holds secrets and other users can read it: chmod 600 it")
    return parser


def _section_parts(sections: configparser.ConfigParser, name: str, file_name: str) -> tuple[_Parts, str | None]:
    if not sections.has_section(name):
        raise InvalidTargetError(f"no section [{name}] in the connections file {file_name or '(none)'}")
    sec = sections[name]
    where = f" in [{name}] of {file_name}"
    host = sec.get("host") or None
    port = parse_port(sec["port"], where) if sec.get("port") else None
    try:
        tls = sec.getboolean("tls", False)
    except ValueError:
        raise InvalidTargetError(f"bad tls{where}: use yes or no") from None
    auth = (sec.get("auth") or "").strip().lower() or None
    if auth is not None and auth not in _AUTHS:
        raise InvalidTargetError(f"bad auth {auth!r}{where}: use auto, md5 or plain")
    user = sec.get("username") or sec.get("user") or None
    return _Parts(host=host, port=port, username=user, secret=sec.get("secret"), tls=tls), auth


def _matching_secret(sections: configparser.ConfigParser, host: str, port: int, user: str) -> str | None:
    """The secret of a section describing this very target (host, port and user all equal)."""
    for name in sections.sections():
        sec = sections[name]
        try:
            sec_port = parse_port(sec["port"]) if sec.get("port") else DEFAULT_PORT
        except InvalidTargetError:
            continue
        if (
            (sec.get("host") or DEFAULT_HOST) == host
            and sec_port == port
            and (sec.get("username") or sec.get("user")) == user
            and sec.get("secret") is not None
        ):
            return sec["secret"]
    return None


# -- the resolver -----------------------------------------------------------------------------------------------
def resolve_target(
    target: str | Target | None = None,
    *,
    port: int | None = None,
    username: str | None = None,
    secret: str | None = None,
    tls: bool = False,
    auth: str | None = None,
    section: str | None = None,
    connections_file: str | os.PathLike[str] | None = None,
    url_secret: bool = True,
    prompt: Prompt | None = ask_secret,
    environ: Mapping[str, str] | None = None,
    warn: Callable[[str], None] = _stderr,
) -> Target:
    """Resolve a target text (URL, ``host[:port]``, section name, or ``None`` for ``AMI_HOST``) into a :class:`Target`.

    ``port`` is the port used when neither the text nor the section names one. ``auth`` ``None`` or ``"auto"``
    lets a section choose. ``connections_file`` ``None`` means ``AMI_CONNECTIONS_FILE`` or the default path; ``""``
    means no file. ``url_secret=False`` refuses a URL that holds a secret (the magics: a cell keeps its text).
    ``prompt(text)`` asks for a secret found nowhere else; ``None`` makes that an error instead.
    A :class:`Target` given as ``target`` is already resolved and comes back as it is.
    Raises :class:`~ami_nb.errors.InvalidTargetError` (a ``ValueError``) naming the problem.
    """
    if isinstance(target, Target):
        return target
    env = os.environ if environ is None else environ
    if auth is not None and auth not in _AUTHS:
        raise InvalidTargetError(f"bad auth {auth!r}: use auto, md5 or plain")
    path = _file_path(connections_file, env)
    sections = read_connections(path, warn)
    file_name = path.name if path else ""

    text = target if target is not None else (None if section else env.get("AMI_HOST"))
    if text is not None and not text.strip():
        raise InvalidTargetError("empty AMI target: use ami://user@host:port, host[:port] or a section name")
    if text is not None and section is None and "://" not in text and sections.has_section(text.strip()):
        section, text = text.strip(), None
    sec_parts, sec_auth = _section_parts(sections, section, file_name) if section else (_Parts(), None)
    parts = _parse_text(text) if text is not None else _Parts()
    if parts.secret is not None and not url_secret:
        raise InvalidTargetError(
            "put no secret in the URL: use AMI_SECRET, the connections file, or type it at the hidden prompt"
        )

    host = parts.host or sec_parts.host or DEFAULT_HOST
    resolved_port = parts.port or sec_parts.port or (parse_port(port) if port is not None else DEFAULT_PORT)
    user = username or parts.username or sec_parts.username or env.get("AMI_USERNAME")
    if not user:
        raise InvalidTargetError(
            "no AMI user name: pass username=... (--user), use ami://user@host:port, or set AMI_USERNAME"
        )
    use_tls = bool(tls or parts.tls or sec_parts.tls)
    use_auth = auth if auth not in (None, "auto") else (sec_auth or "auto")
    assert use_auth is not None
    pw = secret
    if pw is None:
        pw = parts.secret if parts.secret is not None else sec_parts.secret
    if pw is None:
        pw = _matching_secret(sections, host, resolved_port, user)
    if pw is None:
        pw = env.get("AMI_SECRET")
    if pw is None:
        if prompt is None:
            raise InvalidTargetError(
                f"no AMI secret for {user}@{host}:{resolved_port}: pass secret=..., set AMI_SECRET, "
                "or put it in the connections file"
            )
        pw = prompt(f"AMI secret for {user}@{host}:{resolved_port}: ")
    return Target(host=host, port=resolved_port, username=user, secret=pw, tls=use_tls, auth=use_auth, section=section)
