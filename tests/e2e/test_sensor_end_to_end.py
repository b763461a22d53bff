"""The sensor in a code location, ticked as the daemon ticks it, on every storage."""

from __future__ import annotations

import re
from typing import Any

from dagster import DagsterInstance, Definitions

from ol_dagster import openlineage_sensor
from tests.support.backend import LineageBackend
from tests.support.dagster_env import SensorDriver, audited, etl, publishing, run_config_for
from tests.support.schemas import OpenLineageSchemas

ETL = [
    ("START", "etl"),
    ("START", "etl.extract"),
    ("COMPLETE", "etl.extract"),
    ("START", "etl.transform"),
    ("COMPLETE", "etl.transform"),
    ("START", "etl.load"),
    ("COMPLETE", "etl.load"),
    ("COMPLETE", "etl"),
]
AUDITED_FAILING = [
    ("START", "audited"),
    ("START", "audited.extract"),
    ("COMPLETE", "audited.extract"),
    ("START", "audited.check_quality"),
    ("FAIL", "audited.check_quality"),
    ("FAIL", "audited"),
]
PUBLISHING = [
    ("START", "publishing"),
    ("START", "publishing.extract"),
    ("COMPLETE", "publishing.extract"),
    ("START", "publishing.flaky_publish"),
    ("FAIL", "publishing.flaky_publish"),
    ("START", "publishing.flaky_publish"),
    ("FAIL", "publishing.flaky_publish"),
    ("FAIL", "publishing"),
]


def _execute_examples(instance: DagsterInstance) -> list[str]:
    runs = [
        etl.execute_in_process(instance=instance),
        audited.execute_in_process(
            instance=instance, run_config=run_config_for(fail=True), raise_on_error=False
        ),
        publishing.execute_in_process(instance=instance, raise_on_error=False),
    ]
    return [result.run_id for result in runs]


def _shape(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["eventType"], e["job"]["name"]) for e in events]


def test_every_run_and_step_reaches_the_backend_in_order(
    instance: DagsterInstance, lineage_env: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    sensor = openlineage_sensor(record_filter_limit=5)
    defs = Definitions(jobs=[etl, audited, publishing], sensors=[sensor])
    driver = SensorDriver(sensor, defs, instance)
    idle = driver.tick() or ""  # the first tick of an idle instance: nothing to send
    assert lineage_env.received == []
    assert idle.startswith("nothing new in the event log since the last tick, 0 runs open")
    assert re.search(r"; lag 0 storage ids, [0-9.]+ s$", idle), idle

    _execute_examples(instance)
    driver.tick_until_caught_up()

    events = lineage_env.received
    assert _shape(events) == ETL + AUDITED_FAILING + PUBLISHING
    busy = driver.skip_messages[1] or ""
    assert busy.startswith("read 22 records in 5 pages, emitted 22 events, skipped 0 records")
    assert re.search(r"lag [0-9,]+ storage ids, newest record read [0-9,]+ s ago, [0-9.]+ s$", busy)
    for event in events:
        schemas.validate_run_event(event)
        assert event["job"]["namespace"] == "default"
    # the job run's START and terminal event share one run id; steps name it as parent and root
    by_run: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_run.setdefault(event["run"]["runId"], []).append(event)
    job_runs = {e["job"]["name"]: e["run"]["runId"] for e in events if "." not in e["job"]["name"]}
    for run_events in by_run.values():
        assert run_events[0]["eventType"] == "START"
        assert len(run_events) == 2, run_events
        job_name = run_events[0]["job"]["name"]
        if "." in job_name:
            parent = run_events[0]["run"]["facets"]["parent"]
            assert parent["run"]["runId"] == job_runs[job_name.split(".")[0]]
            assert parent["root"]["run"]["runId"] == parent["run"]["runId"]
    # two attempts of the retried step are two runs
    assert (
        len({e["run"]["runId"] for e in events if e["job"]["name"].endswith("flaky_publish")}) == 2
    )
    failure = next(
        e
        for e in events
        if e["job"]["name"] == "audited.check_quality" and e["eventType"] == "FAIL"
    )
    assert "quality check failed" in failure["run"]["facets"]["errorMessage"]["message"]

    # a later tick sends nothing again; a new run is picked up where the cursor stopped
    sent = len(events)
    driver.tick_until_caught_up()
    assert len(lineage_env.received) == sent
    etl.execute_in_process(instance=instance)
    driver.tick_until_caught_up()
    assert _shape(lineage_env.received[sent:]) == ETL


def test_after_storage_id_applies_only_without_a_cursor(
    instance: DagsterInstance, lineage_env: LineageBackend
) -> None:
    etl.execute_in_process(instance=instance)
    sensor = openlineage_sensor(after_storage_id=10**9)
    driver = SensorDriver(sensor, Definitions(jobs=[etl], sensors=[sensor]), instance)
    driver.tick_until_caught_up()
    assert lineage_env.received == []  # all history lies before after_storage_id
