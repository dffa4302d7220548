"""Who may open a channel, and which workers only a channel may reach (ockam-wire §4.3.8).

A trust policy is a function `trust(identifier: bytes) -> bool`, asked once the peer's identity
verified. An access rule (`Node.start_worker(..., access=)`) is `allowed(msg) -> bool`; the one here
admits only messages that came out of a ready secure channel, optionally only from given peers,
and never out of a *carrier* channel: the channel a node opens to a hub to register its relay
carries whatever anyone sends to that relay, so what comes out of it is no more authenticated than
plain transport (it may reach the node's `api` listener and other channels, not its services).
Identifiers are parsed strictly, in one place (`identity.parse_identifier`).
"""
from .identity import parse_identifier


def trust_everyone(identifier):
    return True


def identifier_bytes(i):
    """32 identifier bytes from bytes or from "I" + 64 hex characters (IdentityError otherwise)."""
    return parse_identifier(i) if isinstance(i, str) else bytes(i)


class TrustIdentifiers:
    """Trust only these identifiers (bytes, or "I…" text)."""

    def __init__(self, identifiers):
        self.ids = set(identifier_bytes(i) for i in identifiers)

    def __call__(self, identifier):
        return identifier in self.ids


def channel_only(identifiers=None):
    """An access rule: only messages that came out of a secure channel (from these peers)."""
    ids = None if identifiers is None else set(identifier_bytes(i) for i in identifiers)

    def allowed(msg):
        ch = msg.origin
        if ch is None or not getattr(ch, "is_secure_channel", False) or not ch.ready or ch.carrier:
            return False
        return ids is None or ch.peer_identifier in ids

    return allowed
