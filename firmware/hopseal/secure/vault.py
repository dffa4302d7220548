"""This node's identity on disk: Ed25519 seed, X25519 static key, change history, attestation.

One CBOR file (FILE_NAME) in a directory: the board's flash root or any folder on the host.
Rules this module upholds:
- The file is written atomically: a temporary file is written and flushed, then renamed over the
  old one. On a filesystem whose rename will not replace (FAT) the old file is removed first; a
  complete temporary file left by a crash at that moment is picked up by the next load.
- A damaged vault file is reported with IdentityError and never silently replaced: replacing it
  would change the node's identity.
- An identity is only created with a plausible clock (after MIN_CLOCK): a board that has not set
  its RTC would otherwise publish an attestation that every peer rejects as expired.
- Secrets at rest: where the platform has permission modes (CPython on POSIX) the file (and its
  temporary file) is created 0600 and a directory it creates 0700; loading a vault whose file or
  directory group or others may use logs a warning with the chmod that fixes it. MicroPython's
  `os` has no open/chmod: a board's files get what its filesystem gives (FAT and littlefs have
  no modes; the unix port's follow the umask), and nothing fails for it.
- Works with MicroPython's `os` (no os.path): only stat, mkdir, remove, rename.
"""
import os

from ..compat import const, get_logger, wall_time
from ..errors import IdentityError
from ..wire import cbor
from .identity import (
    IDENTITY_TTL,
    PURPOSE_KEY_TTL,
    Ed25519Signer,
    create_attestation,
    create_identity,
    encode_identity_payload,
    parse_attestation,
    parse_change_history,
)

FILE_NAME = "hopseal_identity.cbor"
FORMAT = 1
MIN_CLOCK = 1704067200  # 2024-01-01T00:00:00Z; an earlier clock is taken as "not set"
REFRESH_MARGIN = 30 * 86400  # renew the attestation when it expires within 30 days
_EXPOSED = const(0o077)  # the group and other permission bits

log = get_logger("vault")


def _join(directory, name):
    if directory in ("", "."):
        return name
    if directory.endswith("/"):
        return directory + name
    return directory + "/" + name


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _create_private(path):
    """A new file at `path` open for writing, readable by its owner only where there are modes."""
    _remove(path)  # a leftover file would keep its mode
    if hasattr(os, "open") and hasattr(os, "fdopen"):  # CPython; MicroPython's os has neither
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        return os.fdopen(os.open(path, flags, 0o600), "wb")
    return open(path, "wb")


def _mkdir_private(path):
    if hasattr(os, "chmod"):  # a platform with modes takes them at mkdir (less the umask)
        os.mkdir(path, 0o700)
    else:
        os.mkdir(path)


def _warn_if_exposed(path, what, fix):
    """Warn if group or others may use `path` (a board's filesystem has no modes: never)."""
    try:
        mode = os.stat(path)[0]
    except OSError:
        return
    if mode & _EXPOSED:
        log.warning("%s %s is open to group/others (mode %o): run chmod %s %s", what, path, mode & 0o777, fix, path)


class Vault:
    """The node's keys and identity documents.

    Attributes: ed25519_seed, x25519_priv, x25519_pub, identity (hopseal.secure.identity.Identity),
    attestation (bytes), path (the file, or None if never saved).
    """

    def __init__(self, crypto, ed25519_seed, x25519_priv, x25519_pub, change_history, attestation,
                 path=None):
        self._crypto = crypto
        self.ed25519_seed = ed25519_seed
        self.x25519_priv = x25519_priv
        self.x25519_pub = x25519_pub
        self.identity = parse_change_history(crypto, change_history)
        self.attestation = attestation
        self._attestation = parse_attestation(attestation)
        self.path = path

    @property
    def identifier(self):
        return self.identity.identifier

    def identifier_text(self):
        return self.identity.identifier_text()

    def signer(self):
        return Ed25519Signer(self._crypto, self.ed25519_seed)

    def payload(self):
        """This node's IdentityAndCredentials for Noise msg2/msg3."""
        return encode_identity_payload(self.identity.change_history, self.attestation)

    @property
    def attestation_expires_at(self):
        return self._attestation.expires_at

    def refresh_attestation(self, now, ttl=PURPOSE_KEY_TTL):
        """Re-attest the X25519 static key from `now` (and save, if the vault has a file)."""
        _check_clock(now)
        att = create_attestation(self._crypto, self.identity, self.signer(), self.x25519_pub, now, ttl)
        self.attestation = att
        self._attestation = parse_attestation(att)
        if self.path is not None:
            self.save(self.path)

    def encode(self):
        return cbor.encode({
            "format": FORMAT,
            "ed25519_seed": self.ed25519_seed,
            "x25519_priv": self.x25519_priv,
            "x25519_pub": self.x25519_pub,
            "change_history": self.identity.change_history,
            "attestation": self.attestation,
        })

    def save(self, path):
        """Write the vault to file `path` atomically."""
        data = self.encode()
        tmp = path + ".tmp"
        with _create_private(tmp) as f:
            f.write(data)
            if hasattr(f, "flush"):
                f.flush()
            if hasattr(os, "fsync") and hasattr(f, "fileno"):
                os.fsync(f.fileno())
        if hasattr(os, "sync"):
            os.sync()
        try:
            os.rename(tmp, path)
        except OSError:
            # FAT (oofatfs) refuses to rename onto an existing file
            _remove(path)
            os.rename(tmp, path)
        self.path = path


