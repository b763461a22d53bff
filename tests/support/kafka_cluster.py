"""Real Kafka-protocol brokers without a Kafka install: librdkafka's mock cluster, held by a
process of its own (FACTS.md, "Kafka without a broker"), and a real consumer to read it back."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

confluent_kafka = pytest.importorskip("confluent_kafka")

_HOLDER = """
import logging, sys, time
import confluent_kafka
lines = []
class Keep(logging.Handler):
    def emit(self, record):
        lines.append(record.getMessage())
log = logging.getLogger("mock-cluster")
log.addHandler(Keep())
log.setLevel(logging.DEBUG)
settings = {"test.mock.num.brokers": 3, "logger": log}
if int(sys.argv[1]):
    settings["test.mock.broker.rtt"] = int(sys.argv[1])
holder = confluent_kafka.Producer(settings)
deadline = time.monotonic() + 20
while not any("Mock cluster enabled" in line for line in lines):
    holder.poll(0.05)
    if time.monotonic() > deadline:
        sys.exit("no mock cluster")
line = next(line for line in lines if "Mock cluster enabled" in line)
print(line.rsplit(" ", 1)[1], flush=True)
while True:
    holder.poll(1.0)
"""


class MockKafka:
    """Three brokers on loopback while the holder process lives."""

    def __init__(self, process: subprocess.Popen[str], servers: str) -> None:
        self.process = process
        self.servers = servers

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def read(self, topic: str) -> list[tuple[str | None, Any]]:
        """Every message of `topic` (key, JSON value), each partition from its start up to its
        high watermark, read by a real consumer."""
        consumer = confluent_kafka.Consumer(
            {"bootstrap.servers": self.servers, "group.id": "tests", "enable.auto.commit": False}
        )
        try:
            metadata = consumer.list_topics(topic, timeout=30)
            ends = {}
            for partition in metadata.topics[topic].partitions:
                place = confluent_kafka.TopicPartition(topic, partition)
                _, ends[partition] = consumer.get_watermark_offsets(place, timeout=30)
            consumer.assign(
                [
                    confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING)
                    for p, end in ends.items()
                    if end > 0
                ]
            )
            got: list[tuple[str | None, Any]] = []
            done = {p for p, end in ends.items() if end == 0}
            deadline = time.monotonic() + 60
            while len(done) < len(ends) and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                key = message.key()
                got.append((key.decode() if key else None, json.loads(message.value())))
                if message.offset() + 1 >= ends[message.partition()]:
                    done.add(message.partition())
            assert len(done) == len(ends), f"read {len(got)} messages of {topic}, then stalled"
            return got
        finally:
            consumer.close()


@contextmanager
def mock_kafka(rtt_ms: int = 0) -> Iterator[MockKafka]:
    """A mock cluster held by a subprocess (so that the producer under test is a separate
    client); each broker answers after `rtt_ms`."""
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(rtt_ms)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        servers = process.stdout.readline().strip()
        assert servers.startswith("127.0.0.1:"), servers
        yield MockKafka(process, servers)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)
