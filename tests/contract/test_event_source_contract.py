"""One suite for every EventSource: the fake and the Dagster adapter on each storage."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import sqlalchemy
from dagster import (
    AssetObservation,
    DagsterEventType,
    DagsterInstance,
    EventLogEntry,
    deserialize_value,
    serialize_value,
)
from dagster._core.definitions.observe import observe

from ol_dagster.adapters import dagster_events
from ol_dagster.adapters.asset_catalog import AssetCatalog
from ol_dagster.adapters.dagster_events import DagsterEventSource, GlobalPosition
from ol_dagster.domain.errors import CursorError
from ol_dagster.domain.ports import EventSource, Position
from ol_dagster.domain.records import DagsterRecord
from tests.fakes import FakeEventSource
from tests.support import asset_graph
from tests.support.dagster_env import (
    STORAGES,
    audited,
    dagster_instance,
    etl,
    publishing,
    run_config_for,
)
from tests.support.records import RunWriter

STEPS = ["extract", "transform", "load"]
ETL_KINDS = (
    ["RUN_START"] + [k for _ in STEPS for k in ("STEP_START", "STEP_SUCCESS")] + ["RUN_SUCCESS"]
)


@dataclass
class SourceUnderTest:
    source: EventSource
    run_etl: Callable[[], str]
    run_failing: Callable[[], str]


def _fake() -> SourceUnderTest:
    fake = FakeEventSource()

    def run_etl() -> str:
        writer = RunWriter("etl")
        fake.append(*writer.successful(STEPS))
        return writer.run_id

    def run_failing() -> str:
        writer = RunWriter("audited")
        writer.write("RUN_START")
        writer.write("STEP_START", "extract")
        writer.write("STEP_SUCCESS", "extract")
        writer.write("STEP_START", "check_quality")
        writer.write("STEP_FAILURE", "check_quality")
        writer.write("RUN_FAILURE")
        fake.append(*writer.records)
        return writer.run_id

    return SourceUnderTest(fake, run_etl, run_failing)


@pytest.fixture(params=["fake", *STORAGES])
def under_test(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SourceUnderTest]:
    if request.param == "fake":
        yield _fake()
        return
    with dagster_instance(request.param, tmp_path / "home") as instance:
        yield SourceUnderTest(
            DagsterEventSource(instance, AssetCatalog(None)),
            lambda: etl.execute_in_process(instance=instance).run_id,
            lambda: (
                audited.execute_in_process(
                    instance=instance, run_config=run_config_for(fail=True), raise_on_error=False
                ).run_id
            ),
        )


def _read_all(
    source: EventSource, position: Position, page: int
) -> tuple[list[DagsterRecord], Position]:
    records: list[DagsterRecord] = []
    for _ in range(1000):
        batch = source.read(position, page)
        saved = json.dumps(batch.position_after(len(batch.records)).to_json())
        position = source.position_from_json(json.loads(saved))  # as a cursor holds it
        records.extend(batch.records)
        if not batch.records:
            return records, position
    raise AssertionError("the source never ran dry")


def test_an_empty_log_reads_nothing(under_test: SourceUnderTest) -> None:
    source = under_test.source
    assert list(source.read(source.initial_position(0), 10).records) == []


def test_a_run_reads_whole_and_in_order_across_pages(under_test: SourceUnderTest) -> None:
    run_id = under_test.run_etl()
    records, _ = _read_all(under_test.source, under_test.source.initial_position(0), page=3)
    assert [r.kind for r in records] == ETL_KINDS
    assert {r.run_id for r in records} == {run_id}
    assert {r.job_name for r in records} == {"etl"}
    assert [r.step_key for r in records if r.kind.startswith("STEP")] == [
        s for s in STEPS for _ in "ab"
    ]
    assert [r.timestamp for r in records] == sorted(r.timestamp for r in records)


def test_failures_carry_their_error(under_test: SourceUnderTest) -> None:
    under_test.run_failing()
    records, _ = _read_all(under_test.source, under_test.source.initial_position(0), page=50)
    assert [r.kind for r in records][-2:] == ["STEP_FAILURE", "RUN_FAILURE"]
    if not isinstance(under_test.source, FakeEventSource):
        step_failure = records[-2]
        assert step_failure.error is not None
        assert "quality check failed" in step_failure.error.message


def test_position_after_resumes_exactly_after_that_record(under_test: SourceUnderTest) -> None:
    under_test.run_etl()
    source = under_test.source
    batch = source.read(source.initial_position(0), 5)
    assert len(batch.records) == 5
    resumed = source.read(batch.position_after(2), 5)
    assert resumed.records[0] == batch.records[2]
    rest, _ = _read_all(source, batch.position_after(5), page=4)
    assert [r.kind for r in list(batch.records) + rest] == ETL_KINDS


def test_later_runs_are_read_from_the_saved_position(under_test: SourceUnderTest) -> None:
    first = under_test.run_etl()
    _, position = _read_all(under_test.source, under_test.source.initial_position(0), page=4)
    second, third = under_test.run_etl(), under_test.run_failing()
    records, _ = _read_all(under_test.source, position, page=4)
    assert first not in {r.run_id for r in records}
    for run_id, kinds in ((second, ETL_KINDS), (third, None)):
        own = [r.kind for r in records if r.run_id == run_id]
        assert own[0] == "RUN_START" and own[-1] in ("RUN_SUCCESS", "RUN_FAILURE")
        if kinds:
            assert own == kinds


def test_a_start_after_all_history_skips_it(under_test: SourceUnderTest) -> None:
    under_test.run_etl()
    source = under_test.source
    assert list(source.read(source.initial_position(10**9), 10).records) == []


def test_a_position_of_another_storage_is_a_clear_error(tmp_path: Path) -> None:
    with dagster_instance("sqlite_sharded", tmp_path / "home") as instance:
        source = DagsterEventSource(instance, AssetCatalog(None))
        with pytest.raises(CursorError, match=r"reading strategy.*Reset it"):
            source.position_from_json({"strategy": "storage_id", "after": 12})
        with pytest.raises(CursorError, match="reading strategy"):
            source.position_from_json(12)
        with pytest.raises(CursorError, match="reading strategy"):
            source.read(GlobalPosition(12), 10)


@pytest.mark.parametrize("kept", [1, 10_000])
@pytest.mark.parametrize("storage", STORAGES)
def test_run_facts_are_the_same_on_whichever_page_a_run_begins(
    storage: str, kept: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source keeps run facts from page to page (up to `_KNOWN_RUNS_KEPT` runs) and takes a
    run's start from its RUN_START record; a source that meets a run mid-way asks the run
    storage. Both must describe every record's run alike."""
    monkeypatch.setattr(dagster_events, "_KNOWN_RUNS_KEPT", kept)
    with dagster_instance(storage, tmp_path / "home") as instance:
        etl.execute_in_process(instance=instance, tags={"team": "data"})
        etl.execute_in_process(instance=instance)
        kept_along, _ = _read_all(
            DagsterEventSource(instance, AssetCatalog(None)), _start(instance), page=3
        )
        fresh: list[DagsterRecord] = []
        position = _start(instance)
        while (batch := DagsterEventSource(instance, AssetCatalog(None)).read(position, 3)).records:
            fresh.extend(batch.records)
            position = batch.position_after(len(batch.records))
    assert len(kept_along) == len(fresh) == 2 * len(ETL_KINDS)

    def run_side(record: DagsterRecord) -> tuple[object, ...]:
        return (record.run_id, record.location, record.run)

    assert [run_side(r) for r in kept_along] == [run_side(r) for r in fresh]
    for along, alone in zip(kept_along, fresh, strict=True):
        # a RUN_START record's timestamp, or the run storage's start time: the same instant,
        # which Dagster stores through a datetime (microseconds)
        assert along.run_started_at is not None and alone.run_started_at is not None
        assert abs(along.run_started_at - alone.run_started_at) < 1e-5
    assert {r.run.tags for r in fresh} == {(("team", "data"),), ()}


