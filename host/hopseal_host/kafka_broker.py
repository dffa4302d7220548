"""A local single-node Apache Kafka broker (KRaft) for the stream tests and benchmarks (issue 11).

`make kafka` fetches the broker's jars with Maven from Maven Central once (tools/kafka/pom.xml)
into HOPSEAL_KAFKA_CACHE (default ~/.cache/hopseal/kafka, outside the repository): jars/ holds
them, m2/ is Maven's repository. KafkaBroker formats a throwaway data directory with
kafka.tools.StorageTool and runs `java -cp 'jars/*' kafka.Kafka server.properties` on two free
loopback ports (client and controller), logging to server.log in that directory; it can be
stopped, killed (SIGKILL) and started again on the same ports and data. Development and test
use only: a production hub talks to the operator's own Kafka cluster.

    python -m hopseal_host.kafka_broker [--port 9092]     a broker to try a hub on; Ctrl-C stops it
"""
from __future__ import annotations

import base64
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from .procs import free_port

CACHE = os.environ.get("HOPSEAL_KAFKA_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "hopseal", "kafka")
JARS = os.path.join(CACHE, "jars")
READY = "Kafka Server started"  # KafkaRaftServer's line once broker and controller serve
# for tests: C1 only and the serial collector start (and restart) the broker faster and take less
# of a shared machine's CPU; benchmarks keep the JVM's defaults
FAST_START = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


def required() -> bool:
    """True where the Kafka tests must run (CI: .ci/run sets HOPSEAL_REQUIRE_KAFKA=1)."""
    return os.environ.get("HOPSEAL_REQUIRE_KAFKA", "") not in ("", "0")


def unavailable() -> str | None:
    """Why a broker cannot run here (one line), or None."""
    if not shutil.which("java"):
        return "no java on PATH (install a JDK or JRE 17+, e.g. apt-get install default-jre-headless)"
    if not glob.glob(os.path.join(JARS, "kafka_2.13-*.jar")):
        return "no Kafka jars in %s (run `make kafka`: it needs mvn and Maven Central)" % JARS
    try:
        import aiokafka  # noqa: F401
    except ImportError:
        return "aiokafka is not installed (pip install -r requirements.txt)"
    return None


def kafka_version() -> str:
    jars = glob.glob(os.path.join(JARS, "kafka_2.13-*.jar"))
    return os.path.basename(jars[0])[len("kafka_2.13-"):-len(".jar")] if jars else "?"


_LOG4J = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka_request.name = kafka.request.logger
logger.kafka_request.level = warn
"""

_SERVER = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# a broker restarted after a kill registers again once its old session expires: 2 s, not 9
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=2000
num.network.threads=2
num.io.threads=2
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=16777216
"""


class KafkaBroker:
    """One single-node KRaft broker in `workdir` (created if missing, removed by `cleanup`)."""

    def __init__(self, workdir: str | None = None, jars: str = JARS, heap: str = "512m", port: int = 0,
                 jvm: tuple[str, ...] = ()) -> None:
        self.dir = workdir or tempfile.mkdtemp(prefix="hopseal-kafka-")
        self.jvm = tuple(jvm)
        self.jars = jars
        self.heap = heap
        self.port = port or free_port()
        self.controller = free_port()
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "server.log")
        self.out_path = os.path.join(self.dir, "java.out")
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        return "127.0.0.1:%d" % self.port

    @property
    def url(self) -> str:
        """The hub's --streams URL for this broker."""
        return "kafka://" + self.bootstrap

    def _java(self, main: str, *args: str) -> list[str]:
        return ["java", "-Xms128m", "-Xmx" + self.heap, *self.jvm, "-Djava.awt.headless=true",
                "-Dlog4j2.configurationFile=" + os.path.join(self.dir, "log4j2.properties"),
                "-cp", os.path.join(self.jars, "*"), main, *args]

    def _format(self) -> None:
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(self.dir, "server.properties"), "w") as f:
            f.write(_SERVER.format(port=self.port, controller=self.controller, data=self.data))
        with open(os.path.join(self.dir, "log4j2.properties"), "w") as f:
            f.write(_LOG4J.format(log=self.log_path))
        cluster = "-"
        while cluster.startswith("-"):  # as Kafka's Uuid.randomUuid: kafka-storage would take it for an option
            cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        r = subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t", cluster,
                                      "-c", os.path.join(self.dir, "server.properties")),
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("kafka-storage format failed (%d): %s" % (r.returncode, (r.stdout + r.stderr)[-2000:]))

    def start(self, timeout: float = 120) -> None:
        """Start the broker (formatting the data directory the first time); return once it serves."""
        if self.proc is not None and self.proc.poll() is None:
            return
        if not os.path.isdir(self.data):
            self._format()
        offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        out = open(self.out_path, "ab")
        self.proc = subprocess.Popen(self._java("kafka.Kafka", os.path.join(self.dir, "server.properties")),
                                     stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        out.close()
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the Kafka broker exited with %d while starting:\n%s" % (self.proc.returncode, self.log_tail()))
            if os.path.exists(self.log_path):
                with open(self.log_path, "rb") as f:
                    f.seek(offset)
                    if READY.encode() in f.read():
                        return
            time.sleep(0.2)
        self.kill()
        raise RuntimeError("the Kafka broker did not start within %.0f s:\n%s" % (timeout, self.log_tail()))

    def stop(self, timeout: float = 60) -> None:
        """Controlled shutdown (SIGTERM), SIGKILL if it takes longer than `timeout`."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the broker dies at once, as in a crash of its process."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def restart(self, kill: bool = False) -> None:
        """Stop (or kill) and start again on the same ports and data."""
        self.kill() if kill else self.stop()
        self.start()

    def log_tail(self, n: int = 40) -> str:
        lines = []
        for path in (self.out_path, self.log_path):
            if os.path.exists(path):
                with open(path, "rb") as f:
                    f.seek(max(0, os.path.getsize(path) - 64 * 1024))
                    lines += ["%s: %s" % (os.path.basename(path), line)
                              for line in f.read().decode("utf-8", "replace").splitlines()[-n:]]
        return "\n".join(lines)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m hopseal_host.kafka_broker",
                                 description="Run a throwaway single-node Kafka broker (KRaft) on 127.0.0.1 from the "
                                             "jars `make kafka` fetched, until Ctrl-C; its data is removed then.")
    ap.add_argument("--port", type=int, default=0, help="client port (default: a free one)")
    args = ap.parse_args(argv)
    reason = unavailable()
    if reason:
        print("kafka_broker: error: " + reason, file=sys.stderr)
        return 1
    broker = KafkaBroker(port=args.port)
    try:
        broker.start()
        print("kafka broker %s on %s (hub: --streams %s); data in %s; Ctrl-C stops it"
              % (kafka_version(), broker.bootstrap, broker.url, broker.dir), flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in the background
        while broker.proc is not None and broker.proc.poll() is None:
            time.sleep(0.5)
        print("kafka_broker: error: the broker exited:\n" + broker.log_tail(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except RuntimeError as e:
        print("kafka_broker: error: %s" % e, file=sys.stderr)
        return 1
    finally:
        broker.cleanup()


if __name__ == "__main__":
    sys.exit(main())
