"""What the host commands share (hopseal_host.home), and the import rule it exists for: no host
module imports the CLI, so the CLI can import every command without a cycle."""
import argparse
import ast
import os
import signal

import pytest
from support.procs import ROOT

from hopseal.errors import ConfigError, HopsealError
from hopseal_host import home
from hopseal_host.multiaddr import RouteSyntaxError, parse

HOST = os.path.join(ROOT, "host", "hopseal_host")


def imported_modules(path):
    """Every module a file imports, relative imports spelled as `.name`."""
    tree = ast.parse(open(path).read(), path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            out.add(base)
            if node.level and not node.module:  # from . import x
                out.update("." + a.name for a in node.names)
    return out


def test_no_host_module_imports_the_cli():
    for name in sorted(os.listdir(HOST)):
        if name.endswith(".py") and name != "cli.py":
            mods = imported_modules(os.path.join(HOST, name))
            assert not mods & {".cli", "hopseal_host.cli"}, name


def test_hostport_is_the_runtime_parser_with_a_config_error():
    assert home.parse_hostport("127.0.0.1:4000") == ("127.0.0.1", 4000)
    assert home.hostport("hub.lan:0") == ("hub.lan", 0)
    for bad in ("4000", "host:", ":4000", "host:port"):
        with pytest.raises(ConfigError, match="HOST:PORT"):
            home.parse_hostport(bad)
        with pytest.raises(argparse.ArgumentTypeError, match="HOST:PORT"):
            home.hostport(bad)


def test_open_identity_defaults_to_hopseal_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOPSEAL_HOME", str(tmp_path / "home"))
    assert home.default_home() == str(tmp_path / "home")
    v = home.open_identity(None)
    assert os.path.exists(tmp_path / "home" / "identity")
    assert home.open_identity(None).identifier_text() == v.identifier_text()


def test_sigterm_stops_like_ctrl_c():
    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        home.stop_on_signals()
        assert signal.getsignal(signal.SIGINT) is saved[1]  # Ctrl-C left to the default
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
        home.stop_on_signals(sigint=True)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])


def test_route_syntax_errors_are_hopseal_errors():
    with pytest.raises(RouteSyntaxError) as e:
        parse("/ip4/127.0.0.1/udp/4000")
    assert isinstance(e.value, HopsealError)


def test_hostport_takes_ipv6_in_brackets():
    assert home.parse_hostport("[::1]:4000") == ("::1", 4000)
    assert home.parse_hostport("[fe80::1%eth0]:0") == ("fe80::1%eth0", 0)
    with pytest.raises(ConfigError, match=r"write an IPv6 address in brackets, \[::1\]:4000"):
        home.parse_hostport("::1:4000")
    with pytest.raises(ConfigError, match="HOST:PORT"):
        home.parse_hostport("[]:4000")
    from hopseal.apps.node import hostport_text

    assert hostport_text("::1", 4000) == "[::1]:4000" and hostport_text("127.0.0.1", 1) == "127.0.0.1:1"


def test_ipv6_routes():
    from hopseal.wire.message import TCP

    (seg,) = parse("/ip6/::1/tcp/4000/service/echo")
    assert seg.hops[0].tt == TCP and seg.hops[0].text() == "[::1]:4000"
    assert home.parse_hostport(seg.hops[0].text()) == ("::1", 4000)
