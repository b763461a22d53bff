"""Nothing lost, nothing duplicated under another id: real Dagster, real HTTP, real failures."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from dagster import DagsterEventType, DagsterInstance, Definitions, RunStatusChangeRecordsFilter

from ol_dagster import openlineage_sensor
from ol_dagster.adapters.json_cursor import CURSOR_VERSION
from tests.support.backend import LineageBackend, http_without_client_retries
from tests.support.dagster_env import SensorDriver, audited, etl, publishing, run_config_for


def _driver(instance: DagsterInstance, **kwargs: Any) -> SensorDriver:
    sensor = openlineage_sensor(**kwargs)
    defs = Definitions(jobs=[etl, audited, publishing], sensors=[sensor])
    return SensorDriver(sensor, defs, instance)


def _runs(instance: DagsterInstance, count: int) -> None:
    for index in range(count):
        if index % 3 == 0:
            etl.execute_in_process(instance=instance)
        elif index % 3 == 1:
            audited.execute_in_process(
                instance=instance, run_config=run_config_for(fail=True), raise_on_error=False
            )
        else:
            publishing.execute_in_process(instance=instance, raise_on_error=False)


def _key(event: dict[str, Any]) -> tuple[str, str, str]:
    return (event["run"]["runId"], event["eventType"], event["job"]["name"])


def _reference(instance: DagsterInstance, backend: LineageBackend) -> list[tuple[str, str, str]]:
    """What a sensor sends for this instance when nothing goes wrong."""
    before = len(backend.received)
    _driver(instance).tick_until_caught_up()
    return [_key(e) for e in backend.received[before:]]


def test_every_event_arrives_through_refusals_and_errors_under_its_one_id(
    instance: DagsterInstance, backend: LineageBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    http_without_client_retries(monkeypatch, backend)
    driver = _driver(instance, record_filter_limit=7, tick_budget_seconds=0.2)
    _runs(instance, 6)
    backend.stop()  # refusing connections
    for _ in range(3):
        with pytest.raises(Exception, match="ConnectionError"):
            driver.tick()
    backend.start()
    backend.status = 500  # answering errors
    for _ in range(3):
        with pytest.raises(Exception, match="500 Server Error"):
            driver.tick()
    backend.status = 200
    backend.accept_limit = 5  # failing midway through a page
    assert "503" in (driver.tick() or "")
    backend.accept_limit = 17
    driver.tick()
    backend.accept_limit = None
    driver.tick_until_caught_up()
    received = [_key(e) for e in backend.received]

    expected = _reference(instance, backend)
    assert list(dict.fromkeys(received)) == expected  # all there, first copies in order
    ids_by_job_and_type = Counter((job, kind) for _, kind, job in set(received))
    assert ids_by_job_and_type == Counter((job, kind) for _, kind, job in expected)


def test_a_crash_between_emit_and_cursor_save_resends_under_the_same_ids(
    instance: DagsterInstance, lineage_env: LineageBackend
) -> None:
    driver = _driver(instance)
    driver.tick()
    saved = driver.cursor
    _runs(instance, 3)
    driver.tick_until_caught_up()
    first = [_key(e) for e in lineage_env.received]
    driver.cursor = saved  # the tick's cursor was never stored: the process died after emitting
    driver.tick_until_caught_up()
    assert [_key(e) for e in lineage_env.received] == first + first


def test_a_reset_cursor_or_a_second_sensor_names_every_run_the_same(
    instance: DagsterInstance, lineage_env: LineageBackend
) -> None:
    _runs(instance, 3)
    driver = _driver(instance)
    driver.tick_until_caught_up()
    first = [_key(e) for e in lineage_env.received]
    driver.cursor = None  # reset
    driver.tick_until_caught_up()
    _driver(instance, name="second_sensor", record_filter_limit=4).tick_until_caught_up()
    assert [_key(e) for e in lineage_env.received] == first * 3


def test_a_cursor_of_openlineage_dagster_is_resumed_without_resending(
    instance: DagsterInstance, lineage_env: LineageBackend
) -> None:
    run_id = etl.execute_in_process(instance=instance).run_id
    storage = instance.event_log_storage
    if storage.is_run_sharded:
        # There openlineage-dagster read only the run-status index: it had sent the run's START
        # and no step at all; its cursor names the index's storage id.
        start = instance.fetch_run_status_changes(
            RunStatusChangeRecordsFilter(DagsterEventType.RUN_START), limit=1
        ).records[0]
        last_storage_id, running_steps, step_id = start.storage_id, {}, None
    else:
        # After sending the START of `etl` and of its first step.
        records = storage.get_logs_for_all_runs_by_log_id(after_cursor=-1, limit=100)
        last_storage_id = next(
            sid
            for sid, entry in records.items()
            if entry.dagster_event_type is DagsterEventType.STEP_START
        )
        step_id = "4c1a0f0e-43a5-4d6b-a0a4-0c5d0f1e2b3c"
        running_steps = {"extract": {"step_run_id": step_id}}
    driver = _driver(instance)
    driver.cursor = json.dumps(
        {
            "last_storage_id": last_storage_id,
            "running_pipelines": {
                run_id: {"running_steps": running_steps, "repository_name": None}
            },
        }
    )
    driver.tick_until_caught_up()
    events = [_key(e) for e in lineage_env.received]
    assert ("START", "etl") not in [(kind, job) for _, kind, job in events]
    assert events[-1] == (run_id, "COMPLETE", "etl")  # its job-run id was the Dagster run id
    if step_id is None:
        assert [job for _, kind, job in events if kind == "START"] == [
            "etl.extract",
            "etl.transform",
            "etl.load",
        ]
    else:
        assert events[0] == (step_id, "COMPLETE", "etl.extract")
        assert [job for _, kind, job in events if kind == "START"] == ["etl.transform", "etl.load"]
    assert json.loads(driver.cursor or "")["v"] == CURSOR_VERSION
