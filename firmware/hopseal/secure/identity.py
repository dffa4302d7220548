"""Ockam identities: change histories, purpose-key attestations, the handshake identity payload.

Implements ockam-wire §4.3.2-§4.3.4 (current Ockam, CBOR):
- ChangeHistory = [+ Change], Change = [data, signature, ?previous_signature], where data is
  VersionedData [1, 1, bytes(ChangeData)]. The identifier is SHA256(first Change.data), shown as
  "I" + 64 hex. Signatures are over SHA256(Change.data): Ed25519, or ECDSA-P256-SHA256 (raw r‖s).
- PurposeKeyAttestation = [bytes(VersionedData[1, 2, bytes(PKAData)]), signature], signed by the
  latest primary key; it binds the Noise static X25519 key to the identity.
- IdentityAndCredentials = [change_history, attestation, [* credential]] is the payload of Noise
  msg2 and msg3.

Rules this module upholds:
- Every failure raises IdentityError with a message saying what was wrong; malformed CBOR raises
  IdentityError too (never IndexError/TypeError from deep inside).
- Cheap checks (structure, links, subject, static key, time rules) run before any signature
  verification, so junk costs no public-key operation.
- VerifiedCache remembers signature verification only for byte-identical change history and
  attestation bytes; the time rules and the static-key match are re-checked on every hit.
- Crypto and the clock are passed in: `crypto` is a backend object, `now` is Unix seconds.
"""
from ..compat import const, hexstr, unhex
from ..errors import CryptoError, DecodeError, IdentityError
from ..wire import cbor

ED25519 = const(0)  # key / signature variant index: EdDSA Ed25519
P256 = const(1)  # ECDSA NIST P-256 (SEC1 uncompressed 65-byte key, raw r‖s signature)
_KEY_LEN = (32, 65)
_SIG_LEN = const(64)

_VERSION = const(1)
_DATA_CHANGE = const(1)
_DATA_PURPOSE_KEY = const(2)
_SECURE_CHANNEL_STATIC = const(0)  # PurposePublicKey variant: X25519 static key
_CREDENTIAL_SIGNING = const(1)

IDENTITY_TTL = 10 * 365 * 86400  # ockam default identity TTL: 10 years (the §8.2 vector has it)
PURPOSE_KEY_TTL = 5 * 365 * 86400  # default secure-channel purpose key TTL: 5 years
CLOCK_SKEW = const(60)  # an attestation may be created up to 60 s in the verifier's future


# -- helpers ----------------------------------------------------------------------------------

def identifier_text(identifier):
    """"I" + 64 lowercase hex chars, Ockam's display form of a 32-byte identifier."""
    return "I" + hexstr(bytes(identifier))


def parse_identifier(text):
    """The 32 bytes of an identifier written as "I" + 64 hex chars."""
    if not isinstance(text, str) or len(text) != 65 or text[0] != "I":
        raise IdentityError("identifier must be 'I' followed by 64 hex characters")
    try:
        return unhex(text[1:].lower())
    except Exception:
        raise IdentityError("identifier is not hex")


def _array(v, n_min, what):
    if not isinstance(v, list) or len(v) < n_min:
        raise IdentityError("%s: expected an array of at least %d items" % (what, n_min))
    return v


def _bytes(v, n, what):
    if not isinstance(v, bytes) or (n is not None and len(v) != n):
        if n is None:
            raise IdentityError("%s: expected a byte string" % what)
        raise IdentityError("%s: expected %d bytes" % (what, n))
    return v


def _uint(v, what):
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise IdentityError("%s: expected an unsigned integer" % what)
    return v


def _decode(data, what):
    try:
        return cbor.decode(bytes(data))
    except DecodeError as e:
        raise IdentityError("%s: malformed CBOR (%s)" % (what, e))


def _variant(v, what):
    # minicbor enum: [index, [fields...]]
    v = _array(v, 2, what)
    kind = _uint(v[0], what + " variant")
    fields = _array(v[1], 1, what + " fields")
    return kind, fields


