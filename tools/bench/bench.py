"""`make bench`: run every benchmark on CPython and on MicroPython and print one table.

    python tools/bench/bench.py [--only NAME ...] [--heapsize 256K]

Every benchmark prints machine-readable lines

    RESULT <name> <value> <unit>

(name and unit without spaces; value a number, or a bound such as `>512`), which this runner
collects into the table; any other output is shown as-is below the table. A benchmark that prints
no RESULT line, or a RESULT line without a unit, is reported there too. A benchmark may be
CPython-only and start MicroPython processes itself; its figures then go in the column of what
they measure, not of who ran them. Benchmarks import only the runtime (firmware/) and the host
package (host/), never anything from tests/.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "host")]

from hopseal_host import mpy  # noqa: E402
from hopseal_host.procs import micropython_path, mp_env, py_env  # noqa: E402

# name, script (in tools/bench), runtimes it runs on, and for scripts that orchestrate processes
# themselves (run by CPython) the column their figures belong in.
BENCHES = [
    ("routing", "bench_routing.py", ("cpython", "micropython"), None),
    ("crypto", "bench_crypto.py", ("cpython", "micropython"), None),
    ("serial", "bench_serial.py", ("cpython", "micropython"), None),
    ("channel", "bench_channel.py", ("cpython", "micropython"), None),
    ("handshake_heap", "bench_heap.py", ("cpython",), "micropython"),
    ("serial_link", "bench_serial_link.py", ("cpython",), "system"),
    ("hub", "bench_hub.py", ("cpython",), "system"),
    ("portal", "bench_portal.py", ("cpython",), "system"),
    ("board_start", "bench_board_start.py", ("cpython",), "micropython"),
    ("streams", "bench_streams.py", ("cpython",), "system"),
    ("streams_kafka", "bench_streams_kafka.py", ("cpython",), "system"),
]
COLUMNS = (("cpython", "CPython"), ("micropython", "MicroPython"), ("system", "system"))


def parse_results(out: str) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """RESULT lines as {name: (value, unit)} (in order), and every other non-empty line; a
    RESULT line without a unit keeps unit "?" and is listed among the other lines."""
    results: dict[str, tuple[str, str]] = {}
    rest: list[str] = []
    for line in out.splitlines():
        if line.startswith("RESULT "):
            parts = line.split()
            if len(parts) == 4:
                results[parts[1]] = (parts[2], parts[3])
                continue
            if len(parts) == 3:
                results[parts[1]] = (parts[2], "?")
            rest.append("malformed (want RESULT <name> <value> <unit>): " + line)
        elif line.strip():
            rest.append(line)
    return results, rest


def run(script: str, runtime: str, heapsize: str | None) -> tuple[dict[str, tuple[str, str]], str]:
    path = os.path.join(HERE, script)
    if runtime == "micropython":
        cmd = [micropython_path()] + (["-X", "heapsize=" + heapsize] if heapsize else []) + [path]
        env = mp_env()
    else:
        cmd = [sys.executable, path]
        env = py_env()
    try:
        p = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return {}, "timed out"
    results, rest = parse_results(p.stdout + (("\n" + p.stderr) if p.returncode else ""))
    if not results:
        rest.append("(no RESULT lines)")
    if p.returncode:
        rest.append("(exit status %d)" % p.returncode)
    return results, "\n".join(rest)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", help="run only these benchmarks (by name)")
    ap.add_argument("--heapsize", default=None, help="MicroPython -X heapsize for the in-interpreter benchmarks")
    a = ap.parse_args()
    rows: list[tuple[str, str, str, dict[str, str]]] = []  # benchmark, metric, unit, value per column
    notes: list[str] = []
    for name, script, runtimes, column in BENCHES:
        if a.only and name not in a.only:
            continue
        per: dict[str, dict[str, tuple[str, str]]] = {}
        for rt in runtimes:
            print("running %s on %s ..." % (name, rt), file=sys.stderr, flush=True)
            res, rest = run(script, rt, a.heapsize)
            per[rt] = res
            if rest:
                notes.append("--- %s (%s)\n%s" % (name, rt, rest))
        metrics: dict[str, str] = {}  # name -> unit, in first-seen order
        for rt in runtimes:
            for k, (_, unit) in per[rt].items():
                metrics.setdefault(k, unit)
        for k, unit in metrics.items():
            if column:
                rows.append((name, k, unit, {column: per["cpython"].get(k, ("-",))[0]}))
            else:
                rows.append((name, k, unit, {rt: per[rt].get(k, ("-",))[0] for rt in runtimes}))
    if not a.only or "firmware" in a.only:
        built = mpy.build(os.path.join(ROOT, "build", "mpy"))
        rows.append(("firmware", "mpy_total_bytes (mpy-cross %s)" % " ".join(mpy.FLAGS), "B",
                     {"micropython": str(sum(r[2] for r in built))}))
    w = max([len(r[1]) for r in rows] + [10])
    u = max([len(r[2]) for r in rows] + [4])
    print()
    print("%-14s %-*s %-*s" % ("benchmark", w, "metric", u, "unit") + "".join(" %14s" % label for _, label in COLUMNS))
    print("-" * (16 + w + u + 15 * len(COLUMNS)))
    for name, metric, unit, vals in rows:
        print("%-14s %-*s %-*s" % (name, w, metric, u, unit) + "".join(" %14s" % vals.get(key, "") for key, _ in COLUMNS))
    print()
    print("system: measured across real processes (MicroPython virtual board, CPython gateway/hub/client).")
    if notes:
        print()
        print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
