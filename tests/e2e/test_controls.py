"""The controls users ask for, through real sensor ticks on a real instance: which runs, steps and
assets send lineage (OL_DAGSTER_INCLUDE / OL_DAGSTER_EXCLUDE), the namespace of jobs
(OL_DAGSTER_JOB_NAMESPACE), and facets of their own (OL_DAGSTER_FACETS)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, Definitions

from ol_dagster import openlineage_sensor
from tests.support import asset_graph
from tests.support.backend import LineageBackend
from tests.support.dagster_env import SensorDriver, dagster_instance, etl
from tests.support.schemas import OpenLineageSchemas


@pytest.fixture
def instance(tmp_path: Path) -> Any:
    with dagster_instance("sqlite_consolidated", tmp_path / "home") as instance:
        assets = asset_graph.definitions()
        assets.resolve_job_def("sales_job").execute_in_process(
            instance=instance, tags={"cost_centre": "cc-42", "team": "sales"}
        )
        etl.execute_in_process(instance=instance, tags={"team": "ops"})
        yield instance


def _sent(instance: DagsterInstance, backend: LineageBackend, schemas: OpenLineageSchemas) -> Any:
    sensor = openlineage_sensor(record_filter_limit=500)
    defs = Definitions(
        assets=asset_graph.ASSETS, asset_checks=asset_graph.CHECKS, jobs=[*asset_graph.JOBS, etl]
    )
    SensorDriver(
        sensor, Definitions.merge(defs, Definitions(sensors=[sensor])), instance
    ).tick_until_caught_up()
    for event in backend.received:
        schemas.validate_event(event)
    return backend.received


def _jobs(events: list[dict[str, Any]]) -> set[str]:
    return {e["job"]["name"].split(".")[0] for e in events}


def _names(datasets: list[dict[str, Any]]) -> list[str]:
    return [d["name"] for d in datasets]


def test_runs_are_excluded_by_job_and_included_by_tag(
    instance: DagsterInstance,
    lineage_env: LineageBackend,
    schemas: OpenLineageSchemas,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OL_DAGSTER_EXCLUDE", "job:etl")
    assert _jobs(_sent(instance, lineage_env, schemas)) == {"sales_job"}
    lineage_env.received.clear()
    monkeypatch.setenv("OL_DAGSTER_EXCLUDE", "")
    monkeypatch.setenv("OL_DAGSTER_INCLUDE", "tag:team=op*")
    assert _jobs(_sent(instance, lineage_env, schemas)) == {"etl"}


def test_excluded_assets_leave_every_event_and_their_steps_are_not_sent(
    instance: DagsterInstance,
    lineage_env: LineageBackend,
    schemas: OpenLineageSchemas,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OL_DAGSTER_EXCLUDE", "asset:raw_*")
    events = _sent(instance, lineage_env, schemas)
    names = {e["job"]["name"] for e in events}
    assert "sales_job.raw_orders" not in names  # a step of excluded assets only: not sent
    assert {"sales_job", "sales_job.orders", "etl"} <= names
    orders = [e for e in events if e["job"]["name"] == "sales_job.orders" and e["outputs"]]
    assert [(_names(e["inputs"]), _names(e["outputs"])) for e in orders] == [
        ([], ["analytics.sales.orders"])
    ]
    every = [d for e in events for d in e.get("inputs", []) + e.get("outputs", [])]
    assert all("raw/orders" not in d["name"] for d in every)


def test_a_group_excluded_takes_its_asset_steps_and_keeps_op_jobs(
    instance: DagsterInstance,
    lineage_env: LineageBackend,
    schemas: OpenLineageSchemas,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OL_DAGSTER_EXCLUDE", "group:default")
    events = _sent(instance, lineage_env, schemas)
    steps = {e["job"]["name"] for e in events if "." in e["job"]["name"]}
    assert steps == {"etl.extract", "etl.transform", "etl.load"}
    assert "sales_job" in {e["job"]["name"] for e in events}  # the job run itself is kept


def test_jobs_take_the_job_namespace_and_datasets_keep_theirs(
    instance: DagsterInstance,
    lineage_env: LineageBackend,
    schemas: OpenLineageSchemas,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OL_DAGSTER_JOB_NAMESPACE", "prod-dagster")
    events = _sent(instance, lineage_env, schemas)
    assert {e["job"]["namespace"] for e in events} == {"prod-dagster"}
    parents = [e["run"]["facets"]["parent"] for e in events if "parent" in e["run"]["facets"]]
    assert parents and {p["job"]["namespace"] for p in parents} == {"prod-dagster"}
    outputs = {(d["namespace"], d["name"]) for e in events for d in e["outputs"]}
    assert ("s3://sales-lake", "raw/orders.parquet") in outputs


def test_a_facets_hook_adds_run_job_and_dataset_facets(
    instance: DagsterInstance,
    lineage_env: LineageBackend,
    schemas: OpenLineageSchemas,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OL_DAGSTER_FACETS", "tests.support.facets_hook:cost_centre")
    events = _sent(instance, lineage_env, schemas)
    sales = [e for e in events if e["job"]["name"].startswith("sales_job")]
    assert {e["run"]["facets"]["costCentre"]["centre"] for e in sales} == {"cc-42"}
    assert all("costCentre" not in e["run"]["facets"] for e in events if e not in sales)
    assert all(e["job"]["facets"]["team"]["team"] == "sales" for e in events)
    outputs = [d for e in events for d in e["outputs"]]
    assert outputs and all(d["facets"]["steward"]["name"] == "ada" for d in outputs)


def test_a_broken_facets_hook_never_stops_lineage(
    instance: DagsterInstance,
    lineage_env: LineageBackend,
    schemas: OpenLineageSchemas,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("OL_DAGSTER_FACETS", "tests.support.facets_hook:broken")
    with caplog.at_level(logging.WARNING, logger="ol_dagster"):
        events = _sent(instance, lineage_env, schemas)
    jobs = [e for e in events if "." not in e["job"]["name"]]
    assert jobs and all(e["run"]["facets"]["fine"]["centre"] == "x" for e in jobs)
    assert all("notAFacet" not in e["run"]["facets"] for e in events)
    assert len([e for e in events if "." in e["job"]["name"]]) > 0  # steps sent, without facets
    warnings = " ".join(r.getMessage() for r in caplog.records)
    assert "raised RuntimeError: the hook's own bug" in warnings
    assert "'notAFacet', left out: it has no _producer" in warnings
