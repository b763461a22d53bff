"""Run facets from the run storage: tags, nominal time, and re-executions' parent and root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dagster import Definitions, ReexecutionOptions, execute_job, reconstructable

from ol_dagster import openlineage_sensor
from tests.support.backend import LineageBackend
from tests.support.dagster_env import (
    SensorDriver,
    audited,
    dagster_instance,
    etl,
    publishing,
    run_config_for,
)
from tests.support.schemas import OpenLineageSchemas


def _events(backend: LineageBackend, job: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in backend.received if e["job"]["name"] == job and e["eventType"] == kind]


def _dagster_tags(event: dict[str, Any]) -> set[tuple[str, str]]:
    tags = event["run"]["facets"].get("tags", {}).get("tags", [])
    return {(t["key"], t["value"]) for t in tags if t.get("source") == "DAGSTER"}


def test_every_start_and_end_names_its_dagster_run_and_links_to_it(
    tmp_path: Path,
    lineage_env: LineageBackend,
    schemas: OpenLineageSchemas,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OL_DAGSTER_UI_URL", "https://dagster.example.com/")
    sensor = openlineage_sensor()
    defs = Definitions(jobs=[publishing], sensors=[sensor])
    with dagster_instance("sqlite_sharded", tmp_path / "home") as instance:
        run_id = publishing.execute_in_process(instance=instance, raise_on_error=False).run_id
        SensorDriver(sensor, defs, instance).tick_until_caught_up()
    link = ("dagster.run_url", f"https://dagster.example.com/runs/{run_id}")
    for event in lineage_env.received:
        schemas.validate_run_event(event)
        kind, job = event["eventType"], event["job"]["name"]
        if kind == "RUNNING":
            continue
        expected = {("dagster.run_id", run_id), link}
        if job == "publishing.flaky_publish":  # retried once: two attempts, two runs
            attempt = "1" if event["run"]["runId"] == _first_attempt(lineage_env) else "2"
            expected |= {("dagster.step_key", "flaky_publish"), ("dagster.attempt", attempt)}
        elif job != "publishing":
            expected |= {("dagster.step_key", job.split(".", 1)[1]), ("dagster.attempt", "1")}
        if (kind, job) == ("START", "publishing"):  # with the run's own tags beside
            assert expected <= _dagster_tags(event)
        else:
            assert _dagster_tags(event) == expected, (kind, job)


def _first_attempt(backend: LineageBackend) -> str:
    return str(
        next(
            e["run"]["runId"]
            for e in backend.received
            if e["job"]["name"] == "publishing.flaky_publish" and e["eventType"] == "START"
        )
    )


def test_tags_and_the_scheduled_time_are_run_facets_of_the_start(
    tmp_path: Path, lineage_env: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    sensor = openlineage_sensor()
    defs = Definitions(jobs=[etl], sensors=[sensor])
    with dagster_instance("sqlite_consolidated", tmp_path / "home") as instance:
        tags = {"team": "sales", ".dagster/scheduled_execution_time": "2026-11-25T06:00:00+00:00"}
        run_id = etl.execute_in_process(instance=instance, tags=tags).run_id
        SensorDriver(sensor, defs, instance).tick_until_caught_up()
    [start] = _events(lineage_env, "etl", "START")
    facets = start["run"]["facets"]
    # the client adds its own version tag beside them
    assert _dagster_tags(start) == {("team", "sales"), ("dagster.run_id", run_id)}
    assert facets["nominalTime"]["nominalStartTime"] == "2026-11-25T06:00:00+00:00"
    [complete] = _events(lineage_env, "etl", "COMPLETE")
    assert _dagster_tags(complete) == {("dagster.run_id", run_id)}  # the run's tags: at START
    for event in lineage_env.received:
        schemas.validate_run_event(event)


def test_a_re_execution_names_its_parent_and_root_runs(
    tmp_path: Path, lineage_env: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    sensor = openlineage_sensor()
    defs = Definitions(jobs=[audited], sensors=[sensor])
    with dagster_instance("sqlite_sharded", tmp_path / "home") as instance:
        failed = audited.execute_in_process(
            instance=instance, run_config=run_config_for(fail=True), raise_on_error=False
        )
        # all steps again: an in-process run kept its outputs in memory, gone with it
        options = ReexecutionOptions(parent_run_id=failed.run_id)
        job = reconstructable(audited)
        with execute_job(
            job, instance, run_config=run_config_for(fail=False), reexecution_options=options
        ) as retried:
            assert retried.success
            retry_id = retried.run_id
        SensorDriver(sensor, defs, instance).tick_until_caught_up()
    first_start, retry_start = _events(lineage_env, "audited", "START")
    original_id = first_start["run"]["runId"]
    parent = retry_start["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == original_id
    assert parent["root"]["run"]["runId"] == original_id
    assert parent["job"]["name"] == "audited"
    assert "parent" not in first_start["run"]["facets"]
    # the retried run's steps: parent is their job run, root is the original run
    retried_step = next(
        e
        for e in _events(lineage_env, "audited.check_quality", "START")
        if e["run"]["facets"]["parent"]["run"]["runId"] == retry_start["run"]["runId"]
    )
    assert retried_step["run"]["facets"]["parent"]["root"]["run"]["runId"] == original_id
    assert retry_id
    for event in lineage_env.received:
        schemas.validate_run_event(event)
