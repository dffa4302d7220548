"""Every board file's board starts, every time, at its own heap, in every deployment it offers.

A start is a first boot of a virtual board (the real MicroPython interpreter, `-X heapsize=` the
board file's heap, a fresh flash folder, so a board with a vault creates its identity) from the
firmware as .py source, as .mpy files or as a ROMFS image, over a pseudo-terminal, until its serial
link is up with a stand-in gateway. Each board file lists the deployments that fit its heap
(`deploy`, and `deploy_with_vault` for `--vault`); tools/bench/bench_board_start.py measures the
smallest heap of each. Wi-Fi boards run over stdio here: the start-up is the same but for the
transport module. HOPSEAL_START_RUNS sets the number of starts (default 20).
"""
from __future__ import annotations

import json
import os

import pytest

from hopseal_host.procs import ROOT
from hopseal_host.virtual_board import MODES, try_start

RUNS = int(os.environ.get("HOPSEAL_START_RUNS", "20"))
BOARDS = os.path.join(ROOT, "boards")


def _cases():
    out = []
    for name in sorted(os.listdir(BOARDS)):
        if not name.endswith(".json"):
            continue
        cfg = json.load(open(os.path.join(BOARDS, name)))
        for mode in cfg.get("deploy", []):
            out.append((name, mode, False))
        for mode in cfg.get("deploy_with_vault", []):
            out.append((name, mode, True))
    return out


CASES = _cases()


def test_every_board_file_offers_a_deployment():
    offered = {name for name, _, _ in CASES}
    assert offered == {n for n in os.listdir(BOARDS) if n.endswith(".json")}
    assert all(mode in MODES for _, mode, _ in CASES)


@pytest.mark.parametrize("board,mode,vault", CASES, ids=["%s-%s%s" % (b[:-5], m, "-vault" if v else "") for b, m, v in CASES])
def test_board_starts_every_time(board, mode, vault):
    path = os.path.join(BOARDS, board)
    heap = json.load(open(path))["heap"]
    results = [try_start(path, mode, vault) for _ in range(RUNS)]
    up = [r for r in results if r["up"]]
    used = [r["heap_used"] for r in up if r["heap_used"]]
    print("%s %s%s at %s: %d of %d starts reached link up; heap in use at ready %d..%d bytes"
          % (board, mode, " --vault" if vault else "", heap, len(up), RUNS, min(used or [0]), max(used or [0])))
    failed = [r for r in results if not r["up"]]
    assert not failed, "%d of %d starts failed; the first one's last lines: %s" % (
        len(failed), RUNS, failed[0]["errors"][-3:] or failed[0]["lines"][-3:])
    if vault or json.load(open(path)).get("vault") is not None:
        assert all(any(ln.startswith("identity I") for ln in r["lines"]) for r in up)
