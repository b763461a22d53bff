"""At least once through Kafka: real Dagster runs, the sensor as the daemon runs it, openlineage-
python's `kafka` transport configured as users do, real brokers (librdkafka's mock cluster in a
process of its own) and a real consumer reading the topic back."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from dagster import DagsterInstance, Definitions

from ol_dagster import openlineage_sensor
from ol_dagster.adapters.kafka_delivery import message_key
from ol_dagster.entry.cli import cli
from tests.support.backend import LineageBackend
from tests.support.dagster_env import SensorDriver, audited, dagster_instance, etl, run_config_for
from tests.support.dagster_processes import free_port
from tests.support.kafka_cluster import mock_kafka
from tests.support.schemas import OpenLineageSchemas

TOPIC = "openlineage.events"


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    with dagster_instance("sqlite_sharded", tmp_path / "dagster_home") as dagster:  # the default
        yield dagster


def _to_kafka(monkeypatch: pytest.MonkeyPatch, servers: str, **config: Any) -> None:
    """The client's kafka transport, configured by environment as users do."""
    for name in ("OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED", "OPENLINEAGE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "kafka")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TOPIC", TOPIC)
    settings = {"bootstrap.servers": servers, "message.timeout.ms": 3000, **config}
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__CONFIG", json.dumps(settings))


def _driver(instance: DagsterInstance, **kwargs: Any) -> SensorDriver:
    """A sensor of its own (a new container: a new client, made from the environment now)."""
    sensor = openlineage_sensor(**kwargs)
    return SensorDriver(sensor, Definitions(jobs=[etl, audited], sensors=[sensor]), instance)


def _runs(instance: DagsterInstance, count: int) -> None:
    for index in range(count):
        if index % 2:
            audited.execute_in_process(
                instance=instance, run_config=run_config_for(fail=True), raise_on_error=False
            )
        else:
            etl.execute_in_process(instance=instance)


def _key(event: dict[str, Any]) -> tuple[str, str, str]:
    return (event["run"]["runId"], event["eventType"], event["job"]["name"])


def _reference(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch, backend: LineageBackend
) -> list[dict[str, Any]]:
    """What a sensor sends of this instance over HTTP, when nothing goes wrong."""
    for name in ("OPENLINEAGE__TRANSPORT__TYPE", "OPENLINEAGE__TRANSPORT__TOPIC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OPENLINEAGE__TRANSPORT__CONFIG", raising=False)
    monkeypatch.setenv("OPENLINEAGE_URL", backend.url)
    _driver(instance, name="reference").tick_until_caught_up()
    return list(backend.received)


def test_a_broker_that_is_down_fails_the_tick_and_the_cursor_waits(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    _to_kafka(monkeypatch, f"127.0.0.1:{free_port()}", **{"message.timeout.ms": 1500})
    _runs(instance, 2)
    driver = _driver(instance, tick_budget_seconds=5)
    for _ in range(2):
        # the broker's timeout, or the tick's deadline on its last retry
        with pytest.raises(Exception, match=r"_MSG_TIMED_OUT|no acknowledgement from the brokers"):
            driver.tick()
        assert driver.cursor is None  # not one event passed


def test_every_event_arrives_once_in_its_run_order_under_the_clients_key(
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    backend: LineageBackend,
    schemas: OpenLineageSchemas,
) -> None:
    _runs(instance, 3)
    with mock_kafka() as kafka:
        _to_kafka(monkeypatch, kafka.servers)
        _driver(instance, record_filter_limit=7).tick_until_caught_up()
        consumed = kafka.read(TOPIC)
    expected = _reference(instance, monkeypatch, backend)

    for _, event in consumed:
        schemas.validate_event(event)
    assert Counter(_key(e) for _, e in consumed) == Counter(_key(e) for e in expected)
    assert max(Counter(_key(e) for _, e in consumed).values()) == 1  # once per run and type
    for key, event in consumed:
        assert key == message_key(event)
    # A Dagster run's events (its steps' too: their parent is the run) share one key, so one
    # partition: read back in the order the sensor sent them.
    by_key: dict[str | None, list[tuple[str, str, str]]] = {}
    for key, event in consumed:
        by_key.setdefault(key, []).append(_key(event))
    order = {_key(e): index for index, e in enumerate(expected)}
    for keys in by_key.values():
        assert keys == sorted(keys, key=order.__getitem__)
    assert len(by_key) == 2  # the two jobs


def test_brokers_killed_mid_page_lose_nothing(
    instance: DagsterInstance,
    monkeypatch: pytest.MonkeyPatch,
    backend: LineageBackend,
    schemas: OpenLineageSchemas,
) -> None:
    _runs(instance, 2)
    with mock_kafka(rtt_ms=1000) as first:  # each answer 1 s after its request
        _to_kafka(monkeypatch, first.servers, **{"message.timeout.ms": 20_000})
        driver = _driver(instance, record_filter_limit=500, tick_budget_seconds=5)
        driver.tick_until_caught_up()
        before_kill = first.read(TOPIC)
        _runs(instance, 2)
        outcome: list[object] = []
        ticking = threading.Thread(target=_tick_into, args=(driver, outcome))
        ticking.start()
        time.sleep(0.5)  # the page is produced; its acknowledgements are on their way
        first.kill()
        ticking.join(30)
    assert outcome and isinstance(outcome[0], Exception), outcome  # the tick failed
    assert "Kafka" in str(outcome[0]) and "emitted 0 events" in str(outcome[0])
    with mock_kafka() as second:  # the brokers back, at new addresses
        _to_kafka(monkeypatch, second.servers)
        resumed = _driver(instance, record_filter_limit=500)
        resumed.cursor = driver.cursor
        resumed.tick_until_caught_up()
        after_restart = second.read(TOPIC)
    expected = _reference(instance, monkeypatch, backend)

    for _, event in before_kill + after_restart:
        schemas.validate_event(event)
    received = {_key(e) for _, e in before_kill + after_restart}
    assert {_key(e) for e in expected} <= received  # duplicates allowed, none missing
    assert len(after_restart) > 0


def _tick_into(driver: SensorDriver, outcome: list[object]) -> None:
    try:
        outcome.append(driver.tick())
    except Exception as error:
        outcome.append(error)


def test_doctor_probes_the_brokers(
    instance: DagsterInstance, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.chdir(tmp_path)
    with mock_kafka() as kafka:
        _to_kafka(monkeypatch, kafka.servers, **{"sasl.password": "hunter2-secret"})
        result = CliRunner().invoke(cli, ["doctor"])
        assert result.exit_code == 0, result.output
        assert f"kafka to topic {TOPIC} at {kafka.servers}" in result.output
        assert "the brokers acknowledge events (sent job ol_dagster_doctor" in result.output
        [(_, probe)] = kafka.read(TOPIC)
        assert probe["job"]["name"] == "ol_dagster_doctor"
    _to_kafka(monkeypatch, f"127.0.0.1:{free_port()}", **{"message.timeout.ms": 1000})
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1
    assert "Kafka did not accept an event" in result.output
    assert "hunter2" not in result.output