def _check_clock(now):
    if now < MIN_CLOCK:
        raise IdentityError("clock not set (now=%d): set the RTC or NTP before creating an identity" % now)


def create_vault(crypto, now, ttl=IDENTITY_TTL, attestation_ttl=PURPOSE_KEY_TTL):
    """A fresh Ed25519 identity and X25519 static key (not saved)."""
    _check_clock(now)
    seed = crypto.random(32)
    signer = Ed25519Signer(crypto, seed)
    x_priv, x_pub = crypto.x25519_keypair()
    identity = create_identity(crypto, signer, now, ttl)
    att = create_attestation(crypto, identity, signer, x_pub, now, attestation_ttl)
    return Vault(crypto, seed, x_priv, x_pub, identity.change_history, att)


def decode_vault(crypto, data, path=None):
    """A Vault from its file bytes; IdentityError if they are damaged."""
    where = path or "vault"
    try:
        d = cbor.decode(data)
    except Exception as e:
        raise IdentityError("%s: unreadable (%s)" % (where, e))
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise IdentityError("%s: not a hopseal vault of format %d" % (where, FORMAT))
    for name, n in (("ed25519_seed", 32), ("x25519_priv", 32), ("x25519_pub", 32),
                    ("change_history", None), ("attestation", None)):
        v = d.get(name)
        if not isinstance(v, bytes) or (n is not None and len(v) != n):
            raise IdentityError("%s: field %s missing or malformed" % (where, name))
    return Vault(crypto, d["ed25519_seed"], d["x25519_priv"], d["x25519_pub"], d["change_history"],
                 d["attestation"], path)


def load_vault(crypto, path):
    """Load the vault file at `path`; None if there is none (a leftover .tmp is recovered)."""
    tmp = path + ".tmp"
    if not _exists(path):
        if not _exists(tmp):
            return None
        # a crash between removing the old file and the rename: the temporary file is complete
        # if it decodes (it is only renamed after being written and flushed)
        with open(tmp, "rb") as f:
            data = f.read()
        vault = decode_vault(crypto, data, tmp)
        os.rename(tmp, path)
        vault.path = path
        _warn_if_exposed(path, "vault file", "600")
        return vault
    _remove(tmp)  # an interrupted write; the file it was meant to replace is intact
    with open(path, "rb") as f:
        data = f.read()
    vault = decode_vault(crypto, data, path)
    _warn_if_exposed(path, "vault file", "600")
    return vault


def open_vault(crypto, directory="", now=None, name=FILE_NAME, refresh_margin=REFRESH_MARGIN):
    """Load this node's vault from `directory`, creating (and saving) it on first use.

    `directory` is "" or "/" on a board's flash, any folder on the host (created if missing, one
    level, mode 0700 where there are modes). `now` defaults to wall_time(). An attestation that
    expires within `refresh_margin` is renewed when the clock is plausible.
    """
    if now is None:
        now = wall_time()
    own_dir = directory not in ("", ".", "/")
    if own_dir and not _exists(directory):
        _mkdir_private(directory)
    path = _join(directory, name)
    vault = load_vault(crypto, path)
    if vault is None:
        vault = create_vault(crypto, now)
        vault.save(path)
        return vault
    if own_dir:
        _warn_if_exposed(directory, "vault directory", "700")
    if now >= MIN_CLOCK and vault.attestation_expires_at < now + refresh_margin \
            and vault.attestation_expires_at < vault.identity.valid_until:
        vault.refresh_attestation(now)
    return vault
