"""The real Apache Kafka broker for the stream tests (issue 11): the pytest side of
hopseal_host.kafka_broker (which the benchmarks use too).

The fixture `kafka_broker` starts one single-node KRaft broker per test session (tests/conftest.py
imports it) on free ports with a throwaway data directory, and stops it at the end. Where Java,
the jars (`make kafka`) or aiokafka are missing, the Kafka tests skip with one reason, printed
again at the end of the run; with HOPSEAL_REQUIRE_KAFKA=1 (.ci/run sets it) they fail with that
reason instead.
"""
from __future__ import annotations

import pytest

from hopseal_host.kafka_broker import CACHE, JARS, KafkaBroker, kafka_version, required, unavailable  # noqa: F401

_skipped: list[str] = []


@pytest.fixture(scope="session")
def kafka_broker():
    """One real broker for the whole test session (skips, or fails in CI, where none can run)."""
    reason = unavailable()
    if reason:
        if required():
            pytest.fail("the Kafka tests must run here (HOPSEAL_REQUIRE_KAFKA=1), but " + reason, pytrace=False)
        _skipped.append(reason)
        pytest.skip("Kafka tests skipped: " + reason)
    broker = KafkaBroker()
    try:
        broker.start()
    except Exception:
        broker.cleanup()
        raise
    yield broker
    broker.cleanup()


def pytest_terminal_summary(terminalreporter):
    if _skipped:
        terminalreporter.write_line("KAFKA TESTS SKIPPED: %s" % _skipped[0], yellow=True, bold=True)
