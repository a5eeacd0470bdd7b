"""Who may do and see what on the simulated PBX: manager.conf users, their classes, ``Events`` masks, filters.

Pure data and predicates (no sockets): a connection (:mod:`~ami_nb.sim.connection`) holds the results, the
action registry (:mod:`~ami_nb.sim.registry`) checks write classes, the server checks read classes per event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

Pairs = list[tuple[str, str]]

ALL_CLASSES = frozenset(
    {"system", "call", "log", "verbose", "command", "agent", "user", "config", "dtmf", "reporting", "cdr",
     "dialplan", "originate", "agi", "cc", "aoc", "test", "security", "message"}
)


@dataclass(frozen=True)
class User:
    """A manager.conf user. ``read``/``write`` are comma-separated class lists (``all`` for everything)."""

    secret: str
    read: str = "all"
    write: str = "all"

    def __repr__(self) -> str:
        return f"User(secret='***', read={self.read!r}, write={self.write!r})"


UserSpec = User | tuple[str, str, str] | dict[str, str] | str

DEFAULT_USERS = {
    "admin": User("amp111", "all", "all"),
    "limited": User("lim123", "call", "originate"),
}


def as_user(u: UserSpec) -> User:
    """A :class:`User` from a User, a ``(secret, read, write)`` tuple, a dict, or a bare secret."""
    if isinstance(u, User):
        return u
    if isinstance(u, str):
        return User(u)
    if isinstance(u, dict):
        return User(u["secret"], u.get("read", "all"), u.get("write", "all"))
    return User(*u)


def classes(spec: str) -> frozenset[str]:
    """``"call,agent"`` -> ``{"call", "agent"}``; ``all`` expands to every class; ``none``/empty -> none."""
    names = {c.strip().lower() for c in spec.split(",") if c.strip()}
    if "all" in names:
        return ALL_CLASSES
    return frozenset(names & ALL_CLASSES)


def events_mask(value: str) -> frozenset[str] | None:
    """``on`` -> None (all), ``off`` -> empty, ``call,user`` -> those classes."""
    v = value.strip().lower()
    if v in ("on", "yes", "true", "1", "all"):
        return None
    if v in ("off", "no", "false", "0", ""):
        return frozenset()
    return classes(v)


class EventFilter:
    """One ``Filter`` action's criterion, matched as Asterisk 22's manager.c matches it."""

    __slots__ = ("header", "include", "method", "name", "pattern", "regex")

    def __init__(self, include: bool, name: str | None, header: str | None, method: str, pattern: str) -> None:
        self.include, self.name, self.header, self.method, self.pattern = include, name, header, method, pattern
        # POSIX regexec without REG_NEWLINE, as Asterisk uses it: '.' also matches line ends
        flags = re.DOTALL if method == "legacy" else 0
        self.regex = re.compile(pattern, flags) if method in ("regex", "legacy") and pattern else None

    def matches(self, name: str, pairs: Pairs, text: str) -> bool:
        if self.method == "legacy":
            return bool(self.regex.search(text)) if self.regex is not None else True
        if self.name is not None and self.name.lower() != name.lower():
            return False
        if self.method == "none":
            return True
        if self.header is not None:
            hl = self.header.lower()
            values = [v for k, v in pairs if k.lower() == hl]
        else:
            values = [text]
        for v in values:
            if (
                (self.method == "exact" and v == self.pattern)
                or (self.method == "regex" and self.regex is not None and self.regex.search(v))
                or (self.method == "starts_with" and v.startswith(self.pattern))
                or (self.method == "ends_with" and v.endswith(self.pattern))
                or (self.method == "contains" and self.pattern in v)
            ):
                return True
        return False


def filters_pass(filters: list[EventFilter], name: str, pairs: Pairs, text: str) -> bool:
    """Includes (any must match, when there are some), then excludes (none may match)."""
    inc = [f for f in filters if f.include]
    if inc and not any(f.matches(name, pairs, text) for f in inc):
        return False
    return not any(f.matches(name, pairs, text) for f in filters if not f.include)


FILTER_FORMAT = "Filter was formatted incorrectly.  Check the syntax of the filter given."
FILTER_COMPILE = "Filter did not compile.  Check the syntax of the filter given."
_CRITERION = re.compile(r"\s*(action|name|header|method)\((.*?)\)\s*\Z", re.I)


def parse_filter(criteria: str | None, pattern: str | None) -> EventFilter | str:
    """A Filter action's ``MatchCriteria`` and ``Filter`` -> a filter, or the error message Asterisk 22 gives."""
    if not criteria:
        if not pattern:
            return FILTER_FORMAT
        include = not pattern.startswith("!")
        body = pattern if include else pattern[1:]
        try:
            return EventFilter(include, None, None, "legacy", body)
        except re.error:
            return FILTER_COMPILE
    opts: dict[str, str] = {}
    for item in criteria.split(","):
        m = _CRITERION.match(item)
        if not m:
            return FILTER_FORMAT
        opts[m.group(1).lower()] = m.group(2)
    method = opts.get("method", "none").lower()
    if method not in ("none", "exact", "regex", "starts_with", "ends_with", "contains"):
        return FILTER_FORMAT
    if method == "none" and pattern:
        return FILTER_FORMAT
    if method != "none" and not pattern:
        return FILTER_FORMAT
    action = opts.get("action", "include").lower()
    if action not in ("include", "exclude"):
        return FILTER_FORMAT
    try:
        return EventFilter(action == "include", opts.get("name"), opts.get("header"), method, pattern or "")
    except re.error:
        return FILTER_COMPILE


