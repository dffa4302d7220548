"""Load the test vectors in tests/vectors (see the README there for where each came from).

Works on CPython and MicroPython (no os.path there). HOPSEAL_VECTORS overrides the folder.
"""
import json
import os


def _dirname(p):
    i = p.rfind("/")
    return p[:i] if i > 0 else ("/" if i == 0 else ".")


def vectors_dir():
    env = os.getenv("HOPSEAL_VECTORS") if hasattr(os, "getenv") else None
    if env:
        return env
    return _dirname(_dirname(__file__)) + "/vectors"  # tests/runtime/.. -> tests/vectors


def load(name):
    with open(vectors_dir() + "/" + name) as f:
        return json.load(f)


def unhex(s):
    from binascii import unhexlify

    return unhexlify(s)
