"""Route the runtime's tiny loggers into Python `logging` (level from -v/-q or HOPSEAL_LOG_LEVEL)."""
from __future__ import annotations

import logging
import os
import sys

from hopseal.compat import set_log_sink


def setup(verbosity: int = 0) -> None:
    env = os.environ.get("HOPSEAL_LOG_LEVEL")
    if env:
        level = getattr(logging, env.upper(), logging.INFO)
    else:
        level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG if verbosity > 0 else logging.ERROR)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def sink(lvl: int, name: str, msg: str) -> None:
        logging.getLogger("hopseal." + name).log(lvl, msg)

    set_log_sink(sink, level)
