"""What every host command shares: where identities live, opening one, HOST:PORT arguments, signals.

The CLI (cli.py) and the commands it registers (hub.py, gateway.py, virtual_board.py) import from
here and never from each other, so there is no import cycle. Rules upheld here:
- the host's files live in $HOPSEAL_HOME (default ~/.hopseal, created 0700); an identity is
  created on first use, its key file 0600;
- HOST:PORT text is parsed by the runtime's one parser (hopseal.apps.node.parse_hostport); a
  malformed value is a ConfigError (a HopsealError), and argparse shows its message;
- a supervisor's SIGTERM stops a command as cleanly as Ctrl-C does (exit status 0; Ctrl-C: 130);
- an identity that cannot be opened is one line that says how to recover (IdentityError).
"""
from __future__ import annotations

import argparse
import os
import signal

from hopseal.errors import ConfigError, HopsealError, IdentityError


def default_home() -> str:
    """$HOPSEAL_HOME, or ~/.hopseal."""
    return os.environ.get("HOPSEAL_HOME", os.path.join(os.path.expanduser("~"), ".hopseal"))


def host_crypto():
    """The host's crypto backend (pyca/cryptography)."""
    from .crypto_host import HostCrypto

    return HostCrypto()


def open_identity(path: str | None, crypto=None):
    """The vault (identity) at `path` (default $HOPSEAL_HOME/identity), created on first use.

    `path` is the vault's directory (open_vault creates it 0700); a folder created here to hold it
    ($HOPSEAL_HOME) is 0700 too. Existing folders keep their modes: loading warns if the vault's
    own directory or file is open to others."""
    from hopseal.secure.vault import FILE_NAME, open_vault

    crypto = crypto or host_crypto()
    path = path or os.path.join(default_home(), "identity")
    if os.path.exists(path) and not os.path.isdir(path):
        if os.path.basename(path) == FILE_NAME:
            raise IdentityError("%s is the identity file: give --vault its folder, %s"
                                % (path, os.path.dirname(path) or "."))
        raise IdentityError("%s is a file, not an identity folder: give --vault a folder (the identity is kept "
                            "in FOLDER/%s; it is created on first use)" % (path, FILE_NAME))
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    try:
        return open_vault(crypto, path)
    except HopsealError as e:
        file = os.path.join(path, FILE_NAME)
        if not os.path.exists(file):
            raise
        # the file is there but does not load: never replace it (that would change the identity)
        raise IdentityError("the identity in %s is damaged (%s): restore %s from a backup, or move %s aside to "
                            "create a new identity (a new identifier: peers that authorized the old one must be "
                            "told)" % (path, e, FILE_NAME, path)) from None


def parse_hostport(text: str) -> tuple[str, int]:
    """HOST:PORT as (host, port); a malformed value raises ConfigError."""
    from hopseal.apps.node import parse_hostport as parse

    try:
        return parse(text)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def hostport(text: str) -> tuple[str, int]:
    """argparse `type=` for HOST:PORT arguments."""
    try:
        return parse_hostport(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def identifier_arg(text: str) -> str:
    """argparse `type=` for --authorized: an identifier, "I" followed by 64 hex characters."""
    from hopseal.secure.identity import parse_identifier

    try:
        parse_identifier(text)
    except HopsealError:
        raise argparse.ArgumentTypeError("%r is not an identifier: expected I followed by 64 hex characters "
                                         "(`hopseal identity show` prints one)" % text) from None
    return text


class Stopped(KeyboardInterrupt):
    """KeyboardInterrupt raised by a signal handler of stop_on_signals; `signum` says which."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def exit_status(stop: KeyboardInterrupt) -> int:
    """The exit status of a command stopped by `stop`: 0 for a supervisor's SIGTERM (a clean stop
    as systemd counts it), 130 (128 + SIGINT, the shell's convention) for Ctrl-C."""
    return 0 if getattr(stop, "signum", None) == signal.SIGTERM else 128 + signal.SIGINT


def titled(kind: str, name: str) -> str:
    """`kind name` for status lines, or just `kind` when the name is the default (no "hub hub")."""
    return kind if name == kind else "%s %s" % (kind, name)


def stop_on_signals(sigint: bool = False) -> None:
    """Make SIGTERM (a supervisor, systemd) stop the command the way Ctrl-C does: KeyboardInterrupt
    (Stopped) in the main thread. With `sigint`, Ctrl-C too, even when a shell without job control
    started the command with SIGINT ignored (commands that must always unplug or close their ports)."""

    def handler(signum, frame):
        raise Stopped(signum)

    signal.signal(signal.SIGTERM, handler)
    if sigint:
        signal.signal(signal.SIGINT, handler)
