"""No metadata value stops lineage: a value that cannot be read is left out of its event, with one
warning naming the asset, the metadata key and the storage id, and every event still goes."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    AssetKey,
    AssetObservation,
    Definitions,
    MaterializeResult,
    asset,
    define_asset_job,
    materialize,
)

from ol_dagster import openlineage_sensor
from ol_dagster.adapters.asset_catalog import AssetCatalog
from ol_dagster.adapters.dagster_events import DagsterEventSource
from ol_dagster.adapters.graphql_definitions import DefinitionsUnavailable
from ol_dagster.app.tick import TickBudget, run_tick
from ol_dagster.domain.datasets import Dataset
from ol_dagster.domain.records import DagsterRecord
from ol_dagster.domain.translate import Translator
from tests.fakes import FakeCursorStore, FakeDeadLetters, FakeEmitter
from tests.support.backend import LineageBackend
from tests.support.dagster_env import SensorDriver, dagster_instance
from tests.support.schemas import OpenLineageSchemas

pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

BAD_PORT = "postgresql://u:p@db.example.com:port/w"
BAD_VALUES: dict[str, dict[str, Any]] = {
    "nan_rows": {"dagster/row_count": math.nan},
    "infinite_size": {"dagster/size_bytes": math.inf},
    "bad_port": {"dagster/uri": BAD_PORT},
    "huge_rows": {"dagster/row_count": 10**30},
}


def _asset_with(name: str, metadata: dict[str, Any]) -> Any:
    @asset(name=name)
    def materialized() -> MaterializeResult:
        return MaterializeResult(metadata={"dagster/row_count": 3, **metadata})

    return materialized


@asset(metadata={"dagster/uri": "s3://lake/healthy.parquet"})
def healthy() -> MaterializeResult:
    return MaterializeResult(metadata={"dagster/row_count": 7})


@asset(metadata={"dagster/uri": BAD_PORT})
def defined_with_a_bad_port() -> None:
    return None


BAD_ASSETS = [_asset_with(name, metadata) for name, metadata in BAD_VALUES.items()]
HEALTHY_JOB = define_asset_job("healthy_job", selection=[healthy])


@pytest.mark.parametrize("storage", ["sqlite_sharded", "sqlite_consolidated", "postgres"])
def test_bad_metadata_between_healthy_runs_leaves_out_the_value_and_sends_every_event(
    storage: str,
    tmp_path: Path,
    lineage_env: LineageBackend,
    schemas: OpenLineageSchemas,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sensor = openlineage_sensor()
    assets = [healthy, defined_with_a_bad_port, *BAD_ASSETS]
    defs = Definitions(assets=assets, jobs=[HEALTHY_JOB], sensors=[sensor])
    with dagster_instance(storage, tmp_path / "home") as instance:
        ran = [materialize([healthy], instance=instance).run_id]
        for bad in [defined_with_a_bad_port, *BAD_ASSETS]:
            ran.append(materialize([bad], instance=instance).run_id)
            ran.append(materialize([healthy], instance=instance).run_id)
        if storage != "sqlite_sharded":  # runless observations need a global storage id
            instance.report_runless_asset_event(
                AssetObservation(
                    asset_key="partner_table", metadata={"dagster/row_count": math.nan}
                )
            )
        with caplog.at_level(logging.WARNING, logger="ol_dagster"):
            SensorDriver(sensor, defs, instance).tick_until_caught_up()

    events = lineage_env.received
    for event in events:
        schemas.validate_event(event)
    runs = [e for e in events if "run" in e and "." not in e["job"]["name"]]
    ended = [e for e in runs if e["eventType"] == "COMPLETE"]
    assert len(ended) == len(ran)  # every run's COMPLETE arrived, the healthy runs between too
    outputs = {
        output["name"]: output
        for e in events
        if "run" in e and e["eventType"] == "RUNNING"
        for output in e["outputs"]
    }
    for name in BAD_VALUES:
        assert name in outputs, f"{name}'s materialization was not sent"
    assert "outputStatistics" not in outputs["nan_rows"].get("outputFacets", {})
    assert "outputStatistics" not in outputs["huge_rows"].get("outputFacets", {})
    statistics = outputs["infinite_size"]["outputFacets"]["outputStatistics"]
    assert statistics["rowCount"] == 3 and "size" not in statistics
    # an unreadable URI names the asset by its key, and nothing of the URI goes anywhere
    assert outputs["bad_port"]["namespace"] == "dagster"
    assert outputs["defined_with_a_bad_port"]["namespace"] == "dagster"
    assert outputs["healthy.parquet"]["namespace"] == "s3://lake"
    assert not any("p@db" in str(e) for e in events)

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for name, metadata in BAD_VALUES.items():
        [key] = metadata
        named = [w for w in warnings if f"asset {name}" in w and key in w]
        assert named, f"no warning names {name} and {key}: {warnings}"
        assert "storage id" in named[0]
    assert any("asset defined_with_a_bad_port" in w and "dagster/uri" in w for w in warnings)
    assert not any("p@db" in w for w in warnings)
    if storage != "sqlite_sharded":
        observed = [e for e in events if "dataset" in e]
        assert [e["dataset"]["name"] for e in observed] == ["partner_table"]
        assert AssetKey("partner_table").to_user_string() in " ".join(warnings)


class _DefectiveCatalog(AssetCatalog):
    """A catalog with a defect that shows on one asset."""

    def materialized(self, key: AssetKey, *args: Any, **kwargs: Any) -> Dataset:
        if key == AssetKey("nan_rows"):
            raise RuntimeError("a defect")
        return super().materialized(key, *args, **kwargs)


@pytest.mark.parametrize("storage", ["sqlite_sharded", "sqlite_consolidated"])
def test_a_defect_in_reading_one_record_costs_its_assets_alone(
    storage: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with dagster_instance(storage, tmp_path / "home") as instance:
        for materialized in (BAD_ASSETS[0], healthy):
            materialize([materialized], instance=instance)
        source = DagsterEventSource(instance, _DefectiveCatalog())
        with caplog.at_level(logging.WARNING, logger="ol_dagster"):
            records: list[DagsterRecord] = []
            position = source.initial_position(0)
            while True:
                batch = source.read(position, 100)
                if not batch.records:
                    break
                records.extend(batch.records)
                position = batch.position_after(len(batch.records))
    materializations = [r for r in records if r.kind == "ASSET_MATERIALIZATION"]
    assert [r.step_key for r in materializations] == ["nan_rows", "healthy"]
    defective, fine = materializations
    assert defective.datasets == () and fine.datasets != ()
    assert defective.defect == "RuntimeError: a defect" and fine.defect is None
    assert len(records) == len({(r.run_id, r.storage_id) for r in records}) == 10
    [warning] = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
    assert f"storage id {defective.storage_id}" in warning and "RuntimeError" in warning

    # the tick sends every other event, and keeps the materialization as a dead letter
    letters, emitter = FakeDeadLetters(), FakeEmitter()
    report = run_tick(
        source=source,
        cursor=FakeCursorStore(),
        emitter=emitter,
        translator=Translator("default"),
        budget=TickBudget(page_size=30, seconds=30.0),
        dead_letters=letters,
    )
    assert report.caught_up and len(emitter.sent) == 9  # 2 runs, 2 steps, 1 materialization
    [letter] = letters.letters()
    assert (letter.event_type, letter.storage_id) == ("UNTRANSLATED", defective.storage_id)
    assert "RuntimeError: a defect" in letter.reason


class _UnreachableCatalog(AssetCatalog):
    def materialized(self, key: AssetKey, *args: Any, **kwargs: Any) -> Dataset:
        raise DefinitionsUnavailable("the webserver does not answer")


def test_a_webserver_that_does_not_answer_holds_the_read_back_rather_than_skip(
    tmp_path: Path,
) -> None:
    with dagster_instance("sqlite_consolidated", tmp_path / "home") as instance:
        materialize([healthy], instance=instance)
        source = DagsterEventSource(instance, _UnreachableCatalog())
        with pytest.raises(DefinitionsUnavailable):
            source.read(source.initial_position(0), 100)


class _DefectiveSteps(AssetCatalog):
    """A catalog with a defect that shows on one step's assets (every record of that step)."""

    def step_datasets(self, job_name: str, step_key: str) -> tuple[Dataset, ...]:
        if step_key == "nan_rows":
            raise RuntimeError("a defect")
        return super().step_datasets(job_name, step_key)


def test_a_defect_in_a_steps_assets_costs_those_assets_alone(tmp_path: Path) -> None:
    with dagster_instance("sqlite_consolidated", tmp_path / "home") as instance:
        for materialized in (BAD_ASSETS[0], healthy):
            materialize([materialized], instance=instance)
        source = DagsterEventSource(instance, _DefectiveSteps())
        records = source.read(source.initial_position(0), 100).records
    broken = [r for r in records if r.step_key == "nan_rows"]
    assert {r.kind for r in broken} >= {"STEP_START", "ASSET_MATERIALIZATION", "STEP_SUCCESS"}
    assert all(r.defect == "RuntimeError: a defect" and r.step_datasets == () for r in broken)
    assert len(records) == 10
