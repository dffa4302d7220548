"""`hopseal.apps.node` (a node) with the runtime executed in place from a ROMFS image (see
host/hopseal_host/romfs.py): `python -m hopseal_host.romfs run IMAGE tools/bench/mp_romfs_app.py ARGS`
with MICROPYPATH=firmware:.frozen."""
import sys

import romfs_mount  # noqa: F401  (mounts /rom first on sys.path)
from hopseal.apps import node

sys.exit(node.main(sys.argv[1:]))
