"""Load the shared test vectors (../shared/vectors relative to the repository root).

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
    here = _dirname(__file__)  # tests/runtime
    repo = _dirname(_dirname(here))
    return repo + "/../shared/vectors"


def load(name):
    with open(vectors_dir() + "/" + name) as f:
        return json.load(f)


def unhex(s):
    from binascii import unhexlify

    return unhexlify(s)