def _public_key(v, what):
    kind, fields = _variant(v, what)
    if kind not in (ED25519, P256):
        raise IdentityError("%s: unknown key type %d" % (what, kind))
    return kind, _bytes(fields[0], _KEY_LEN[kind], what)


def _signature(v, what):
    kind, fields = _variant(v, what)
    if kind not in (ED25519, P256):
        raise IdentityError("%s: unknown signature type %d" % (what, kind))
    return kind, _bytes(fields[0], _SIG_LEN, what)


def _versioned(data, data_type, what):
    v = _array(_decode(data, what), 3, what)
    version = _uint(v[0], what + " version")
    if version != _VERSION:
        raise IdentityError("%s: unsupported version %d" % (what, version))
    dt = _uint(v[1], what + " data_type")
    if dt != data_type:
        raise IdentityError("%s: data_type %d, expected %d" % (what, dt, data_type))
    return _bytes(v[2], None, what + " data")


def _versioned_encode(data_type, fields):
    return cbor.encode([_VERSION, data_type, cbor.encode(fields)])


def _verify(crypto, kind, public_key, msg, sig_kind, sig, what):
    """Verify one signature over the 32-byte digest `msg`; raise IdentityError on failure."""
    if sig_kind != kind:
        raise IdentityError("%s: signature type does not match the key type" % what)
    try:
        if kind == ED25519:
            ok = crypto.ed25519_verify(public_key, msg, sig)
        else:
            if not hasattr(crypto, "p256_verify"):
                raise IdentityError("%s: P-256 signatures are not supported by this crypto backend" % what)
            ok = crypto.p256_verify(public_key, msg, sig)
    except CryptoError as e:
        if kind == P256:
            raise IdentityError("%s: P-256 signature could not be verified here (%s)" % (what, e))
        ok = False
    if not ok:
        raise IdentityError("%s: invalid signature" % what)


def _split_array(buf, what):
    """Exact byte spans of the items of the CBOR array filling `buf` (the cache is keyed by them)."""
    try:
        return cbor.array_spans(buf)
    except DecodeError as e:
        raise IdentityError("%s: %s" % (what, e))


# -- signers ----------------------------------------------------------------------------------

class Ed25519Signer:
    """A primary key that signs with Ed25519 from a 32-byte seed."""

    kind = ED25519

    def __init__(self, crypto, seed):
        if len(seed) != 32:
            raise IdentityError("Ed25519 seed must be 32 bytes")
        self._crypto = crypto
        self._seed = bytes(seed)
        self.public = crypto.ed25519_public(self._seed)

    def sign(self, msg):
        return self._crypto.ed25519_sign(self._seed, msg)


class P256Signer:
    """A primary key held by the backend as a P-256 handle (host backends only)."""

    kind = P256

    def __init__(self, crypto, handle, public):
        self._crypto = crypto
        self._handle = handle
        self.public = bytes(public)

    def sign(self, msg):
        return self._crypto.p256_sign(self._handle, msg)


# -- change history ---------------------------------------------------------------------------

class Identity:
    """A parsed change history (verified when made by import_change_history / create_identity).

    Attributes: identifier (32 bytes), change_history (the exact CBOR bytes), latest_change_hash,
    key_kind and public_key of the latest primary key, valid_from / valid_until (the latest
    change's attestations_valid_from / _until), revoke_all_purpose_keys, change_count.
    """

    def __init__(self, identifier, change_history, changes, latest_change_hash, key_kind,
                 public_key, valid_from, valid_until, revoke_all_purpose_keys):
        self.identifier = identifier
        self.change_history = change_history
        self._changes = changes
        self.latest_change_hash = latest_change_hash
        self.key_kind = key_kind
        self.public_key = public_key
        self.valid_from = valid_from
        self.valid_until = valid_until
        self.revoke_all_purpose_keys = revoke_all_purpose_keys

    @property
    def change_count(self):
        return len(self._changes)

    def identifier_text(self):
        return identifier_text(self.identifier)

    def __repr__(self):
        return "<Identity %s changes=%d>" % (self.identifier_text(), len(self._changes))


