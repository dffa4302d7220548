"""The example systemd units and config files in tools/systemd/ stay true: their ExecStart lines
parse with the CLI's own parser, the example configs load, and (where systemd-analyze is here)
the units verify."""
import configparser
import os
import shlex
import shutil
import subprocess

import pytest
from support.procs import ROOT

from hopseal_host.cli import build_parser
from hopseal_host.config import load_toml, values_for
from hopseal_host.gateway_config import config_from

UNITS = os.path.join(ROOT, "tools", "systemd")


def unit(name):
    p = configparser.ConfigParser(interpolation=None, strict=False)
    p.optionxform = str
    p.read(os.path.join(UNITS, name))
    return p


@pytest.mark.parametrize("name,command", [("hopseal-hub.service", "hub"), ("hopseal-gateway.service", "gateway")])
def test_units_start_the_command_with_flags_it_has(name, command):
    u = unit(name)
    argv = shlex.split(u["Service"]["ExecStart"])
    assert os.path.basename(argv[0]) == "hopseal" and argv[1] == command
    args = build_parser().parse_args(argv[1:])
    assert args.config == "/etc/hopseal/%s.toml" % command and args.log_format == "json"
    assert u["Service"]["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert u["Service"]["RestartPreventExitStatus"] == "2"  # a config mistake is not retried
    assert u["Service"]["Environment"] == "HOPSEAL_HOME=/var/lib/hopseal"


def test_example_configs_load():
    parser = build_parser()
    parser.parse_args(["hub"])
    from hopseal_host.cli import CommandParser

    values = values_for(CommandParser.by_prog["hopseal hub"], load_toml(os.path.join(UNITS, "hub.toml")))
    assert values["listen"] == ("0.0.0.0", 4000) and values["relays_per_owner"] == 16
    cfg = config_from(load_toml(os.path.join(UNITS, "gateway.toml")))
    assert cfg.hub == ("127.0.0.1", 4000) and [p.name for p in cfg.serial] == ["pico"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_units_verify():
    r = subprocess.run(["systemd-analyze", "verify"] + [os.path.join(UNITS, n) for n in
                                                        ("hopseal-hub.service", "hopseal-gateway.service")],
                       capture_output=True, text=True, timeout=60)
    # the one complaint allowed: the hopseal command is not installed at /opt/hopseal on this machine
    problems = [l for l in (r.stdout + r.stderr).splitlines() if l.strip() and "is not executable" not in l]
    assert not problems, problems
