"""Run the runtime tests under the MicroPython interpreter.

Usage: micropython tests/mp_run.py [module ...]

Every `tests/runtime/test_*.py` is plain code in the shared subset: module-level `test_*`
functions that raise on failure (plain `assert` is fine in tests). This runner imports each module,
calls every test function, prints one line per failure with its traceback, and ends with the
closing line `micropython: N passed, N failed`. Exit status 1 if anything failed.
"""
import gc
import os
import sys


def _dirname(p):
    i = p.rfind("/")
    return p[:i] if i > 0 else "."


HERE = _dirname(__file__)
RUNTIME = HERE + "/runtime"
REPO = _dirname(HERE)
sys.path.insert(0, RUNTIME)
sys.path.insert(0, REPO + "/firmware")


def modules(argv):
    if argv:
        return [m[:-3] if m.endswith(".py") else m for m in argv]
    names = [n for n in os.listdir(RUNTIME) if n.startswith("test_") and n.endswith(".py")]
    names.sort()
    return [n[:-3] for n in names]


def main():
    passed = failed = 0
    peak = 0
    for modname in modules(sys.argv[1:]):
        try:
            mod = __import__(modname)
        except Exception as e:
            failed += 1
            print("FAIL import", modname)
            sys.print_exception(e)
            continue
        names = [n for n in dir(mod) if n.startswith("test_")]
        names.sort()
        for n in names:
            fn = getattr(mod, n)
            if not callable(fn):
                continue
            gc.collect()
            try:
                fn()
                passed += 1
            except Exception as e:
                failed += 1
                print("FAIL %s.%s" % (modname, n))
                sys.print_exception(e)
            gc.collect()
            used = gc.mem_alloc()  # what a test left alive (modules, caches, leaks)
            if used > peak:
                peak = used
        # between test files: what one file's tests left behind (tasks still queued in asyncio's
        # loop, the file's own module) does not crowd the next file's heap
        if "asyncio" in sys.modules:
            sys.modules["asyncio"].new_event_loop()
        sys.modules.pop(modname, None)
        del mod
        gc.collect()
    print("micropython: most heap left in use after a test (collected) %d bytes" % peak)
    print("micropython: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


main()