def _parse_history(crypto, data):  # ockam-wire §4.3.3
    """Structure and links of a change history; returns (Identity, checks) without signatures.

    `checks` lists (key_kind, public_key, digest, sig_kind, sig, what) for every signature.
    """
    data = bytes(data)
    changes = _decode(data, "change history")
    if not isinstance(changes, list) or not changes:
        raise IdentityError("change history: expected a non-empty array of changes")
    checks = []
    prev_hash = prev_kind = prev_key = prev_from = None
    identifier = None
    for i, change in enumerate(changes):
        what = "change %d" % i
        change = _array(change, 2, what)
        cdata = _bytes(change[0], None, what + " data")
        sig_kind, sig = _signature(change[1], what + " signature")
        prev_sig = change[2] if len(change) > 2 else None
        fields = _array(_decode(_versioned(cdata, _DATA_CHANGE, what), what + " ChangeData"), 5,
                        what + " ChangeData")
        previous_change = fields[0]
        kind, key = _public_key(fields[1], what + " primary_public_key")
        revoke = fields[2]
        if not isinstance(revoke, bool):
            raise IdentityError("%s: revoke_all_purpose_keys must be a bool" % what)
        valid_from = _uint(fields[3], what + " attestations_valid_from")
        valid_until = _uint(fields[4], what + " attestations_valid_until")
        digest = crypto.sha256(cdata)
        if i == 0:
            if previous_change is not None:
                raise IdentityError("change 0: previous_change must be null in the first change")
            if prev_sig is not None:
                raise IdentityError("change 0: the first change carries a previous_signature")
            identifier = digest
        else:
            if previous_change != prev_hash:
                raise IdentityError("%s: previous_change does not match the hash of change %d" % (what, i - 1))
            if valid_from < prev_from:
                raise IdentityError("%s: attestations_valid_from goes back in time" % what)
            if prev_sig is None:
                raise IdentityError("%s: previous_signature missing" % what)
            ps_kind, ps = _signature(prev_sig, what + " previous_signature")
            checks.append((prev_kind, prev_key, digest, ps_kind, ps, what + " previous_signature"))
        checks.append((kind, key, digest, sig_kind, sig, what + " signature"))
        prev_hash, prev_kind, prev_key, prev_from = digest, kind, key, valid_from
    ident = Identity(identifier, data, changes, prev_hash, prev_kind, prev_key, prev_from,
                     valid_until, revoke)
    return ident, checks


def _verify_checks(crypto, checks):
    for kind, key, digest, sig_kind, sig, what in checks:
        _verify(crypto, kind, key, digest, sig_kind, sig, what)


def parse_change_history(crypto, data):
    """Parse a change history and check its structure and links, without checking signatures.

    Only for documents this node trusts already (its own vault); use import_change_history for
    anything that came from a peer.
    """
    return _parse_history(crypto, data)[0]


def import_change_history(crypto, data):
    """Parse and fully verify a change history of any length; return its Identity."""
    ident, checks = _parse_history(crypto, data)
    _verify_checks(crypto, checks)
    return ident


def _change(crypto, previous_change, signer, valid_from, valid_until, previous_signer=None,
            revoke_all=False):
    cdata = _versioned_encode(_DATA_CHANGE, [previous_change, [signer.kind, [signer.public]],
                                             bool(revoke_all), valid_from, valid_until])
    digest = crypto.sha256(cdata)
    change = [cdata, [signer.kind, [signer.sign(digest)]]]
    if previous_signer is not None:
        change.append([previous_signer.kind, [previous_signer.sign(digest)]])
    return change


def create_identity(crypto, signer, now, ttl=IDENTITY_TTL):
    """A new identity with one change for `signer`'s key, valid from `now` for `ttl` seconds."""
    now = _uint(now, "now")
    change = _change(crypto, None, signer, now, now + ttl)
    return parse_change_history(crypto, cbor.encode([change]))


