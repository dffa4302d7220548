"""A wire tap that appends every raw byte a node sends or receives to a file.

Set as `node.wire_tap` (see hopseal.transport.connection.StreamConnection.tap) by `--capture FILE` on the hub and
the gateway: an audit trail showing that relayed traffic is ciphertext.
"""
from __future__ import annotations


class Capture:
    def __init__(self, path: str) -> None:
        self.path = path
        self.f = open(path, "ab", buffering=0)

    def __call__(self, conn, direction: str, data: bytes) -> None:
        self.f.write(data)
