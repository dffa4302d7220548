# hopseal — `make demo` runs the main job, `make test` runs the tests. Both set up .venv first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
MPPATH  := $(CURDIR)/firmware:$(CURDIR)/tests/runtime:.frozen

.PHONY: all venv test test-py test-mp soak demo bench mpy node clean help kafka

all: test

help:
	@echo "make demo    run the main job on this machine (hub, gateway, virtual board)"
	@echo "make test    run the test suite on CPython and the runtime tests under MicroPython"
	@echo "make soak    run the heavy attack variants and the long fuzz runs (HOPSEAL_SOAK=1; minutes)"
	@echo "make bench   run the benchmarks and print a table"
	@echo "make interop build the seeds' programs from the real ockam crate (cargo) and run the interop matrix"
	@echo "make kafka   fetch the Apache Kafka broker's jars for the stream tests (Maven, once, into $(KAFKA_CACHE))"
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

test-py: $(STAMP) kafka
	@echo "== test suite under CPython"
	MICROPYTHON=$(CURDIR)/$(BIN)/micropython $(BIN)/pytest -q

soak: $(STAMP)
	@echo "== soak: attacks with thousands of connections and messages, long decoder fuzzing"
	HOPSEAL_SOAK=1 MICROPYTHON=$(CURDIR)/$(BIN)/micropython $(BIN)/pytest -q -s -m soak tests/system tests/host

demo: $(STAMP)
	$(BIN)/python -m hopseal_host.demo

bench: $(STAMP) kafka
	MICROPYTHON=$(CURDIR)/$(BIN)/micropython $(BIN)/python tools/bench/bench.py

# The real Kafka broker of the stream tests (tests/support/kafka.py, README: Streams on Kafka): its jars
# are fetched with Maven from Maven Central once, outside the repository. Without java or mvn, or
# when the fetch fails (offline), this says so and the Kafka tests skip; with HOPSEAL_REQUIRE_KAFKA=1
# (.ci/run) either is an error.
KAFKA_VERSION ?= 4.4.0
KAFKA_CACHE   ?= $(HOME)/.cache/hopseal/kafka
KAFKA_STAMP   := $(KAFKA_CACHE)/jars/.kafka-$(KAFKA_VERSION)
export HOPSEAL_KAFKA_CACHE := $(KAFKA_CACHE)
kafka:
	@if [ -f "$(KAFKA_STAMP)" ]; then exit 0; fi; \
	missing=""; for t in java mvn; do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
		echo "== kafka: no$$missing on PATH: the Kafka stream tests will be SKIPPED (apt-get install default-jre-headless maven)"; \
		if [ -n "$$HOPSEAL_REQUIRE_KAFKA" ] && [ "$$HOPSEAL_REQUIRE_KAFKA" != 0 ]; then exit 1; fi; exit 0; \
	fi; \
	echo "== kafka: fetching Apache Kafka $(KAFKA_VERSION) (kafka_2.13 and its runtime dependencies) with Maven into $(KAFKA_CACHE)/jars"; \
	rm -rf "$(KAFKA_CACHE)/jars.new"; \
	if ! mvn -q -B -Dstyle.color=never -f tools/kafka/pom.xml -Dmaven.repo.local="$(KAFKA_CACHE)/m2" -Dkafka.version=$(KAFKA_VERSION) \
		dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$(KAFKA_CACHE)/jars.new"; then \
		echo "== kafka: the Maven fetch failed (above): the Kafka stream tests will be SKIPPED"; \
		if [ -n "$$HOPSEAL_REQUIRE_KAFKA" ] && [ "$$HOPSEAL_REQUIRE_KAFKA" != 0 ]; then exit 1; fi; exit 0; \
	fi; \
	rm -rf "$(KAFKA_CACHE)/jars" && mv "$(KAFKA_CACHE)/jars.new" "$(KAFKA_CACHE)/jars" && touch "$(KAFKA_STAMP)"

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