# -- Originate: applications and functions that need more than the originate class --------------------------------
# manager.c's originate_app_permissions table (Asterisk 22.10.1), in its order: the first entry that matches
# decides, and the Originate is refused unless the user's write classes hold one of the entry's classes.
# "app" entries match the Application anywhere, case-insensitively (strcasestr: ExecIf, TrySystem, EAGI match);
# "data" entries match the Data anywhere, case-sensitively (strstr: "${SHELL(", but also "FEEDBACK" for DB);
# "queue" matches a Queue application whose sixth argument (AGI) is set.
ORIGINATE_RULES: tuple[tuple[str, str, frozenset[str]], ...] = (
    *(("app", name, frozenset({"system"}))
      for name in ("agi", "dbdeltree", "exec", "externalivr", "mixmonitor", "originate", "reload", "system")),
    ("queue", "queue", frozenset({"agi", "system"})),
    *(("data", name, frozenset({"system"})) for name in ("CURL", "DB", "EVAL", "FILE", "ODBC", "REALTIME", "SHELL")),
)
ORIGINATE_FORBIDDEN = "Originate Access Forbidden: app or data blacklisted"


def app_args(data: str) -> list[str]:
    """Dialplan application arguments as ``AST_STANDARD_APP_ARGS`` splits them: on commas outside parentheses,
    brackets and double quotes, with the quotes and backslash escapes removed."""
    args: list[str] = []
    cur: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    for ch in data:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif quoted:
            cur.append(ch)
        elif ch in "([":
            depth += 1
            cur.append(ch)
        elif ch in ")]" and depth:
            depth -= 1
            cur.append(ch)
        elif ch == "," and not depth:
            args.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    args.append("".join(cur))
    return args


def _rule_matches(kind: str, search: str, app: str, data: str) -> bool:
    if kind == "app":
        return search in app.lower()
    if kind == "data":
        return bool(data) and search in data
    if search not in app.lower() or not data:  # queue: only with its AGI argument set
        return False
    args = app_args(data)
    return len(args) > 5 and bool(args[5])


def originate_permitted(app: str, data: str, write: frozenset[str]) -> bool:
    """manager.c's ``is_originate_app_permitted``: may a user with these write classes originate ``app(data)``?"""
    for kind, search, need in ORIGINATE_RULES:
        if _rule_matches(kind, search, app, data):
            return bool(need & write)
    return True
