"""hopseal host side (CPython only): hub, gateway, CLI, fast crypto backend, provisioning."""
