# hopseal — `make demo` runs the main job, `make test` runs the tests. Both set up .venv first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
MPPATH  := $(CURDIR)/firmware:$(CURDIR)/tests/runtime:.frozen

.PHONY: all venv test test-py test-mp soak demo bench mpy node clean help

all: test

help:
	@echo "make demo    run the main job on this machine (hub, gateway, virtual board)"
	@echo "make test    run the test suite on CPython and the runtime tests under MicroPython"
	@echo "make soak    run the heavy attack variants and the long fuzz runs (HOPSEAL_SOAK=1; minutes)"
	@echo "make bench   run the benchmarks and print a table"
	@echo "make interop build the seeds' programs from the real ockam crate (cargo) and run the interop matrix"
	@echo "make mpy     compile the firmware to .mpy with mpy-cross and report sizes"
	@echo "make node    run a hopseal node with the default services on 127.0.0.1:4000"

$(STAMP): requirements.txt pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

venv: $(STAMP)

test: test-mp test-py

test-mp: $(STAMP)
	@echo "== runtime tests under MicroPython ($$($(BIN)/micropython -c 'import sys; print(sys.version)'))"
	MICROPYPATH=$(MPPATH) $(BIN)/micropython tests/mp_run.py

test-py: $(STAMP)
	@echo "== test suite under CPython"
	MICROPYTHON=$(CURDIR)/$(BIN)/micropython $(BIN)/pytest -q

soak: $(STAMP)
	@echo "== soak: attacks with thousands of connections and messages, long decoder fuzzing"
	HOPSEAL_SOAK=1 MICROPYTHON=$(CURDIR)/$(BIN)/micropython $(BIN)/pytest -q -s -m soak tests/system tests/host

demo: $(STAMP)
	$(BIN)/python -m hopseal_host.demo

bench: $(STAMP)
	MICROPYTHON=$(CURDIR)/$(BIN)/micropython $(BIN)/python tools/bench/bench.py

# The Rust side of the interop tests: built outside the repository so later runs are incremental;
# nice, since the build takes both cores for minutes the first time (README: Interop with real Ockam)
INTEROP_TARGET ?= $(HOME)/.cache/hopseal/interop-target
.PHONY: interop
interop: $(STAMP)
	@echo "== interop: tests/interop's programs from the ockam crate (Cargo.lock), then the scenario matrix"
	cd tests/interop && CARGO_TARGET_DIR=$(INTEROP_TARGET) nice -n 19 cargo build --locked --bins
	CARGO_TARGET_DIR=$(INTEROP_TARGET) MICROPYTHON=$(CURDIR)/$(BIN)/micropython $(BIN)/pytest -q tests/interop

mpy: $(STAMP)
	$(BIN)/python tools/build_mpy.py

node: $(STAMP)
	$(BIN)/hopseal node --listen 127.0.0.1:4000

clean:
	rm -rf $(VENV) build .hypothesis
