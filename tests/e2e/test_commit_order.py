"""PostgreSQL commits out of storage-id order: a record that commits late is still sent, in order,
under the same run ids, and a storage id that never appears holds the sensor back only for the
gap bound. Real PostgreSQL, real runs, the insert really held open inside its transaction."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from dagster import DagsterInstance, Definitions, job, op

from ol_dagster import openlineage_sensor
from ol_dagster.entry.cli import cli
from tests.support.backend import LineageBackend
from tests.support.dagster_env import SensorDriver, dagster_instance, etl
from tests.support.schemas import OpenLineageSchemas

pytestmark = pytest.mark.postgres

STALL_SECONDS = 4
ROOT = Path(__file__).resolve().parents[2]


@op
def slow_extract() -> int:
    return 1


@job
def stalled() -> None:
    slow_extract()


def run_stalled() -> None:
    with DagsterInstance.get() as instance:
        stalled.execute_in_process(instance=instance)


def _driver(instance: DagsterInstance) -> SensorDriver:
    sensor = openlineage_sensor(minimum_interval_seconds=1)
    return SensorDriver(sensor, Definitions(jobs=[etl, stalled], sensors=[sensor]), instance)


def _sql(instance: DagsterInstance) -> Any:
    import psycopg2

    connection = psycopg2.connect(instance.event_log_storage.postgres_url)  # type: ignore[attr-defined]
    connection.autocommit = True
    return connection


@pytest.fixture
def postgres(tmp_path: Path, lineage_env: LineageBackend) -> Iterator[DagsterInstance]:
    with dagster_instance("postgres", tmp_path / "dagster_home") as instance:
        yield instance


def _key(event: dict[str, Any]) -> tuple[str, str, str]:
    return (event["run"]["runId"], event["eventType"], event["job"]["name"])


def _stall_in_flight(instance: DagsterInstance) -> bool:
    with _sql(instance) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
            "AND query LIKE 'INSERT INTO event_logs%'"
        )
        return bool(cursor.fetchone()[0])


def _stall_one_step_start(instance: DagsterInstance) -> subprocess.Popen[bytes]:
    """A run of `stalled` in another process (as a run worker is), whose STEP_START insert draws
    its storage id, then waits inside its transaction; returned once it waits."""
    with _sql(instance) as connection, connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION ol_stall() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.dagster_event_type = 'STEP_START' AND NEW.step_key = 'slow_extract' THEN "
            f"PERFORM pg_sleep({STALL_SECONDS}); END IF; RETURN NEW; END $$; "
            "CREATE TRIGGER ol_stall BEFORE INSERT ON event_logs "
            "FOR EACH ROW EXECUTE FUNCTION ol_stall()"
        )
    # (In a thread of this process, Dagster's log handlers would deadlock.)
    writer = subprocess.Popen(
        [sys.executable, "-c", f"from {__name__} import run_stalled; run_stalled()"],
        cwd=ROOT,
        env=os.environ | {"DAGSTER_HOME": instance.root_directory},
    )
    deadline = time.monotonic() + 30
    while not _stall_in_flight(instance):
        assert time.monotonic() < deadline, "the stalled insert never started"
        time.sleep(0.05)
    return writer


def _same_as_a_fresh_sensor(
    instance: DagsterInstance, backend: LineageBackend, schemas: OpenLineageSchemas
) -> list[tuple[str, str, str]]:
    """The events received so far are those a sensor sends reading the log after every commit,
    each run's in the same order; returns them."""
    live = [_key(e) for e in backend.received]
    for event in backend.received:
        schemas.validate_event(event)
    before = len(backend.received)
    _driver(instance).tick_until_caught_up()
    reference = [_key(e) for e in backend.received[before:]]
    assert sorted(live) == sorted(reference)
    for run_id in {k[0] for k in live}:
        assert [k for k in live if k[0] == run_id] == [k for k in reference if k[0] == run_id]
    return live