def _start(instance: DagsterInstance) -> Position:
    return DagsterEventSource(instance, AssetCatalog(None)).initial_position(0)


@pytest.mark.filterwarnings("ignore::dagster.BetaWarning")
@pytest.mark.parametrize("storage", STORAGES)
def test_records_read_as_dagster_reads_them(
    storage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source reads the event log's rows and decodes the plain records' JSON itself; every
    record must come out as through Dagster's own API (`get_logs_for_all_runs_by_log_id`,
    `get_records_for_run`, which a storage that is not SQL leaves it), whatever its type."""
    with dagster_instance(storage, tmp_path / "home") as instance:
        _every_kind_of_record(instance)
        own, _ = _read_all(DagsterEventSource(instance, AssetCatalog(None)), _start(instance), 7)
        rows = _rows(instance)
        with monkeypatch.context() as patched:  # as on a storage that is not SQL
            patched.setattr(dagster_events, "event_rows", lambda *args: None)
            patched.setattr(dagster_events, "run_event_rows", lambda *args: None)
            dagsters, _ = _read_all(
                DagsterEventSource(instance, AssetCatalog(None)), _start(instance), 7
            )
    assert own == dagsters
    assert {r.kind for r in own} >= {
        "RUN_START", "RUN_SUCCESS", "RUN_FAILURE", "STEP_START", "STEP_SUCCESS", "STEP_FAILURE",
        "STEP_UP_FOR_RETRY", "STEP_RESTARTED", "ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION",
        "ASSET_OBSERVATION",
    }  # fmt: skip
    assert any(r.error for r in own) and any(r.datasets for r in own)
    for storage_id, text, stored_type in rows:  # each row alone, decoded and as Dagster reads it
        decoded = dagster_events._decode(storage_id, text, stored_type)
        dagster = dagster_events._Entry.of(deserialize_value(text, EventLogEntry))
        assert replace(decoded, full=None) == replace(dagster, full=None)
        plain = dagster.full is not None and dagster.full.dagster_event_type in PLAIN
        assert (decoded.full is None) == plain
        assert decoded.full is None or decoded.full == dagster.full


PLAIN = {
    DagsterEventType.RUN_START,
    DagsterEventType.RUN_SUCCESS,
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
}


def _every_kind_of_record(instance: DagsterInstance) -> None:
    """Runs that write every type of record the source reads: a job that succeeds, one that
    fails, a step retried, assets with metadata and partitions, a failed check, a failed asset,
    observations in a run and without one."""
    etl.execute_in_process(instance=instance, tags={"team": "data"})
    audited.execute_in_process(
        instance=instance, run_config=run_config_for(fail=True), raise_on_error=False
    )
    publishing.execute_in_process(instance=instance, raise_on_error=False)
    defs = asset_graph.definitions()
    for job in ("sales_job", "forecast_job"):
        defs.resolve_job_def(job).execute_in_process(instance=instance, raise_on_error=False)
    report = defs.resolve_job_def("report_job")
    report.execute_in_process(instance=instance, partition_key="emea")
    observe([asset_graph.vendor_feed], instance=instance)
    instance.report_runless_asset_event(
        AssetObservation(asset_key="partner_table", metadata={"dagster/row_count": 5})
    )


def _rows(instance: DagsterInstance) -> list[tuple[int, str, str]]:
    """Every stored record of a type the source reads, as (storage id, JSON), from each run."""
    storage = instance.event_log_storage
    rows = []
    for run_id in instance.get_run_ids():
        found = dagster_events.run_event_rows(storage, run_id, 0, TYPE_VALUES, 10_000)
        assert found is not None
        rows.extend(found)
    return rows


TYPE_VALUES = sorted(t.value for t in dagster_events.EVENT_TYPES)


@pytest.mark.parametrize("storage", STORAGES)
def test_a_record_dagster_cannot_read_is_named_and_read_past(
    storage: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A record Dagster's own reader cannot read (written by a newer Dagster than the sensor's
    code location runs, say) comes out with no event type, which the tick skips by its storage
    id, and the records after it are read. Dagster's API ends its read of all runs at such a
    record, and fails its read of the run's records."""
    with dagster_instance(storage, tmp_path / "home") as instance:
        run_id = etl.execute_in_process(instance=instance).run_id
        rows = _rows(instance)
        broken = rows[3][0]
        future = json.loads(rows[3][1])
        future["__class__"] = "EventLogEntryFromTheFuture"
        with instance.event_log_storage.run_connection(run_id) as connection:
            connection.execute(
                sqlalchemy.text("UPDATE event_logs SET event = :event WHERE id = :id"),
                {"event": json.dumps(future), "id": broken},
            )
        source = DagsterEventSource(instance, AssetCatalog(None))
        records, _ = _read_all(source, _start(instance), 4)
    assert [r.storage_id for r in records] == [row[0] for row in rows]
    unreadable = records[3]
    assert (unreadable.kind, unreadable.run_id) == ("", records[0].run_id)
    assert unreadable.timestamp == future["timestamp"]  # its time, for the gaps waited on
    assert f"Dagster cannot read storage id {broken}" in caplog.text
    assert "EventLogEntryFromTheFuture" in caplog.text


