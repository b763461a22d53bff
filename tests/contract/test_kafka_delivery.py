"""The emitter over openlineage-python's Kafka transport, against real brokers (a mock cluster held
by another process): what the brokers acknowledged, in order, keyed as the client keys."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import Job, JobEvent
from openlineage.client.transport.kafka import KafkaConfig, KafkaTransport

from ol_dagster.adapters.client_events import client_event
from ol_dagster.adapters.event_json import event_dict
from ol_dagster.adapters.kafka_delivery import message_key
from ol_dagster.adapters.openlineage_emitter import OpenLineageEmitter
from ol_dagster.domain.datasets import Dataset, DatasetId
from ol_dagster.domain.lineage import (
    DatasetObservation,
    JobRef,
    ParentRef,
)
from tests.support.dagster_processes import free_port
from tests.support.kafka_cluster import MockKafka, mock_kafka
from tests.support.lineage_events import run_events
from tests.support.schemas import OpenLineageSchemas

TOPIC = "lineage"


@pytest.fixture(scope="module")
def kafka() -> Iterator[MockKafka]:
    with mock_kafka() as cluster:
        yield cluster


def _emitter(servers: str, topic: str = TOPIC, **config: Any) -> OpenLineageEmitter:
    settings = {"bootstrap.servers": servers, "message.timeout.ms": 3000, **config}
    transport = KafkaTransport(KafkaConfig.from_dict({"topic": topic, "config": settings}))
    return OpenLineageEmitter(OpenLineageClient(transport=transport), "1.13.27")


def test_the_key_is_the_clients(kafka: MockKafka) -> None:
    transport = KafkaTransport(
        KafkaConfig.from_dict({"topic": TOPIC, "config": {"bootstrap.servers": kafka.servers}})
    )
    parent = ParentRef(
        run_id="0190f1d2-0000-7000-8000-00000000000a",
        job=JobRef("dagster", "etl"),
        root_run_id="0190f1d2-0000-7000-8000-00000000000b",
        root_job=JobRef("airflow", "dag"),
    )
    events = [event_dict(e, "1.13.27") for e in run_events(1) + run_events(1, parent=parent)]
    rootless = copy.deepcopy(events[1])  # a parent facet of another producer: no root
    del rootless["run"]["facets"]["parent"]["root"]
    events += [rootless, event_dict(_dataset_event(), "1.13.27")]
    for event in events:
        assert message_key(event) == transport._get_message_key(client_event(event))
    job_event = JobEvent(eventTime="2026-11-25T03:00:00Z", producer="p", job=Job("ns", "j"))
    assert message_key({"job": {"namespace": "ns", "name": "j"}}) == (
        transport._get_message_key(job_event)
    )


def test_acknowledged_events_arrive_in_order_under_their_key(
    kafka: MockKafka, schemas: OpenLineageSchemas
) -> None:
    emitter = _emitter(kafka.servers, topic="in-order")
    events = run_events(8)
    assert emitter.emit(events).accepted == 8
    read = kafka.read("in-order")
    by_key: dict[str | None, list[tuple[str, str]]] = {}
    for key, event in read:  # one partition a key: read back in the order sent
        by_key.setdefault(key, []).append((event["eventType"], event["job"]["name"]))
    assert by_key == {
        f"run:default/job{i}": [("START", f"job{i}"), ("COMPLETE", f"job{i}")] for i in range(4)
    }
    for _, event in read:
        schemas.validate_event(event)


def test_a_configured_message_key_is_used(kafka: MockKafka) -> None:
    settings = {"bootstrap.servers": kafka.servers}
    config = KafkaConfig.from_dict({"topic": "keyed", "config": settings, "messageKey": "all"})
    client = OpenLineageClient(transport=KafkaTransport(config))
    assert OpenLineageEmitter(client, "1.13.27").emit(run_events(3)).accepted == 3
    assert {key for key, _ in kafka.read("keyed")} == {"all"}


def test_unacknowledged_events_are_a_retryable_failure() -> None:
    emitter = _emitter(f"127.0.0.1:{free_port()}", **{"message.timeout.ms": 500})
    result = emitter.emit(run_events(3), deadline=time.monotonic() + 10)
    assert result.accepted == 0 and result.retryable
    assert result.failure and "_MSG_TIMED_OUT" in result.failure, result


def test_no_acknowledgement_by_the_deadline_is_a_failure_that_names_it() -> None:
    emitter = _emitter(f"127.0.0.1:{free_port()}", **{"message.timeout.ms": 60_000})
    started = time.monotonic()
    result = emitter.emit(run_events(3), deadline=started + 1.0)
    assert result.accepted == 0 and result.retryable
    assert result.failure and "by the tick's deadline" in result.failure, result
    assert time.monotonic() - started < 3.0


def test_a_producer_queue_full_while_the_brokers_are_down_ends_by_the_deadline() -> None:
    """A queue of 5 messages, brokers that never answer: handing the 6th event to the producer
    waits for room, and that wait ends at the deadline, not at `message.timeout.ms`."""
    emitter = _emitter(
        f"127.0.0.1:{free_port()}",
        **{"message.timeout.ms": 60_000, "queue.buffering.max.messages": 5},
    )
    started = time.monotonic()
    result = emitter.emit(run_events(20), deadline=started + 1.0)
    took = time.monotonic() - started
    assert result.accepted == 0 and result.retryable, result
    assert result.failure and "by the tick's deadline" in result.failure, result
    assert took < 4.0, f"{took:.1f} s"


def test_an_event_larger_than_the_producer_takes_is_refused_for_good(kafka: MockKafka) -> None:
    emitter = _emitter(kafka.servers, topic="small", **{"message.max.bytes": 3000})
    small, large = run_events(1), run_events(1, job="j" * 5000)
    result = emitter.emit(small + large)
    assert result.accepted == 1 and not result.retryable, result
    assert result.refused and "j" * 5000 in result.refused
    assert result.failure and "MSG_SIZE_TOO_LARGE" in result.failure


def test_a_sasl_password_is_never_in_a_failure() -> None:
    secret = "s3cret-passw0rd"
    emitter = _emitter(
        f"127.0.0.1:{free_port()}",
        **{
            "message.timeout.ms": 500,
            "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN",
            "sasl.username": "me",
            "sasl.password": secret,
        },
    )
    result = emitter.emit(run_events(1), deadline=time.monotonic() + 5)
    assert result.failure and secret not in result.failure
    assert emitter.probe("default") is not None


def _dataset_event() -> DatasetObservation:
    return DatasetObservation(
        event_time=datetime(2026, 11, 25, 3, 0, tzinfo=timezone.utc),
        dataset=Dataset(id=DatasetId("s3://bucket", "feed"), asset_key=("feed",)),
    )