def test_a_record_committed_late_is_sent_in_order_under_the_same_run_ids(
    postgres: DagsterInstance, lineage_env: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    instance = postgres
    driver = _driver(instance)
    writer = _stall_one_step_start(instance)
    etl.execute_in_process(instance=instance)  # commits storage ids above the stalled one

    message = driver.tick() or ""
    assert "waiting on 1 storage id not committed yet" in message, message
    sent_while_held = {e["job"]["name"] for e in lineage_env.received}
    assert not any(name.startswith("etl") for name in sent_while_held), sent_while_held

    assert writer.wait(timeout=60) == 0
    driver.tick_until_caught_up()
    live = _same_as_a_fresh_sensor(instance, lineage_env, schemas)
    assert ("START", "stalled.slow_extract") in {(k[1], k[2]) for k in live}


def test_a_record_committed_after_the_wait_is_still_sent_under_the_same_run_ids(
    postgres: DagsterInstance,
    lineage_env: LineageBackend,
    schemas: OpenLineageSchemas,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    instance = postgres
    monkeypatch.setenv("OL_DAGSTER_GAP_WAIT_SECONDS", "1")
    driver = _driver(instance)
    writer = _stall_one_step_start(instance)
    etl.execute_in_process(instance=instance)
    assert "waiting on 1 storage id" in (driver.tick() or "")

    time.sleep(1.2)
    driver.tick()  # gives the stalled id up, reads on: etl is sent before the stalled step
    assert ("COMPLETE", "etl") in {(e["eventType"], e["job"]["name"]) for e in lineage_env.received}
    assert writer.poll() is None, f"the insert should still be stalled ({STALL_SECONDS} s)"

    assert writer.wait(timeout=60) == 0
    driver.tick_until_caught_up()
    live = _same_as_a_fresh_sensor(instance, lineage_env, schemas)
    assert ("START", "stalled.slow_extract") in {(k[1], k[2]) for k in live}
    assert "given_up" not in (driver.cursor or "")


def test_a_storage_id_that_never_appears_holds_the_sensor_only_for_the_bound(
    postgres: DagsterInstance,
    lineage_env: LineageBackend,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    instance = postgres
    monkeypatch.setenv("OL_DAGSTER_GAP_WAIT_SECONDS", "2")
    with _sql(instance) as connection, connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute(
            "INSERT INTO event_logs (run_id, event, dagster_event_type, timestamp) "
            "VALUES ('rolled-back', '{}', 'ENGINE_EVENT', now()) RETURNING id"
        )
        [hole] = cursor.fetchone()
        cursor.execute("ROLLBACK")
    etl.execute_in_process(instance=instance)
    driver = _driver(instance)

    message = driver.tick() or ""
    assert f"waiting on 1 storage id not committed yet (the first, {hole}," in message, message
    assert lineage_env.received == []

    time.sleep(2.2)
    with caplog.at_level(logging.WARNING, logger="ol_dagster"):
        driver.tick_until_caught_up()
    assert f"storage ids {hole} never appeared within 2 s" in caplog.text
    assert ("COMPLETE", "etl") in {(e["eventType"], e["job"]["name"]) for e in lineage_env.received}
    assert "waiting on" not in (driver.skip_messages[-1] or "")


def test_replay_waits_for_a_storage_id_below_its_end_then_sends_everything(
    postgres: DagsterInstance,
    lineage_env: LineageBackend,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    instance = postgres
    monkeypatch.setenv("OL_DAGSTER_GAP_WAIT_SECONDS", "1")
    monkeypatch.setenv("DAGSTER_HOME", instance.root_directory)
    monkeypatch.chdir(tmp_path)
    with _sql(instance) as connection, connection.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute(
            "INSERT INTO event_logs (run_id, event, dagster_event_type, timestamp) "
            "VALUES ('rolled-back', '{}', 'ENGINE_EVENT', now())"
        )
        cursor.execute("ROLLBACK")
    etl.execute_in_process(instance=instance)

    started = time.monotonic()
    result = CliRunner().invoke(cli, ["replay", "--from-storage-id", "0"], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 1  # it waited for the hole before its end
    assert ("COMPLETE", "etl") in {(e["eventType"], e["job"]["name"]) for e in lineage_env.received}
