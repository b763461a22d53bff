"""Observations of external assets become OpenLineage DatasetEvents."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import (
    AssetObservation,
    Definitions,
)
from dagster._core.definitions.observe import observe

from ol_dagster import openlineage_sensor
from tests.support.asset_graph import vendor_feed
from tests.support.backend import LineageBackend
from tests.support.dagster_env import SensorDriver, dagster_instance
from tests.support.schemas import OpenLineageSchemas

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")


@pytest.mark.parametrize("storage", ["sqlite_consolidated", "postgres"])
def test_observations_in_a_run_and_reported_without_one_are_dataset_events(
    storage: str, tmp_path: Path, lineage_env: LineageBackend, schemas: OpenLineageSchemas
) -> None:
    sensor = openlineage_sensor()
    defs = Definitions(assets=[vendor_feed], sensors=[sensor])
    with dagster_instance(storage, tmp_path / "home") as instance:
        observe([vendor_feed], instance=instance)
        instance.report_runless_asset_event(
            AssetObservation(asset_key="partner_table", metadata={"dagster/row_count": 5})
        )
        SensorDriver(sensor, defs, instance).tick_until_caught_up()
    datasets = [e for e in lineage_env.received if "dataset" in e]
    for event in lineage_env.received:
        schemas.validate_event(event)
    assert [(e["dataset"]["namespace"], e["dataset"]["name"]) for e in datasets] == [
        ("s3://vendor-drop", "feed.csv"),
        ("dagster", "partner_table"),
    ]
    feed = datasets[0]["dataset"]["facets"]
    assert feed["version"]["datasetVersion"] == "v7"
    assert feed["documentation"]["description"] == "The vendor's daily feed."
    # the observing run itself is still a run with its step, but the feed is not its input/output
    steps = [e for e in lineage_env.received if "run" in e and "." in e["job"]["name"]]
    assert steps and all(e["inputs"] == [] and e["outputs"] == [] for e in steps)
