"""The tools' rules: nothing under tools/ imports from tests/, and `make bench` reads
`RESULT <name> <value> <unit>` lines (tools/bench/bench.py)."""
import ast
import importlib.util
import os

from support.procs import ROOT

TOOLS = os.path.join(ROOT, "tools")
TESTS = os.path.join(ROOT, "tests")


def python_files(top):
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(dirpath, name)


def test_tools_never_import_from_tests():
    # every module name a file under tests/ could be imported as (sys.path holds tests/ and tests/runtime)
    test_modules = {"tests", "conftest", "mp_run"}
    for path in python_files(TESTS):
        rel = os.path.relpath(path, TESTS).split(os.sep)
        test_modules.add(rel[0][:-3] if len(rel) == 1 else rel[0])
        test_modules.add(os.path.basename(path)[:-3])
    for path in python_files(TOOLS):
        tree = ast.parse(open(path).read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and " " not in node.value:
                # a path into tests/ put on sys.path or a child's path (text with spaces is prose)
                assert node.value.strip("/") != "tests" and "tests/" not in node.value, (path, node.value)
                continue
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in test_modules, (path, name)


def load_runner():
    spec = importlib.util.spec_from_file_location("bench_runner", os.path.join(TOOLS, "bench", "bench.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_runner_reads_results_with_units():
    runner = load_runner()
    results, rest = runner.parse_results(
        "interpreter: cpython\nRESULT route_rtt_us 123 us\nRESULT min_heap[romfs] >512 KiB\nRESULT no_unit 5\n")
    assert results == {"route_rtt_us": ("123", "us"), "min_heap[romfs]": (">512", "KiB"), "no_unit": ("5", "?")}
    assert rest[0] == "interpreter: cpython" and "malformed" in rest[1]


def test_every_benchmark_exists_and_prints_results():
    runner = load_runner()
    for name, script, _runtimes, _column in runner.BENCHES:
        path = os.path.join(TOOLS, "bench", script)
        assert os.path.exists(path), name
        assert "RESULT " in open(path).read(), name
