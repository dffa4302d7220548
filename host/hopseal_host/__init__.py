"""hopseal host side (CPython only): hub, gateway, CLI, fast crypto backend, provisioning.

Importing it hands the runtime the host's fast reader of routing messages (fastwire) and its TCP
streams (fastio)."""
from . import fastio as _fastio
from . import fastwire as _fastwire

_fastwire.install()
_fastio.install()
