"""The runtime's layering, checked on both runtimes (pytest and `micropython tests/mp_run.py`).

- Each package imports only from the layers below it (LAYERS): the codecs in wire/ know nothing of
  connections, channels or asyncio; nothing below apps/ reaches up.
- Optional features stay optional: a board without a vault (no identity, no secure channel)
  imports nothing from secure/ or crypto/, checked by really importing and building one.
"""
import os
import sys

from rt import quiet

# package -> the packages (and top-level modules) it may import from, itself included
LAYERS = {
    "compat": ("compat", "errors"),
    "errors": (),
    "wire": ("compat", "errors", "wire"),
    "crypto": ("compat", "errors", "crypto"),
    "node": ("compat", "errors", "wire"),
    "transport": ("compat", "errors", "wire", "transport"),
    "secure": ("compat", "errors", "wire", "secure"),
    "services": ("compat", "errors", "wire", "node", "secure", "services"),
    "apps": ("compat", "errors", "wire", "crypto", "node", "transport", "secure", "services", "apps"),
}
NO_ASYNCIO = ("wire", "crypto", "errors")  # not even lazily; compat may, inside a function only


def _pkg_dir():
    import hopseal

    f = hopseal.__file__
    return f[: f.rfind("/")]


def _modules():
    """(layer, path, package parts) of every runtime source file."""
    root = _pkg_dir()
    out = []
    for name in sorted(os.listdir(root)):
        if name.endswith(".py"):
            out.append((name[:-3] if name != "__init__.py" else "", root + "/" + name, ["hopseal"]))
        elif name in LAYERS:
            for f in sorted(os.listdir(root + "/" + name)):
                if f.endswith(".py"):
                    out.append((name, root + "/" + name + "/" + f, ["hopseal", name]))
    return out


def _imports(path, pkg, top_level_only=False):
    """Every module a source file imports, at top level or inside a function, as a dotted name."""
    found = []
    with open(path) as f:
        for line in f:
            if top_level_only and line[:1] in (" ", "\t"):
                continue
            s = line.strip()
            if s.startswith("from "):
                target = s[5:].split(" import ")[0].strip()
                names = s.split(" import ", 1)[1] if " import " in s else ""
                if target.startswith("."):
                    dots = len(target) - len(target.lstrip("."))
                    base = pkg[: len(pkg) - (dots - 1)]
                    rest = target[dots:]
                    full = ".".join(base + ([rest] if rest else []))
                    if not rest:  # from . import x, y
                        for n in names.replace("(", "").split(","):
                            n = n.split("#")[0].split(" as ")[0].strip()
                            if n:
                                found.append(full + "." + n)
                        continue
                    target = full
                found.append(target)
            elif s.startswith("import "):
                for n in s[7:].split("#")[0].split(","):
                    found.append(n.split(" as ")[0].strip())
    return found


def _layer_of(module):
    parts = module.split(".")
    if parts[0] != "hopseal" or len(parts) < 2:
        return None
    return parts[1]


def test_each_layer_imports_only_from_the_layers_below():
    checked = 0
    for layer, path, pkg in _modules():
        if not layer:
            continue  # hopseal/__init__.py
        allowed = LAYERS[layer]
        for mod in _imports(path, pkg):
            target = _layer_of(mod)
            if target is None:
                if layer in NO_ASYNCIO:
                    assert mod.split(".")[0] != "asyncio", "%s imports asyncio" % path
                continue
            assert target in allowed, "%s (layer %s) imports %s" % (path, layer, mod)
            checked += 1
    assert checked > 40  # the scan really read the sources
    compat = _pkg_dir() + "/compat.py"
    assert "asyncio" not in _imports(compat, ["hopseal"], True) and "asyncio" in _imports(compat, ["hopseal"])


def test_the_scan_sees_relative_and_lazy_imports():
    # the checker itself: a lazy `from ..secure.vault import x` inside a function is found
    found = _imports(_pkg_dir() + "/apps/node.py", ["hopseal", "apps"])
    assert "hopseal.secure.vault" in found and "hopseal.transport.tcp" in found


def test_a_board_without_a_vault_imports_nothing_from_secure_or_crypto():
    quiet()
    saved = {}
    for k in list(sys.modules):
        if k == "hopseal" or k.startswith("hopseal."):
            saved[k] = sys.modules.pop(k)
    try:
        from hopseal.apps import board, board_config

        boards = _pkg_dir() + "/../../boards"
        cfg = board_config.configure([boards + "/unix.json", "--relay", "b1", "--probe", "5"])
        assert cfg.get("vault") is None
        b = board.Board(cfg)
        assert b.node.has_worker("echo") and b.vault is None
        loaded = [k for k in sys.modules if k.startswith("hopseal.secure") or k.startswith("hopseal.crypto")]
        assert loaded == [], loaded
    finally:
        for k in list(sys.modules):
            if k == "hopseal" or k.startswith("hopseal."):
                del sys.modules[k]
        for k, v in saved.items():
            sys.modules[k] = v
