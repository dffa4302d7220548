"""The gateway's settings: serial port specs, a TOML file whose keys mirror the flags, and the flags.

Rules upheld here:
- the serial link's defaults (PING interval, silent intervals before link down, largest frame
  body) are the runtime's own (hopseal.wire.serial_link, hopseal.wire.serial_frame): a gateway
  and a board that are not told otherwise agree;
- TOML values come first, then the flags that were given (flags win; --serial adds ports);
- a user's mistake (unknown key, bad value, no hub, nothing to serve, two ports with one name)
  raises ConfigError with a message that says which.
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

from hopseal.errors import ConfigError
from hopseal.wire.serial_frame import DEFAULT_MAX_BODY
from hopseal.wire.serial_link import DEFAULT_DOWN_AFTER, DEFAULT_INTERVAL

from .config import ConfigFile, check_keys, hostport_value, load_toml, toml_text, typed  # noqa: F401 (re-exported)
from .config import where as _where


@dataclass
class PortSpec:
    url: str
    name: str
    baud: int | None = None  # None: the gateway's --baud


@dataclass
class GatewayConfig:
    hub: tuple[str, int] | None = None
    serial: list[PortSpec] = field(default_factory=list)
    listen: tuple[str, int] | None = None
    name: str = "gateway"
    baud: int = 115200
    ping_interval: float = DEFAULT_INTERVAL
    down_after: int = DEFAULT_DOWN_AFTER
    max_body: int = DEFAULT_MAX_BODY
    backoff_initial: float = 0.2
    backoff_max: float = 5.0
    capture: str | None = None
    control: str | None = None  # the status socket; None: the default, "": none
    console: bool = False  # serve the boards' console lines on CONTROL-console.sock (hopseal board console)


def default_port_name(url: str) -> str:
    u = url.split("?", 1)[0].rstrip("/")
    if "://" in u:
        u = u.split("://", 1)[1]
    return os.path.basename(u) or u or url


def parse_port(text: str) -> PortSpec:
    """`URL[=NAME]`. A URL whose query has its own `key=value` pairs takes `=NAME` after them."""
    url, name = text, ""
    if "=" in text:
        left, _, right = text.rpartition("=")
        q = left.partition("?")[2]
        # the last '=' names the port unless it is the query's own key=value
        if right and "/" not in right and ("?" not in left or q.count("=") >= q.count("&") + 1):
            url, name = left, right
    if not url:
        raise ConfigError("empty serial URL in %r" % text)
    return PortSpec(url, name or default_port_name(url))


def port_arg(text: str) -> PortSpec:
    """argparse `type=` for --serial URL[=NAME]."""
    try:
        return parse_port(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


_KEYS = ("hub", "serial", "listen", "name", "baud", "ping_interval", "down_after", "max_body", "backoff_max",
         "backoff_initial", "capture", "control", "console")
# key: (type, what a value must be, an example)
_TYPED = {
    "name": (str, "a string", '"gateway"'),
    "capture": (str, "a file name", '"gateway.cap"'),
    "control": (str, "a socket path", '"/run/hopseal/gateway.sock"'),
    "baud": (int, "a whole number", "115200"),
    "down_after": (int, "a whole number of intervals", str(DEFAULT_DOWN_AFTER)),
    "max_body": (int, "a whole number of bytes", str(DEFAULT_MAX_BODY)),
    "ping_interval": (float, "a number of seconds", "%g" % DEFAULT_INTERVAL),
    "backoff_max": (float, "a number of seconds", "5"),
    "backoff_initial": (float, "a number of seconds", "0.2"),
}
_FLAGS = ("name", "baud", "ping_interval", "down_after", "max_body", "backoff_max", "capture", "control")
_PORT_KEYS = ("url", "name", "baud")


def _typed(t: dict, key: str, value):
    return typed(t, key, value, *_TYPED[key])


def _serial(t: dict) -> list[PortSpec]:
    items = t["serial"]
    where = _where(t, "serial")
    if not isinstance(items, list):
        example = toml_text([items]) if isinstance(items, str) else '["/dev/ttyACM0=pico"]'
        raise ConfigError("%s: serial must be a list of ports, e.g. serial = %s" % (where, example))
    out = []
    for item in items:
        if isinstance(item, str):
            try:
                out.append(parse_port(item))
            except ConfigError as e:
                raise ConfigError("%s: %s" % (where, e)) from None
            continue
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise ConfigError('%s: serial entries are "URL[=NAME]" strings or [[serial]] tables with url = "..." '
                              "(and name, baud), not %s" % (where, toml_text(item)))
        unknown = sorted(set(item) - set(_PORT_KEYS))
        if unknown:
            raise ConfigError("%s: unknown key %s in a serial port (%s)" % (where, unknown[0], ", ".join(_PORT_KEYS)))
        name, baud = item.get("name"), item.get("baud")
        if name is not None and not isinstance(name, str):
            raise ConfigError('%s: serial port name = %s: expected a string, e.g. name = "pico"' % (where, toml_text(name)))
        if baud is not None and (not isinstance(baud, int) or isinstance(baud, bool)):
            raise ConfigError("%s: serial port baud = %s: expected a whole number, e.g. baud = 115200"
                              % (where, toml_text(baud)))
        out.append(PortSpec(item["url"], name or default_port_name(item["url"]), baud))
    return out


def config_from(toml: dict | None, args: argparse.Namespace | None = None) -> GatewayConfig:
    """TOML values first, then command-line flags that were given (flags win; --serial adds)."""
    cfg = GatewayConfig()
    t = toml or {}
    check_keys(t, _KEYS)
    if "hub" in t:
        cfg.hub = hostport_value(t, "hub", t["hub"])
    if "listen" in t:
        cfg.listen = hostport_value(t, "listen", t["listen"])
    for k in _TYPED:
        if k in t:
            setattr(cfg, k, _typed(t, k, t[k]))
    if "serial" in t:
        cfg.serial.extend(_serial(t))
    if "console" in t:
        if not isinstance(t["console"], bool):
            raise ConfigError("%s: console = %s: expected true or false" % (_where(t, "console"), toml_text(t["console"])))
        cfg.console = t["console"]
    if args is not None:
        if getattr(args, "console", None):
            cfg.console = True
        if args.hub is not None:
            cfg.hub = args.hub
        if args.listen is not None:
            cfg.listen = args.listen
        cfg.serial.extend(args.serial)
        for k in _FLAGS:
            v = getattr(args, k, None)
            if v is not None:
                setattr(cfg, k, v)
    if cfg.hub is None:
        raise ConfigError("no hub: give --hub HOST:PORT or `hub = \"HOST:PORT\"` in the config file")
    if not cfg.serial and cfg.listen is None:
        raise ConfigError("nothing to serve: give --serial URL and/or --listen HOST:PORT")
    names = [p.name for p in cfg.serial]
    if len(set(names)) != len(names):
        raise ConfigError("two serial ports share a name: %s (use URL=NAME)" % ", ".join(names))
    if cfg.ping_interval <= 0 or cfg.down_after < 1:
        raise ConfigError("ping_interval (--ping-interval) must be more than 0 and down_after (--down-after) "
                          "at least 1, not %g and %d" % (cfg.ping_interval, cfg.down_after))
    return cfg
