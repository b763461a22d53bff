"""A sensor in a code location that holds none of the assets (as in a deployment where the
lineage sensor has a location of its own) still sends each materialization's upstream assets as
inputs, with the data versions read: the event log records them in every materialization."""

from __future__ import annotations

from typing import Any

from dagster import DagsterInstance, Definitions

from ol_dagster import openlineage_sensor
from tests.support import asset_graph
from tests.support.backend import LineageBackend
from tests.support.dagster_env import SensorDriver
from tests.support.schemas import OpenLineageSchemas


def _materialized(events: list[dict[str, Any]], job: str) -> dict[str, Any]:
    """The first RUNNING event of the step (a multi-asset step has one per asset)."""
    return next(e for e in events if e["eventType"] == "RUNNING" and e["job"]["name"] == job)


def _named(dataset: dict[str, Any]) -> tuple[str, str, str | None]:
    version = dataset.get("facets", {}).get("version", {}).get("datasetVersion")
    return (dataset["namespace"], dataset["name"], version)


def test_a_sensor_with_none_of_the_assets_sends_their_inputs_with_versions(
    instance: DagsterInstance, lineage_env: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    assets = asset_graph.definitions()  # another code location, writing to the same instance
    assets.resolve_job_def("sales_job").execute_in_process(instance=instance)
    assets.resolve_job_def("report_job").execute_in_process(instance=instance, partition_key="emea")
    sensor = openlineage_sensor(record_filter_limit=100)
    driver = SensorDriver(sensor, Definitions(sensors=[sensor]), instance)
    driver.tick_until_caught_up()
    events = lineage_env.received
    for event in events:
        schemas.validate_event(event)

    raw = _materialized(events, "sales_job.raw_orders")
    orders = _materialized(events, "sales_job.orders")
    stats = _materialized(events, "sales_job.daily_stats")
    report = _materialized(events, "report_job.reports__regional_report")

    [raw_written] = [_named(d) for d in raw["outputs"]]
    [orders_written] = [_named(d) for d in orders["outputs"]]
    assert raw_written[2] and orders_written[2], "outputs carry Dagster's data version"
    # the inputs named exactly as the upstream outputs were, with the version that was read
    assert [_named(d) for d in orders["inputs"]] == [raw_written]
    assert [_named(d) for d in stats["inputs"]] == [orders_written]
    assert [_named(d) for d in report["inputs"]] == [orders_written]
    # named from their keys here, and the tick says so and how to name them as defined
    note = next(m for m in driver.skip_messages if m and "not defined in this code location" in m)
    assert "(daily_count, daily_revenue, orders, ...)" in note
    assert "set OL_DAGSTER_GRAPHQL_URL" in note
