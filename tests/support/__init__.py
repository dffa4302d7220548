"""What the CPython tests share (tests/ is on sys.path through tests/conftest.py):

    support.procs       processes: `hopseal ARGS` and MicroPython children, free ports, run_mp
    support.scenarios   a hub on a thread, virtual boards, a gateway process, and the scenarios
                        the gateway's system tests and the hardware-in-the-loop tests both run

The engines live in the host package (hopseal_host.procs, hopseal_host.virtual_board), which the
demo and the benchmarks use too; this package only adds what is particular to tests.
"""
