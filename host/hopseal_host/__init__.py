"""hopseal host side (CPython only): hub, gateway, CLI, fast crypto backend, provisioning.

Importing it hands the runtime the host's fast reader of routing messages (fastwire)."""
from . import fastwire as _fastwire

_fastwire.install()
