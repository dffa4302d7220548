"""Running hopseal as an operator does (real processes): --version, -q/-v after the command,
status lines without doubled words."""
import subprocess
import sys

from support.procs import Child, py_env

import hopseal


def run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "hopseal_host.cli", *args], env=py_env(), capture_output=True,
                          text=True, timeout=timeout)


def cli(name, *args):
    return Child(name, [sys.executable, "-m", "hopseal_host.cli", *args], py_env())


def test_version():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("hopseal %s (Python " % hopseal.__version__)


def test_quiet_and_verbose_after_the_command(tmp_path):
    """-q after the command silences INFO logs as before it; -v after it turns on DEBUG."""
    for where in ("before", "after"):
        flags = ["node", "--listen", "127.0.0.1:0", "--no-secure-channel"]
        loud = cli("loud", *(["-v"] + flags if where == "before" else flags + ["-v"]))
        quiet = cli("quiet", *(["-q"] + flags if where == "before" else flags + ["-q"]))
        try:
            loud.wait_for("hopseal node listening on")
            quiet.wait_for("hopseal node listening on")
        finally:
            loud.stop()
            quiet.stop()
        assert any(" INFO " in l for l in loud.lines), loud.log()
        assert not any(" INFO " in l or " DEBUG " in l for l in quiet.lines), quiet.log()


def test_status_lines_do_not_repeat_the_command_name(tmp_path):
    hub = cli("hub", "-q", "hub", "--listen", "127.0.0.1:0", "--vault", str(tmp_path / "hub"))
    named = cli("hub2", "-q", "node", "--listen", "127.0.0.1:0", "--no-secure-channel", "--name", "n1")
    try:
        assert hub.wait_for("listening on").startswith("hopseal hub listening on 127.0.0.1:")
        assert named.wait_for("listening on").startswith("hopseal node n1 listening on 127.0.0.1:")
    finally:
        hub.stop()
        named.stop()


def test_message_send_to_uppercase_and_echo_as_ockam_does(tmp_path):
    """Text goes as serde_bare data, as `ockam message send` sends it: uppercase decodes it, echo
    sends it back; plainly, through a secure channel, and with --raw / --hex byte for byte."""
    node = cli("node", "-q", "node", "--listen", "127.0.0.1:0", "--vault", str(tmp_path / "node"))
    try:
        port = int(node.wait_for("listening on").rsplit(":", 1)[1])
        to = "/ip4/127.0.0.1/tcp/%d/" % port
        for args, reply in ((["hi there", "--to", to + "service/uppercase"], "HI THERE"),
                            (["hi there", "--to", to + "service/echo"], "hi there"),
                            (["hi", "--to", to + "secure/api/service/uppercase"], "HI"),
                            (["raw bytes", "--raw", "--to", to + "service/echo"], "raw bytes"),
                            (["00ff0a", "--hex", "--to", to + "service/echo"], "00ff0a"),
                            (["hi", "--bare-string", "--to", to + "service/uppercase"], "HI")):  # the old flag
            r = run("-q", "message", "send", *args)
            assert r.returncode == 0 and r.stdout == reply + "\n", (args, r.stdout, r.stderr)
    finally:
        node.stop()


def test_a_route_without_a_transport_hop_fails_at_once():
    """No waiting for the timeout (600 s here; the process is given 60)."""
    for route in ("/service/echo", "/secure/api/service/echo", "echo"):
        r = run("message", "send", "hi", "--timeout", "600", "--to", route)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert r.stderr == ("hopseal message send: error: route %r starts with no transport hop, so the message "
                            "could go nowhere: begin it with /ip4/HOST/tcp/PORT (or /dnsaddr/NAME/tcp/PORT, "
                            "/ip6/ADDR/tcp/PORT), e.g. /ip4/127.0.0.1/tcp/4000/service/echo\n" % route)


def test_timeouts_say_what_was_probably_wrong(tmp_path):
    hub = cli("hub", "-q", "hub", "--listen", "127.0.0.1:0", "--vault", str(tmp_path / "hub"))
    try:
        port = int(hub.wait_for("listening on").rsplit(":", 1)[1])
        to = "/ip4/127.0.0.1/tcp/%d/" % port
        r = run("-q", "message", "send", "hi", "--timeout", "1", "--to", to + "service/nosuch")
        assert r.returncode == 1 and r.stderr == (
            "hopseal message send: error: no reply within 1s from %sservice/nosuch: probably no service nosuch "
            "there (a node drops messages to workers it does not have; run it with -v to see); or nosuch takes "
            "messages only through a secure channel (try .../secure/api/service/nosuch)\n" % to)
        r = run("-q", "message", "send", "hi", "--timeout", "1", "--to",
                to + "service/forward_to_nobody/secure/api/service/echo")
        assert r.returncode == 1 and r.stderr == (
            "hopseal message send: error: no secure channel to api within 1s: nothing answered along "
            "127.0.0.1:%d, forward_to_nobody; probably no secure-channel listener api there (`hopseal node` runs "
            "one named api unless --no-secure-channel), or relay forward_to_nobody is not registered at the hub "
            "(is the board or node behind it up?)\n" % port)
    finally:
        hub.stop()
    r = run("-q", "message", "send", "hi", "--to", to + "service/echo")  # the hub is gone
    assert r.returncode == 1 and r.stderr.startswith("hopseal message send: error: cannot connect to 127.0.0.1:%d"
                                                     % port)
    assert r.stderr.endswith("(is a hub or node listening there?)\n")


def test_ipv6_listen_routes_and_relays(tmp_path):
    import socket

    try:
        socket.socket(socket.AF_INET6).bind(("::1", 0))
    except OSError:
        import pytest

        pytest.skip("no IPv6 loopback here")
    hub = cli("hub", "-q", "hub", "--listen", "[::1]:0", "--vault", str(tmp_path / "hub"))
    procs = [hub]
    try:
        line = hub.wait_for("listening on")
        assert line.startswith("hopseal hub listening on [::1]:")
        port = int(line.rsplit(":", 1)[1])
        node = cli("node", "-q", "relay", "create", "six", "--at", "[::1]:%d" % port, "--vault", str(tmp_path / "n"))
        procs.append(node)
        assert node.wait_for("relay forward_to_six registered") == "relay forward_to_six registered at [::1]:%d" % port
        for route in ("/ip6/::1/tcp/%d/service/uppercase" % port,
                      "/ip6/::1/tcp/%d/service/forward_to_six/secure/api/service/uppercase" % port,
                      "1#[::1]:%d,uppercase" % port):
            r = run("-q", "message", "send", "hi", "--to", route)
            assert r.returncode == 0 and r.stdout == "HI\n", (route, r.stderr)
    finally:
        for p in procs:
            p.stop()