def rotate_key(crypto, identity, old_signer, new_signer, now, ttl=IDENTITY_TTL,
               revoke_all_purpose_keys=False):
    """Append a change that makes `new_signer` the primary key (signed by old and new keys).

    Attestations made before the rotation no longer verify (they name the old latest change).
    """
    if old_signer.kind != identity.key_kind or bytes(old_signer.public) != identity.public_key:
        raise IdentityError("rotate: old_signer is not the identity's current primary key")
    now = _uint(now, "now")
    valid_from = now if now > identity.valid_from else identity.valid_from
    change = _change(crypto, identity.latest_change_hash, new_signer, valid_from, valid_from + ttl,
                     old_signer, revoke_all_purpose_keys)
    return parse_change_history(crypto, cbor.encode(identity._changes + [change]))


# -- purpose key attestation ------------------------------------------------------------------

class Attestation:
    """A parsed PurposeKeyAttestation (§4.3.4). key_type 0 = SecureChannelStatic X25519."""

    def __init__(self, data, subject, latest_change_hash, key_type, public_key, created_at,
                 expires_at, sig_kind, signature):
        self.data = data
        self.subject = subject
        self.latest_change_hash = latest_change_hash
        self.key_type = key_type
        self.public_key = public_key
        self.created_at = created_at
        self.expires_at = expires_at
        self.sig_kind = sig_kind
        self.signature = signature


def parse_attestation(data):  # ockam-wire §4.3.4
    """Parse a PurposeKeyAttestation without verifying it."""
    v = _array(_decode(data, "attestation"), 2, "attestation")
    adata = _bytes(v[0], None, "attestation data")
    sig_kind, sig = _signature(v[1], "attestation signature")
    f = _array(_decode(_versioned(adata, _DATA_PURPOSE_KEY, "attestation"), "attestation data"), 5,
               "attestation data")
    subject = _bytes(f[0], 32, "attestation subject")
    latest = _bytes(f[1], 32, "attestation subject_latest_change_hash")
    key_type, fields = _variant(f[2], "attestation public_key")
    if key_type == _SECURE_CHANNEL_STATIC:
        key = _bytes(fields[0], 32, "attestation X25519 key")
    elif key_type == _CREDENTIAL_SIGNING:
        key = _public_key(fields[0], "attestation credential-signing key")
    else:
        raise IdentityError("attestation: unknown purpose key type %d" % key_type)
    created_at = _uint(f[3], "attestation created_at")
    expires_at = _uint(f[4], "attestation expires_at")
    return Attestation(adata, subject, latest, key_type, key, created_at, expires_at, sig_kind, sig)


def create_attestation(crypto, identity, signer, x25519_public, now, ttl=PURPOSE_KEY_TTL):
    """Attest `x25519_public` as this identity's secure-channel static key; return its bytes.

    expires_at is capped at the identity's attestations_valid_until.
    """
    if signer.kind != identity.key_kind or bytes(signer.public) != identity.public_key:
        raise IdentityError("attestation: signer is not the identity's latest primary key")
    if len(x25519_public) != 32:
        raise IdentityError("attestation: X25519 key must be 32 bytes")
    now = _uint(now, "now")
    expires = now + ttl
    if expires > identity.valid_until:
        expires = identity.valid_until
    adata = _versioned_encode(_DATA_PURPOSE_KEY, [identity.identifier, identity.latest_change_hash,
                                                  [_SECURE_CHANNEL_STATIC, [bytes(x25519_public)]],
                                                  now, expires])
    sig = signer.sign(crypto.sha256(adata))
    return cbor.encode([adata, [signer.kind, [sig]]])


def _check_subject(identity, att, static_key):
    if att.subject != identity.identifier:
        raise IdentityError("attestation: subject %s is not the identity %s"
                            % (identifier_text(att.subject), identity.identifier_text()))
    if att.latest_change_hash != identity.latest_change_hash:
        raise IdentityError("attestation: not made for the identity's latest change")
    if att.key_type != _SECURE_CHANNEL_STATIC:
        raise IdentityError("attestation: key is not a secure-channel static X25519 key")
    if static_key is not None and att.public_key != bytes(static_key):
        raise IdentityError("attestation: attested key differs from the Noise static key")


