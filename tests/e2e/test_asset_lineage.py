"""Dataset lineage from a real asset graph, executed on a real instance."""

from __future__ import annotations

from typing import Any

import pytest
from dagster import DagsterInstance

from ol_dagster import openlineage_sensor
from tests.support import asset_graph
from tests.support.backend import running_backend
from tests.support.dagster_env import SensorDriver, dagster_instance
from tests.support.schemas import OpenLineageSchemas


@pytest.fixture(scope="module")
def sent(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """The graph's runs executed once, and what a sensor sent of them through the stock `http`
    transport and, from a fresh cursor, through the batch transport (read-only in tests)."""
    home = tmp_path_factory.mktemp("asset_lineage") / "home"
    transports = {"http": {"OPENLINEAGE__TRANSPORT__TYPE": "http"}, "batch": BATCH_TRANSPORT}
    sent: dict[str, list[dict[str, Any]]] = {}
    with dagster_instance("sqlite_sharded", home) as instance:
        _execute(asset_graph.definitions(openlineage_sensor()), instance)
        for transport, variables in transports.items():
            # a sensor of its own: each keeps one OpenLineage client, built at its first tick
            sensor = openlineage_sensor(record_filter_limit=100)
            defs = asset_graph.definitions(sensor)
            with running_backend() as backend, pytest.MonkeyPatch.context() as env:
                for name in ("OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED", "OPENLINEAGE_NAMESPACE"):
                    env.delenv(name, raising=False)
                env.setenv("OPENLINEAGE__TRANSPORT__URL", backend.url)
                for name, value in variables.items():
                    env.setenv(name, value)
                SensorDriver(sensor, defs, instance).tick_until_caught_up()
                sent[transport] = list(backend.received)
                sent[f"{transport} paths"] = [{"path": path} for path in backend.paths]
    return sent


BATCH_TRANSPORT = {
    "OPENLINEAGE__TRANSPORT__TYPE": "ol_dagster.adapters.http_batch.HttpBatchTransport",
    "OPENLINEAGE__TRANSPORT__BATCH_SIZE": "7",
}


@pytest.fixture(scope="module")
def sales_lineage(sent: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return sent["http"]


def test_the_batch_transport_sends_exactly_what_the_stock_one_sends(
    sent: dict[str, list[dict[str, Any]]],
) -> None:
    """Its JSON is written without the client's objects; the events must not differ at all."""
    assert len(sent["batch"]) == len(sent["http"]) > 20
    assert sent["batch"] == sent["http"]
    assert {p["path"] for p in sent["batch paths"]} == {"/api/v1/lineage/batch"}
    assert {p["path"] for p in sent["http paths"]} == {"/api/v1/lineage"}


def _execute(defs: Any, instance: DagsterInstance) -> None:
    for name in ("sales_job", "forecast_job"):
        defs.resolve_job_def(name).execute_in_process(instance=instance, raise_on_error=False)
    defs.resolve_job_def("report_job").execute_in_process(instance=instance, partition_key="emea")
    defs.resolve_job_def("snapshot_job").execute_in_process(
        instance=instance, partition_key="2026-11-24"
    )


def _running(events: list[dict[str, Any]], job: str) -> list[dict[str, Any]]:
    return [e for e in events if e["eventType"] == "RUNNING" and e["job"]["name"] == job]


def _ids(datasets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def test_every_event_and_facet_matches_the_official_schemas(
    sales_lineage: list[dict[str, Any]], schemas: OpenLineageSchemas
) -> None:
    assert sales_lineage
    for event in sales_lineage:
        schemas.validate_run_event(event)


def test_a_materialization_is_an_output_of_its_step_with_its_upstream_as_input(
    sales_lineage: list[dict[str, Any]],
) -> None:
    [raw] = _running(sales_lineage, "sales_job.raw_orders")
    assert raw["inputs"] == []
    [output] = raw["outputs"]
    assert (output["namespace"], output["name"]) == ("s3://sales-lake", "raw/orders.parquet")
    facets = output["facets"]
    assert [f["name"] for f in facets["schema"]["fields"]] == ["id", "amount"]
    assert facets["documentation"]["description"] == "Orders as exported by the shop."
    assert facets["ownership"]["owners"] == [
        {"name": "data-platform", "type": "TEAM"},
        {"name": "ada@example.com", "type": "USER"},
    ]
    assert {(t["key"], t["value"]) for t in facets["tags"]["tags"]} == {("domain", "sales")}
    assert facets["symlinks"]["identifiers"] == [
        {"namespace": "dagster", "name": "raw_orders", "type": "DAGSTER_ASSET"}
    ]
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 3
    assert raw["job"]["facets"]["jobType"]["jobType"] == "ASSET"

    [orders] = _running(sales_lineage, "sales_job.orders")
    assert _ids(orders["inputs"]) == [("s3://sales-lake", "raw/orders.parquet")]
    assert _ids(orders["outputs"]) == [("bigquery", "analytics.sales.orders")]
    lineage = orders["outputs"][0]["facets"]["columnLineage"]["fields"]
    assert lineage == {
        "order_id": {
            "inputFields": [
                {
                    "namespace": "s3://sales-lake",
                    "name": "raw/orders.parquet",
                    "field": "id",
                    "transformations": [],  # Dagster's column lineage does not say how
                }
            ]
        }
    }


def test_a_multi_asset_step_outputs_each_of_its_assets(sales_lineage: list[dict[str, Any]]) -> None:
    events = _running(sales_lineage, "sales_job.daily_stats")
    assert sorted(_ids(e["outputs"])[0] for e in events) == [
        ("dagster", "daily_count"),
        ("dagster", "daily_revenue"),
    ]
    assert all(_ids(e["inputs"]) == [("bigquery", "analytics.sales.orders")] for e in events)
    assert len({e["run"]["runId"] for e in events}) == 1  # one step run


def test_a_failing_check_is_a_data_quality_assertion_on_its_asset(
    sales_lineage: list[dict[str, Any]],
) -> None:
    [check] = [
        e
        for e in sales_lineage
        if e["eventType"] == "RUNNING" and "dataQualityAssertions" in str(e["inputs"])
    ]
    [dataset] = check["inputs"]
    assert (dataset["namespace"], dataset["name"]) == ("bigquery", "analytics.sales.orders")
    assert dataset["inputFacets"]["dataQualityAssertions"]["assertions"] == [
        {
            "assertion": "orders_amounts_positive",
            "success": False,
            "severity": "ERROR",
            "params": {},
        }
    ]


def test_the_job_run_ends_with_every_asset_it_materialized(
    sales_lineage: list[dict[str, Any]],
) -> None:
    [end] = [
        e for e in sales_lineage if e["job"]["name"] == "sales_job" and e["eventType"] == "COMPLETE"
    ]
    assert sorted(_ids(end["outputs"])) == [
        ("bigquery", "analytics.sales.orders"),
        ("dagster", "daily_count"),
        ("dagster", "daily_revenue"),
        ("s3://sales-lake", "raw/orders.parquet"),
    ]
    [failed] = [
        e for e in sales_lineage if e["job"]["name"] == "forecast_job" and e["eventType"] == "FAIL"
    ]
    assert failed["outputs"] == []
    step_fail = next(
        e
        for e in sales_lineage
        if e["job"]["name"] == "forecast_job.broken_forecast" and e["eventType"] == "FAIL"
    )
    message = step_fail["run"]["facets"]["errorMessage"]["message"]
    assert "(caused by ValueError: forecast model missing)" in message
    assert "ValueError: ValueError" not in message  # the cause's class named once


def test_a_partitioned_materialization_says_which_partition(
    sales_lineage: list[dict[str, Any]],
) -> None:
    [report] = _running(sales_lineage, "report_job.reports__regional_report")
    [output] = report["outputs"]
    assert (output["namespace"], output["name"]) == ("dagster", "reports/regional_report")
    assert output["outputFacets"]["subset"]["outputCondition"] == {
        "type": "partition",
        "partitions": [{"identifier": "emea", "dimensions": {"partition": "emea"}}],
    }


def _start(events: list[dict[str, Any]], job: str) -> dict[str, Any]:
    [start] = [e for e in events if e["job"]["name"] == job and e["eventType"] == "START"]
    return start


def test_jobs_and_asset_steps_carry_their_documentation_owners_and_source(
    sales_lineage: list[dict[str, Any]],
) -> None:
    job = _start(sales_lineage, "sales_job")["job"]["facets"]
    assert (
        job["documentation"]["description"] == "Loads the shop's orders and derives daily figures."
    )
    step = _start(sales_lineage, "sales_job.raw_orders")["job"]["facets"]
    assert step["documentation"]["description"] == "Orders as exported by the shop."
    assert step["ownership"]["owners"] == [
        {"name": "data-platform", "type": "TEAM"},
        {"name": "ada@example.com", "type": "USER"},
    ]
    source = step["sourceCodeLocation"]
    assert source["type"] == "file"
    assert source["path"] == asset_graph.__file__
    assert source["url"] == f"file://{asset_graph.__file__}#L30"


def test_a_time_partitioned_run_has_the_partition_as_nominal_time(
    sales_lineage: list[dict[str, Any]],
) -> None:
    nominal = _start(sales_lineage, "snapshot_job")["run"]["facets"]["nominalTime"]
    assert nominal["nominalStartTime"] == "2026-11-24T00:00:00+00:00"
    assert nominal["nominalEndTime"] == "2026-11-25T00:00:00+00:00"


PRODUCER = "https://github.com/ol-dagster/ol-dagster/tree/0.1.0"
FACETS = "https://openlineage.io/spec/facets"


def _facet(schema: str, **fields: Any) -> dict[str, Any]:
    name = schema.split("/")[-1].removesuffix(".json")
    return {"_producer": PRODUCER, "_schemaURL": f"{FACETS}/{schema}#/$defs/{name}", **fields}


def test_a_materialization_event_is_exactly_the_expected_event(
    sales_lineage: list[dict[str, Any]],
) -> None:
    [event] = _running(sales_lineage, "sales_job.orders")
    step_id = _start(sales_lineage, "sales_job.orders")["run"]["runId"]
    job_id = _start(sales_lineage, "sales_job")["run"]["runId"]
    assert event["run"]["runId"] == step_id  # the step's own run, opened by its START
    assert event["eventTime"] > _start(sales_lineage, "sales_job.orders")["eventTime"]
    actual = {**event, "eventTime": "<time>", "run": {**event["run"], "runId": "<step run>"}}
    actual["run"]["facets"] = {k: v for k, v in event["run"]["facets"].items() if k != "tags"}
    job = {"facets": {}, "name": "sales_job", "namespace": "default"}
    run = {"facets": {}, "runId": job_id}
    raw = "raw/orders.parquet"
    # Dagster's data versions (hashes): of raw_orders as written, of orders as read downstream
    [raw_written] = _running(sales_lineage, "sales_job.raw_orders")[0]["outputs"]
    orders_read = _running(sales_lineage, "sales_job.daily_stats")[0]["inputs"][0]
    version = "1-0-1/DatasetVersionDatasetFacet.json"
    assert actual == {
        "eventTime": "<time>",
        "eventType": "RUNNING",
        "producer": PRODUCER,
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {
            "runId": "<step run>",
            "facets": {
                "parent": _facet(
                    "1-2-0/ParentRunFacet.json", job=job, run=run, root={"job": job, "run": run}
                )
            },
        },
        "job": {
            "namespace": "default",
            "name": "sales_job.orders",
            "facets": {
                "jobType": _facet(
                    "2-0-4/JobTypeJobFacet.json",
                    integration="DAGSTER",
                    jobType="ASSET",
                    processingType="BATCH",
                )
            },
        },
        "inputs": [
            {
                "namespace": "s3://sales-lake",
                "name": raw,
                "facets": {
                    "documentation": _facet(
                        "1-1-0/DocumentationDatasetFacet.json",
                        description="Orders as exported by the shop.",
                    ),
                    "ownership": _facet(
                        "1-0-1/OwnershipDatasetFacet.json",
                        owners=[
                            {"name": "data-platform", "type": "TEAM"},
                            {"name": "ada@example.com", "type": "USER"},
                        ],
                    ),
                    "symlinks": _facet(
                        "1-0-1/SymlinksDatasetFacet.json",
                        identifiers=[
                            {"namespace": "dagster", "name": "raw_orders", "type": "DAGSTER_ASSET"}
                        ],
                    ),
                    "tags": _facet(
                        "1-0-0/TagsDatasetFacet.json",
                        tags=[{"key": "domain", "value": "sales", "source": "DAGSTER"}],
                    ),
                    "version": raw_written["facets"]["version"],
                },
                "inputFacets": {},
            }
        ],
        "outputs": [
            {
                "namespace": "bigquery",
                "name": "analytics.sales.orders",
                "facets": {
                    "columnLineage": _facet(
                        "1-2-0/ColumnLineageDatasetFacet.json",
                        dataset=[],
                        fields={
                            "order_id": {
                                "inputFields": [
                                    {
                                        "namespace": "s3://sales-lake",
                                        "name": raw,
                                        "field": "id",
                                        "transformations": [],
                                    }
                                ]
                            }
                        },
                    ),
                    "symlinks": _facet(
                        "1-0-1/SymlinksDatasetFacet.json",
                        identifiers=[
                            {"namespace": "dagster", "name": "orders", "type": "DAGSTER_ASSET"}
                        ],
                    ),
                    "version": orders_read["facets"]["version"],
                },
                "outputFacets": {
                    "outputStatistics": _facet(
                        "1-0-2/OutputStatisticsOutputDatasetFacet.json", rowCount=2
                    )
                },
            }
        ],
    }
    for read_or_written in (raw_written, orders_read):
        assert read_or_written["facets"]["version"] == _facet(
            version, datasetVersion=read_or_written["facets"]["version"]["datasetVersion"]
        )