def test_a_plain_record_in_a_shape_not_known_is_read_by_dagster() -> None:
    """The plain records' JSON is read only in the shape Dagster's serdes writes; any other
    shape (a field renamed, a type changed) goes through Dagster's own reader."""
    entry = EventLogEntry(
        error_info=None,
        level="DEBUG",
        user_message="",
        run_id="r1",
        timestamp=1700000000.25,
        step_key="extract",
        job_name="etl",
        dagster_event=None,
    )
    text = serialize_value(entry)
    assert dagster_events._decode(1, text, "") == dagster_events._Entry.of(entry)  # not plain
    stored = json.loads(text)
    stored["dagster_event"] = {"__class__": "DagsterEvent", "event_type_value": "STEP_START"}
    assert dagster_events._plain(stored) == dagster_events._Entry(
        "r1", "etl", "extract", 1700000000.25, DagsterEventType.STEP_START
    )
    renamed = {k: v for k, v in stored.items() if k != "pipeline_name"} | {"job_name": "etl"}
    for changed in (
        renamed,
        stored | {"timestamp": 1700000000},
        stored | {"run_id": None},
        stored | {"step_key": 3},
        stored | {"__class__": "DagsterEventRecord"},  # an older name of the class
    ):
        assert dagster_events._plain(changed) is None, changed
