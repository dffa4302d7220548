"""hopseal: Ockam routing and secure channels for MicroPython, CircuitPython and CPython.

This package is the node runtime. One source tree runs unchanged on every runtime; the CPython
host package (`hopseal_host`) imports it, so each protocol rule exists exactly once.
"""

__version__ = "0.1.0"