def _check_times(valid_from, valid_until, created_at, expires_at, now):  # ockam-wire §4.3.4
    if created_at < valid_from:
        raise IdentityError("attestation: created_at %d before attestations_valid_from %d"
                            % (created_at, valid_from))
    if expires_at > valid_until:
        raise IdentityError("attestation: expires_at %d after attestations_valid_until %d"
                            % (expires_at, valid_until))
    if created_at > now + CLOCK_SKEW:
        raise IdentityError("attestation: created_at %d is in the future (now %d)" % (created_at, now))
    if expires_at < now:
        raise IdentityError("attestation: expired at %d (now %d)" % (expires_at, now))


def verify_attestation(crypto, identity, data, now, static_key=None):
    """Verify attestation bytes for a (verified) Identity; return the Attestation.

    `static_key`, when given, must equal the attested X25519 key (the Noise remote static).
    """
    att = parse_attestation(data)
    _check_subject(identity, att, static_key)
    _check_times(identity.valid_from, identity.valid_until, att.created_at, att.expires_at, now)
    _verify(crypto, identity.key_kind, identity.public_key, crypto.sha256(att.data), att.sig_kind,
            att.signature, "attestation")
    return att


# -- verification cache -----------------------------------------------------------------------

class VerifiedCache:
    """LRU of peers whose signatures verified, keyed by the exact (change history, attestation)
    bytes. An entry holds only what the per-call checks need; a hit skips signature verification
    but not the time rules or the static-key match.
    """

    def __init__(self, capacity=8):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._map = {}
        self._order = []  # least recently used first
        self.hits = 0
        self.misses = 0

    def __len__(self):
        return len(self._order)

    def get(self, key):
        v = self._map.get(key)
        if v is None:
            self.misses += 1
            return None
        self.hits += 1
        self._order.remove(key)
        self._order.append(key)
        return v

    def put(self, key, value):
        if key in self._map:
            self._order.remove(key)
        elif len(self._order) >= self.capacity:
            del self._map[self._order.pop(0)]
        self._map[key] = value
        self._order.append(key)

    def clear(self):
        self._map = {}
        self._order = []


# -- handshake payload ------------------------------------------------------------------------

def encode_identity_payload(change_history, attestation):  # ockam-wire §4.3.2
    """IdentityAndCredentials [change_history, attestation, []] (§4.3.2) from their CBOR bytes."""
    return b"\x83" + bytes(change_history) + bytes(attestation) + b"\x80"


def verify_identity_payload(crypto, payload, remote_static, now, cache=None):
    """Decode and verify a peer's IdentityAndCredentials; return its 32-byte identifier.

    `remote_static` is the Noise remote static key the attestation must name. Credentials, if
    any, are accepted and ignored (they matter only with an authority).
    """
    if remote_static is None or len(remote_static) != 32:
        raise IdentityError("identity payload: no Noise remote static key to check it against")
    items = _split_array(payload, "identity payload")
    if len(items) < 2:
        raise IdentityError("identity payload: expected [change_history, attestation, credentials]")
    history, att_bytes = items[0], items[1]
    if len(items) > 2 and items[2][0] >> 5 != 4:
        raise IdentityError("identity payload: credentials must be an array")
    key = (history, att_bytes)
    hit = cache.get(key) if cache is not None else None
    if hit is not None:
        identifier, valid_from, valid_until, att_key, created_at, expires_at = hit
        if att_key != bytes(remote_static):
            raise IdentityError("attestation: attested key differs from the Noise static key")
        _check_times(valid_from, valid_until, created_at, expires_at, now)
        return identifier
    identity, checks = _parse_history(crypto, history)
    att = parse_attestation(att_bytes)
    _check_subject(identity, att, remote_static)
    _check_times(identity.valid_from, identity.valid_until, att.created_at, att.expires_at, now)
    _verify_checks(crypto, checks)
    _verify(crypto, identity.key_kind, identity.public_key, crypto.sha256(att.data), att.sig_kind,
            att.signature, "attestation")
    if cache is not None:
        cache.put(key, (identity.identifier, identity.valid_from, identity.valid_until,
                        att.public_key, att.created_at, att.expires_at))
    return identity.identifier
