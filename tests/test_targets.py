"""One target resolver: the rules of ami_nb.targets, and connect() and %ami_connect agreeing on every input."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from scripted_server import ScriptedServer

import ami_nb
import ami_nb.magics as magics_mod
from ami_nb.errors import InvalidTargetError
from ami_nb.targets import Target, resolve_target, url_userinfo

SECRET = "amp111"  # the scripted server's admin secret
NO_ENV: dict[str, str] = {}


def resolve(text: str | None, **kw: Any) -> Target:
    """The resolver with no environment, no connections file, and no prompt unless a test gives one."""
    kw.setdefault("environ", NO_ENV)
    kw.setdefault("connections_file", "")
    kw.setdefault("prompt", None)
    return resolve_target(text, **kw)


def where(t: Target) -> tuple[str, int, str]:
    return t.host, t.port, t.username


def error_text(text: str | None, **kw: Any) -> str:
    with pytest.raises(InvalidTargetError) as err:
        resolve(text, **kw)
    assert isinstance(err.value, ValueError)  # callers that caught ValueError still do
    return str(err.value)


# -- the text of a target -------------------------------------------------------------------------------------
def test_url_and_host_port_forms() -> None:
    assert resolve("ami://bob:pw@pbx.example:5039") == Target("pbx.example", 5039, "bob", "pw", tls=False)
    assert resolve("amis://bob@pbx.example", secret="x") == Target("pbx.example", 5038, "bob", "x", tls=True)
    assert resolve("AMI://bob@h:1/", secret="x").port == 1  # scheme case-insensitive, a trailing '/' allowed
    assert resolve("pbx.example:6000", username="bob", secret="x") == Target("pbx.example", 6000, "bob", "x")
    assert resolve("pbx.example", username="bob", secret="x").port == 5038
    assert resolve("pbx.example", port=7000, username="bob", secret="x").port == 7000  # port: when none is named
    assert resolve("pbx.example:6000", port=7000, username="bob", secret="x").port == 6000
    assert where(resolve("[::1]:6000", username="bob", secret="x")) == ("::1", 6000, "bob")
    assert resolve("ami://bob@[::1]:6000", secret="x").url == "ami://bob@[::1]:6000"
    assert where(resolve("::1", username="bob", secret="x")) == ("::1", 5038, "bob")
    assert resolve("ami://b%40b:p%2Fw%3Fx%23y@h", username=None).username == "b@b"
    assert resolve("ami://bob:p%2Fw%3Fx%23y@h").secret == "p/w?x#y"  # percent-encoded: read right
    assert resolve("ami://bob:p@ss:w@h:1") == Target("h", 1, "bob", "p@ss:w")  # '@' and ':' need no escape
    assert resolve("ami://bob:[x]@h:1").secret == "[x]"
    assert where(resolve(None, environ={"AMI_HOST": "ami://env@envhost:9"}, secret="x")) == ("envhost", 9, "env")
    assert where(resolve(None, username="u", secret="x")) == ("127.0.0.1", 5038, "u")


def test_target_keeps_its_secret_out_of_repr_and_url() -> None:
    t = resolve("ami://bob:Sekr1t@h:1")
    assert "Sekr1t" not in repr(t) and "Sekr1t" not in t.url and t.name == "bob@h:1"
    assert resolve(t) is t  # a resolved target passes through


def test_argument_precedence_and_environment() -> None:
    env = {"AMI_USERNAME": "envuser", "AMI_SECRET": "envsecret"}
    t = resolve("ami://urluser:urlsecret@h", environ=env)
    assert (t.username, t.secret) == ("urluser", "urlsecret")
    t = resolve("ami://urluser:urlsecret@h", username="arg", secret="argsecret", environ=env)
    assert (t.username, t.secret) == ("arg", "argsecret")
    t = resolve("h", environ=env)
    assert (t.username, t.secret) == ("envuser", "envsecret")
    assert resolve("ami://u@h", secret="x", tls=True).tls


def test_prompt_is_the_last_source_and_can_be_refused() -> None:
    asked: list[str] = []
    t = resolve("ami://bob@h:7", prompt=lambda text: asked.append(text) or "typed")
    assert t.secret == "typed" and asked == ["AMI secret for bob@h:7: "]
    assert "no AMI secret for bob@h:7" in error_text("ami://bob@h:7")


@pytest.mark.parametrize(
    "text", ["h:99999", "h:0", "h:abc", "h:\uff15\uff10\uff13\uff18", "ami://u@h:abc", "ami://u@h:70000"]
)
def test_port_errors_read_the_same_wherever_the_port_was_written(text: str) -> None:
    port = text.rpartition(":")[2]
    assert error_text(text, username="u", secret="x") == f"bad AMI port {port!r}: use a number from 1 to 65535"


def test_bad_text_is_refused_by_name() -> None:
    assert "unknown AMI URL scheme 'http'" in error_text("http://u@h", secret="x")
    assert "malformed AMI URL" in error_text("://u@h", secret="x")
    assert "nothing may follow host:port" in error_text("ami://u@h:1/path", secret="x")
    assert "URL form ami://user@host:port" in error_text("u@h:1", secret="x")
    assert "'[' without ']'" in error_text("[::1:5038", username="u", secret="x")
    assert "empty AMI target" in error_text("  ", username="u", secret="x")
    assert "no AMI user name" in error_text("h", secret="x")
    assert "bad auth 'sha1'" in error_text("ami://u@h", secret="x", auth="sha1")


@pytest.mark.parametrize("char", ["/", "?", "#"])
def test_an_unescaped_slash_in_a_url_secret_is_refused_without_quoting_it(char: str) -> None:
    # ami://admin:Kx/Vb@h would be read as host "admin", port "Kx", path "/Vb@h": refuse, naming the problem
    for url in (f"ami://admin:Kx{char}Vb@h:5038", f"ami://admin:12{char}34@h", f"amis://admin:Kx{char}@h"):
        text = error_text(url)
        assert "unescaped '/', '?' or '#'" in text and "percent-encode" in text and "%2F" in text
        for part in ("Kx", "Vb", "12", "34", "admin:"):
            assert part not in text
        assert url_userinfo(url) == url.split("://")[1].rpartition("@")[0]  # found whole, for scrubbing


def test_url_userinfo_only_when_a_secret_is_there() -> None:
    assert url_userinfo("ami://bob@h:1") is None and url_userinfo("h:1") is None
    assert url_userinfo("ami://bob:p%2F@h:1") == "bob:p%2F"


# -- the connections file -------------------------------------------------------------------------------------
def write_ini(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_sections_by_alias_by_option_and_by_matching_target(tmp_path: Path) -> None:
    ini = write_ini(
        tmp_path / "connections.ini",
        (
            "[lab]\nhost = 10.0.0.5\nport = 5039\nusername = alice\nsecret = labsecret\nauth = md5\ntls = yes\n"
            "[nosecret]\nhost = 10.0.0.6\nusername = bob\n"
        ),
    )
    t = resolve("lab", connections_file=ini)
    assert t == Target("10.0.0.5", 5039, "alice", "labsecret", tls=True, auth="md5", section="lab")
    assert t.name == "lab"
    assert resolve(None, section="lab", connections_file=ini) == t
    assert resolve("lab", connections_file=ini, auth="plain").auth == "plain"  # an argument wins
    assert resolve("lab", connections_file=ini, username="carol", secret="s").username == "carol"
    # a URL naming the same host, port and user finds the section's secret
    found = resolve("amis://alice@10.0.0.5:5039", connections_file=ini)
    assert found.secret == "labsecret" and found.section is None
    assert "no AMI secret" in error_text("ami://alice@10.0.0.5:5040", connections_file=ini)
    assert resolve("nosecret", connections_file=ini, environ={"AMI_SECRET": "e"}).secret == "e"
    assert "no section [nope]" in error_text(None, section="nope", connections_file=ini)
    # the environment names the file when the caller does not
    assert resolve("lab", connections_file=None, environ={"AMI_CONNECTIONS_FILE": str(ini)}).host == "10.0.0.5"


def test_bad_section_values_name_the_section_and_never_a_secret(tmp_path: Path) -> None:
    ini = write_ini(tmp_path / "c.ini", "[p]\nhost = h\nport = x1\nusername = u\nsecret = Hidden99\n")
    assert error_text("p", connections_file=ini) == "bad AMI port 'x1' in [p] of c.ini: use a number from 1 to 65535"
    ini = write_ini(tmp_path / "c.ini", "[p]\nhost = h\nusername = u\nsecret = Hidden99\nauth = rsa\n")
    assert "bad auth 'rsa' in [p] of c.ini" in error_text("p", connections_file=ini)
    ini = write_ini(tmp_path / "c.ini", "[p]\nsecret = Hidden99\nno equals sign here\n")
    text = error_text("p", connections_file=ini)
    assert text == "cannot read the connections file c.ini: ParsingError" and "Hidden99" not in text


def test_a_readable_file_with_secrets_warns(tmp_path: Path) -> None:
    warned: list[str] = []
    ini = write_ini(tmp_path / "c.ini", "[p]\nhost = h\nusername = u\nsecret = s\n", mode=0o644)
    resolve("p", connections_file=ini, warn=warned.append)
    assert warned == ["c.ini holds secrets and other users can read it: chmod 600 it"]
    ini.chmod(0o600)
    resolve("p", connections_file=ini, warn=warned.append)
    assert len(warned) == 1


# -- connect() and %ami_connect: the same target, the same error, for the same input -------------------------------
@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InteractiveShell]:
    old = os.environ.get("IPYTHONDIR")
    os.environ["IPYTHONDIR"] = str(tmp_path_factory.mktemp("ipython"))
    try:
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "ami_nb")
        ip.run_line_magic("config", "AmiMagics.timeout = 5.0")
        ip.run_line_magic("config", "AmiMagics.connections_file = None")  # as connect(): AMI_CONNECTIONS_FILE
        yield ip
        ip.run_line_magic("config", "AmiMagics.connections_file = ''")
        ip.run_line_magic("unload_ext", "ami_nb")
    finally:
        if old is None:
            os.environ.pop("IPYTHONDIR", None)
        else:
            os.environ["IPYTHONDIR"] = old


@pytest.fixture
def both(
    shell: InteractiveShell, ami_server: ScriptedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[InteractiveShell, ScriptedServer]]:
    """A shell and a server; one connections file, read by connect() and the magic alike; no secret around."""
    ini = write_ini(
        tmp_path / "connections.ini",
        (
            f"[lab]\nhost = 127.0.0.1\nport = {ami_server.port}\nusername = admin\nsecret = {SECRET}\nauth = md5\n"
            "[badport]\nhost = 127.0.0.1\nport = 70000\nusername = admin\n"
        ),
    )
    monkeypatch.setenv("AMI_CONNECTIONS_FILE", str(ini))
    for name in ("AMI_SECRET", "AMI_USERNAME", "AMI_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pytest.fail(f"prompted: {prompt}"))
    yield shell, ami_server
    magics_mod._LOADED[id(shell)].close_all()


def client_target(session: Any) -> tuple[str, int, str, bool, str]:
    c = session.client
    return c.host, c.port, c.username, c.tls, c.auth_used


def via_magic(shell: InteractiveShell, line: str) -> Any:
    res = shell.run_cell(f"%ami_connect {line}")
    exc = res.error_in_exec or res.error_before_exec
    if exc is not None:
        assert isinstance(exc, UsageError), repr(exc)
        return exc
    return magics_mod._LOADED[id(shell)].connection().session


def via_connect(text: str, **kw: Any) -> Any:
    try:
        return ami_nb.connect(text, keepalive=None, timeout=5.0, **kw)
    except InvalidTargetError as exc:
        return exc


SAME_INPUTS = [  # (target text, user name, secret source) -> the same target either way
    ("lab", None),
    ("ami://admin@127.0.0.1:{port}", None),  # its secret from the [lab] section that describes it
    ("127.0.0.1:{port}", "admin"),  # a bare host:port works in connect() too
    ("[127.0.0.1]:{port}", "admin"),
]


@pytest.mark.parametrize(("text", "user"), SAME_INPUTS)
def test_connect_and_the_magic_reach_the_same_target(both: Any, text: str, user: str | None) -> None:
    shell, srv = both
    target = text.format(port=srv.port)
    session = via_connect(target, username=user)
    try:
        direct = client_target(session)
    finally:
        session.close()
    magic = via_magic(shell, target + (f" --user {user}" if user else ""))
    assert not isinstance(magic, BaseException), str(magic)
    assert client_target(magic) == direct
    assert direct[:3] == ("127.0.0.1", srv.port, "admin")
    assert direct[4] == "md5" if text == "lab" else direct[4] in ("md5", "plain")


SAME_ERRORS = [  # target text, user -> the same error text either way
    ("127.0.0.1:99999", "admin"),
    ("127.0.0.1:abc", "admin"),
    ("ami://admin@127.0.0.1:abc", None),
    ("badport", None),
    ("http://admin@127.0.0.1:1", None),
    ("ami://admin@127.0.0.1:1/x", None),
    ("admin@127.0.0.1:1", None),
    ("127.0.0.1:1", None),  # no user name
]


@pytest.mark.parametrize(("text", "user"), SAME_ERRORS)
def test_connect_and_the_magic_refuse_with_the_same_text(both: Any, text: str, user: str | None) -> None:
    shell, _ = both
    direct = via_connect(text, username=user)
    magic = via_magic(shell, text + (f" --user {user}" if user else ""))
    assert isinstance(direct, InvalidTargetError), direct
    assert isinstance(magic, UsageError) and str(magic) == str(direct)


def test_a_url_secret_with_a_slash_connect_refuses_it_the_magic_scrubs_it(both: Any) -> None:
    shell, srv = both
    direct = via_connect(f"ami://admin:Kx/Vb@127.0.0.1:{srv.port}")
    assert isinstance(direct, InvalidTargetError) and "percent-encode" in str(direct)
    assert "Kx" not in str(direct) and "Vb" not in str(direct)
    magic = via_magic(shell, f"ami://admin:Kx/Vb@127.0.0.1:{srv.port}")
    assert isinstance(magic, UsageError) and "no secret in the URL" in str(magic)
    assert "Kx" not in str(magic) and not any("Kx/Vb" in src for src in shell.user_ns["In"])
    assert srv.actions("Login") == []  # nothing reached the server
