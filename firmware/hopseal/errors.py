"""The project's own error types.

Every protocol violation raises one of these, never a bare ValueError/IndexError from deep
inside a decoder. Callers that must survive bad input catch `HopsealError` and nothing wider.
"""


class HopsealError(Exception):
    def __init__(self, msg=""):
        super().__init__(msg)


class DecodeError(HopsealError):
    """Malformed bytes: truncated, wrong type, too deep, too long, trailing garbage."""


class EncodeError(HopsealError):
    """A value that cannot be put on the wire (unsupported type, too large)."""


class FrameError(HopsealError):
    """A transport frame is unacceptable: bad version byte, oversized length, bad CRC."""


class RoutingError(HopsealError):
    """A message cannot be routed: empty route, unknown worker, unsupported transport type."""


class TransportError(HopsealError):
    """A connection failed or was closed."""


class ReceiveTimeout(HopsealError):
    """Nothing arrived in time."""


class CryptoError(HopsealError):
    """Authentication failed or a key was rejected. Deliberately opaque."""


class HandshakeError(HopsealError):
    """A secure-channel handshake message was rejected."""


class IdentityError(HopsealError):
    """An identity, change history or purpose-key attestation failed verification."""


class ChannelError(HopsealError):
    """A secure-channel message was rejected (replay, bad nonce, closed channel)."""


class ConfigError(HopsealError):
    """A board file, command-line option or config value is wrong; the message says which."""
