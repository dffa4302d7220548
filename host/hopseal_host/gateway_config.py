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

from .home import parse_hostport


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


def load_toml(path: str) -> dict:
    """The config file as a dict; OSError if it cannot be read, ConfigError if it is not TOML."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    with open(path, "rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise ConfigError("%s: %s" % (path, e)) from None


_KEYS = {"hub", "serial", "listen", "name", "baud", "ping_interval", "down_after", "max_body", "backoff_max",
         "backoff_initial", "capture"}
_TYPED = ("name", "baud", "ping_interval", "down_after", "max_body", "backoff_max", "backoff_initial")
_FLAGS = ("name", "baud", "ping_interval", "down_after", "max_body", "backoff_max", "capture")


def config_from(toml: dict | None, args: argparse.Namespace | None = None) -> GatewayConfig:
    """TOML values first, then command-line flags that were given (flags win; --serial adds)."""
    cfg = GatewayConfig()
    t = toml or {}
    unknown = set(t) - _KEYS
    if unknown:
        raise ConfigError("unknown key(s) in the config file: %s" % ", ".join(sorted(unknown)))
    if "hub" in t:
        cfg.hub = parse_hostport(str(t["hub"]))
    if "listen" in t:
        cfg.listen = parse_hostport(str(t["listen"]))
    if "capture" in t:
        cfg.capture = str(t["capture"])
    for k in _TYPED:
        if k in t:
            try:
                setattr(cfg, k, type(getattr(cfg, k))(t[k]))
            except (TypeError, ValueError):
                raise ConfigError("bad value for %s in the config file: %r" % (k, t[k])) from None
    for item in t.get("serial", []):
        if isinstance(item, str):
            cfg.serial.append(parse_port(item))
        elif isinstance(item, dict) and "url" in item:
            cfg.serial.append(PortSpec(item["url"], item.get("name") or default_port_name(item["url"]), item.get("baud")))
        else:
            raise ConfigError("serial entries are \"URL[=NAME]\" strings or tables with url (and name, baud)")
    if args is not None:
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
        raise ConfigError("--ping-interval must be > 0 and --down-after >= 1")
    return cfg
