"""TOML config files whose keys mirror a command's flags: reading them and telling mistakes.

The gateway (gateway_config.py), the hub and the node read their settings from such a file with
`--config FILE`. Rules upheld here:
- every mistake is a ConfigError (exit status 2) naming the file and the line of the key
  (`hub.toml line 3: ...`), the value as written in TOML, what was expected and an example;
- an unknown key is named, with the nearest known key when there is one;
- for the hub and the node the keys are the flags themselves (`--relays-per-owner` is
  `relays_per_owner`), found in the command's argparse parser: a value goes through the flag's
  own `type=` check, so a file and the command line accept exactly the same values;
- the file's values are defaults: flags given on the command line win (a repeatable flag adds to
  the file's list).
"""
from __future__ import annotations

import argparse
import difflib

from hopseal.errors import ConfigError

from .home import parse_hostport


class ConfigFile(dict):
    """A TOML file's top-level table that knows its path and where each top-level key is written,
    so a message can say `gateway.toml line 3: ...`."""

    def __init__(self, data: dict, path: str = "the config file", text: str = ""):
        super().__init__(data)
        self.path = path
        self.text = text

    def where(self, key: str) -> str:
        in_table = False  # top-level keys come before the first [table] header
        for n, line in enumerate(self.text.splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith("["):
                in_table = True
                if stripped.split("#", 1)[0].strip().strip("[]").strip() == key:  # [[serial]] tables
                    return "%s line %d" % (self.path, n)
            elif not in_table and "=" in stripped and stripped.split("=", 1)[0].strip().strip("\"'") == key:
                return "%s line %d" % (self.path, n)
        return self.path


def load_toml(path: str) -> ConfigFile:
    """The config file; ConfigError (one line, naming the file) if it cannot be read or is not TOML."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ConfigError("cannot read the config file %s: %s" % (path, e.strerror or e)) from None
    text = raw.decode("utf-8", "replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        hint = ""
        if "immutable namespace" in str(e) or "overwrite" in str(e).lower():
            hint = ": each key once"
            if "serial" in str(e):  # the gateway's ports
                hint += " (serial is either a list, serial = [...], or [[serial]] tables, not both)"
        raise ConfigError("%s is not valid TOML: %s%s" % (path, e, hint)) from None
    return ConfigFile(data, path, text)


def where(t: dict, key: str) -> str:
    return t.where(key) if isinstance(t, ConfigFile) else "the config file"


def toml_text(value) -> str:
    """`value` written as in TOML (for messages)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(value, list):
        return "[%s]" % ", ".join(toml_text(v) for v in value)
    if isinstance(value, dict):
        return "{%s}" % ", ".join("%s = %s" % (k, toml_text(v)) for k, v in value.items())
    return str(value)


def check_keys(t: dict, keys) -> None:
    """ConfigError for the first key of `t` that is not one of `keys`."""
    keys = list(keys)
    for key in t:
        if key not in keys:
            near = difflib.get_close_matches(key, keys, 1)
            raise ConfigError("%s: unknown key %s (%s)" % (
                where(t, key), key, ("did you mean %s?" % near[0]) if near else "keys: " + ", ".join(keys)))


def typed(t: dict, key: str, value, kind: type, what: str, example: str):
    """`value` of `key` if it has the type `kind` (an int is fine where a float is wanted, a bool
    only where a bool is wanted)."""
    ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
    if not ok or (isinstance(value, bool) and kind is not bool):
        raise ConfigError("%s: %s = %s: expected %s, e.g. %s = %s"
                          % (where(t, key), key, toml_text(value), what, key, example))
    return kind(value)


def hostport_value(t: dict, key: str, value) -> tuple[str, int]:
    if not isinstance(value, str):
        raise ConfigError('%s: %s = %s: expected a string "HOST:PORT", e.g. %s = "127.0.0.1:4000"'
                          % (where(t, key), key, toml_text(value), key))
    try:
        return parse_hostport(value)
    except ConfigError as e:
        raise ConfigError("%s: %s: %s" % (where(t, key), key, e)) from None


# -- keys that mirror an argparse parser's flags (hub, node) -------------------------------------

NOT_KEYS = {"help", "config", "verbose", "quiet", "func", "prog"}


def flag_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The parser's options that a config file may set, by key (the flag's dest: relays_per_owner)."""
    return {a.dest: a for a in parser._actions
            if a.option_strings and a.dest not in NOT_KEYS and a.help != argparse.SUPPRESS}


def _kind(action: argparse.Action):
    """(python type, what a value must be, an example) for a flag's TOML value."""
    from .home import hostport

    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return bool, "true or false", "true"
    t = getattr(action.type, "toml_kind", action.type)  # a checking function says what it takes
    metavar = action.metavar or action.dest.upper()
    if t is int:
        return int, "a whole number", str(action.default if isinstance(action.default, int) else 100)
    if t is float:
        return float, "a number", str(action.default if isinstance(action.default, (int, float)) else 5)
    if t is hostport:
        return str, 'a string "HOST:PORT"', '"127.0.0.1:4000"'
    return str, "a string (%s)" % metavar, '"%s"' % metavar


def values_for(parser: argparse.ArgumentParser, t: dict) -> dict:
    """The parser's defaults that the config file `t` sets, checked and converted as the flags are."""
    actions = flag_actions(parser)
    check_keys(t, actions)
    out = {}
    for key, value in t.items():
        action = actions[key]
        kind, what, example = _kind(action)
        repeatable = isinstance(action, argparse._AppendAction)
        if repeatable:
            if not isinstance(value, list):
                raise ConfigError("%s: %s must be a list, e.g. %s = [%s]" % (where(t, key), key, key, example))
            items = [typed(t, key, v, kind, what, example) for v in value]
        else:
            items = [typed(t, key, value, kind, what, example)]
        if kind is not bool and action.type not in (None, int, float, str):
            converted = []
            for v in items:
                try:
                    converted.append(action.type(v if isinstance(v, str) else repr(v)))
                except (argparse.ArgumentTypeError, ValueError, ConfigError) as e:
                    raise ConfigError("%s: %s = %s: %s" % (where(t, key), key, toml_text(v), e)) from None
            items = converted
        if action.choices is not None:
            for v in items:
                if v not in action.choices:
                    raise ConfigError("%s: %s = %s: expected one of %s" % (
                        where(t, key), key, toml_text(v), ", ".join(map(str, action.choices))))
        out[key] = items if repeatable else items[0]
    return out


def example(parser: argparse.ArgumentParser) -> str:
    """A config file listing every key the parser takes, commented out (for docs and tests)."""
    lines = []
    for key, action in flag_actions(parser).items():
        kind, what, ex = _kind(action)
        lines.append("# %s = %s" % (key, "[%s]" % ex if isinstance(action, argparse._AppendAction) else ex))
    return "\n".join(lines)
