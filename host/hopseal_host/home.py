"""What every host command shares: where identities live, opening one, HOST:PORT arguments, signals.

The CLI (cli.py) and the commands it registers (hub.py, gateway.py, virtual_board.py) import from
here and never from each other, so there is no import cycle. Rules upheld here:
- the host's files live in $HOPSEAL_HOME (default ~/.hopseal, created 0700); an identity is
  created on first use, its key file 0600;
- HOST:PORT text is parsed by the runtime's one parser (hopseal.apps.node.parse_hostport); a
  malformed value is a ConfigError (a HopsealError), and argparse shows its message;
- a supervisor's SIGTERM stops a command as cleanly as Ctrl-C does.
"""
from __future__ import annotations

import argparse
import os
import signal

from hopseal.errors import ConfigError


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
    from hopseal.secure.vault import open_vault

    crypto = crypto or host_crypto()
    path = path or os.path.join(default_home(), "identity")
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    return open_vault(crypto, path)


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


def stop_on_signals(sigint: bool = False) -> None:
    """Make SIGTERM (a supervisor, systemd) stop the command the way Ctrl-C does: KeyboardInterrupt
    in the main thread. With `sigint`, Ctrl-C too, even when a shell without job control started
    the command with SIGINT ignored (commands that must always unplug or close their ports)."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    if sigint:
        signal.signal(signal.SIGINT, handler)
