"""Run facets from the run storage: tags, nominal time, and re-executions' parent and root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dagster import Definitions, ReexecutionOptions, execute_job, reconstructable

from ol_dagster import openlineage_sensor
from tests.support.backend import LineageBackend
from tests.support.dagster_env import SensorDriver, audited, dagster_instance, etl, run_config_for
from tests.support.schemas import OpenLineageSchemas


def _events(backend: LineageBackend, job: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in backend.received if e["job"]["name"] == job and e["eventType"] == kind]


def test_tags_and_the_scheduled_time_are_run_facets_of_the_start(
    tmp_path: Path, lineage_env: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    sensor = openlineage_sensor()
    defs = Definitions(jobs=[etl], sensors=[sensor])
    with dagster_instance("sqlite_consolidated", tmp_path / "home") as instance:
        tags = {"team": "sales", ".dagster/scheduled_execution_time": "2026-11-25T06:00:00+00:00"}
        etl.execute_in_process(instance=instance, tags=tags)
        SensorDriver(sensor, defs, instance).tick_until_caught_up()
    [start] = _events(lineage_env, "etl", "START")
    facets = start["run"]["facets"]
    ours = {(t["key"], t["value"]) for t in facets["tags"]["tags"] if t.get("source") == "DAGSTER"}
    assert ours == {("team", "sales")}  # the client adds its own version tag beside them
    assert facets["nominalTime"]["nominalStartTime"] == "2026-11-25T06:00:00+00:00"
    [complete] = _events(lineage_env, "etl", "COMPLETE")
    later_tags = complete["run"]["facets"].get("tags", {}).get("tags", [])
    assert [t for t in later_tags if t.get("source") == "DAGSTER"] == []  # sent once, at START
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
