from __future__ import annotations

from dataclasses import replace

import pytest

from ol_dagster.domain.datasets import Dataset, DatasetId
from ol_dagster.domain.errors import UntranslatableRecord
from ol_dagster.domain.lineage import EventType, JobKind, LineageEvent
from ol_dagster.domain.records import DagsterRecord, ErrorDetail
from ol_dagster.domain.run_ids import job_run_id
from ol_dagster.domain.run_state import RunState
from ol_dagster.domain.translate import Translator
from tests.support.records import RunWriter


def _translate(records: list[DagsterRecord], namespace: str = "default") -> list[LineageEvent]:
    translator, state = Translator(namespace), RunState()
    events: list[LineageEvent] = []
    for record in records:
        events.extend(translator.translate(state, record))
    assert state.runs == {}, "every run read to its end leaves the state"
    return events


def _shape(events: list[LineageEvent]) -> list[tuple[str, str]]:
    return [(e.event_type.value, e.job.name) for e in events]


def test_a_successful_run_is_one_job_run_with_one_run_per_step() -> None:
    run = RunWriter("etl")
    events = _translate(run.successful(["extract", "load"]))
    assert _shape(events) == [
        ("START", "etl"),
        ("START", "etl.extract"),
        ("COMPLETE", "etl.extract"),
        ("START", "etl.load"),
        ("COMPLETE", "etl.load"),
        ("COMPLETE", "etl"),
    ]
    job_id = job_run_id(run.run_id, run.records[0].timestamp)
    assert events[0].run_id == events[-1].run_id == job_id
    assert [e.job_kind for e in events] == [JobKind.JOB] + [JobKind.OP] * 4 + [JobKind.JOB]
    for step_event in events[1:-1]:
        assert step_event.parent is not None
        assert step_event.parent.run_id == step_event.parent.root_run_id == job_id
        assert step_event.parent.job.name == "etl"
    assert events[1].run_id == events[2].run_id != events[3].run_id


def test_event_time_is_the_dagster_timestamp_in_utc() -> None:
    run = RunWriter("etl", start=1_700_000_000.0)
    events = _translate(run.successful([]))
    assert events[0].event_time.isoformat() == "2023-11-14T22:13:20.500000+00:00"


def test_failures_carry_the_error_of_the_step_and_of_the_run() -> None:
    run = RunWriter("etl")
    run.write("RUN_START")
    run.write("STEP_START", "load")
    run.write("STEP_FAILURE", "load", ErrorDetail("disk full", "Traceback ..."))
    run.write("RUN_FAILURE", error=ErrorDetail("Steps failed: ['load']"))
    events = _translate(run.records)
    assert _shape(events)[-2:] == [("FAIL", "etl.load"), ("FAIL", "etl")]
    assert events[-2].error == ErrorDetail("disk full", "Traceback ...")
    assert events[-1].error == ErrorDetail("Steps failed: ['load']")
    assert events[0].error is None


def test_each_retry_attempt_is_its_own_run() -> None:
    run = RunWriter("etl")
    run.write("RUN_START")
    run.write("STEP_START", "load")
    run.write("STEP_UP_FOR_RETRY", "load")
    run.write("STEP_RESTARTED", "load")
    run.write("STEP_START", "load")  # the multiprocess executor may report the attempt twice
    run.write("STEP_SUCCESS", "load")
    run.write("RUN_SUCCESS")
    events = _translate(run.records)
    assert _shape(events) == [
        ("START", "etl"),
        ("START", "etl.load"),
        ("FAIL", "etl.load"),
        ("START", "etl.load"),
        ("COMPLETE", "etl.load"),
        ("COMPLETE", "etl"),
    ]
    assert events[1].run_id == events[2].run_id
    assert events[3].run_id == events[4].run_id != events[1].run_id


def test_a_cancelled_run_aborts_the_steps_still_open() -> None:
    run = RunWriter("etl")
    run.write("RUN_START")
    run.write("STEP_START", "extract")
    run.write("STEP_START", "load")
    run.write("STEP_SUCCESS", "extract")
    run.write("RUN_CANCELED")
    events = _translate(run.records)
    assert _shape(events)[-2:] == [("ABORT", "etl.load"), ("ABORT", "etl")]


def test_a_run_that_fails_before_starting_gets_one_fail() -> None:
    run = RunWriter("etl")
    run.write("RUN_FAILURE", error=ErrorDetail("could not launch"))
    events = _translate(run.records)
    assert _shape(events) == [("FAIL", "etl")]


def test_a_run_joined_after_its_start_keeps_the_id_of_its_start() -> None:
    run = RunWriter("etl")
    start = run.write("RUN_START")
    later = [
        run.write("STEP_START", "load"),
        run.write("STEP_SUCCESS", "load"),
        run.write("RUN_SUCCESS"),
    ]
    hinted = [replace(r, run_started_at=start.timestamp) for r in later]
    events = _translate(hinted)
    assert events[-1].run_id == job_run_id(run.run_id, start.timestamp)
    assert events[0].parent is not None and events[0].parent.run_id == events[-1].run_id


def test_namespace_is_the_location_else_the_default() -> None:
    assert {
        e.job.namespace for e in _translate(RunWriter("etl", location="sales").successful(["a"]))
    } == {"sales"}
    assert {e.job.namespace for e in _translate(RunWriter("etl").successful(["a"]), "prod")} == {
        "prod"
    }


def test_a_repeated_start_sends_nothing_twice() -> None:
    run = RunWriter("etl")
    start = run.write("RUN_START")
    events = _translate([start, start, run.write("RUN_SUCCESS")])
    assert _shape(events) == [("START", "etl"), ("COMPLETE", "etl")]


@pytest.mark.parametrize(
    ("kind", "step_key", "job", "reason"),
    [
        ("ASSET_WIBBLE", None, "etl", "unknown event type 'ASSET_WIBBLE'"),
        ("STEP_START", None, "etl", "STEP_START has no step key"),
        ("RUN_START", None, "", "the record names no job"),
    ],
)
def test_records_the_domain_cannot_read_are_rejected_with_their_storage_id(
    kind: str, step_key: str | None, job: str, reason: str
) -> None:
    record = DagsterRecord(
        kind=kind, run_id="r1", job_name=job, timestamp=1.0, storage_id=42, step_key=step_key
    )
    with pytest.raises(UntranslatableRecord, match=f"record 42 of run r1: {reason}"):
        Translator("default").translate(RunState(), record)


def test_translate_all_skips_bad_records_and_goes_on() -> None:
    run = RunWriter("etl")
    records = run.successful([])
    bad = DagsterRecord(kind="NOPE", run_id="r9", job_name="x", timestamp=1.0, storage_id=7)
    events, counts, skipped = Translator("default").translate_all(
        RunState(), [records[0], bad, records[1]]
    )
    assert [e.event_type for e in events] == [EventType.START, EventType.COMPLETE]
    assert counts == [1, 0, 1]
    assert [s.storage_id for s in skipped] == [7]


def test_an_asset_step_aborted_with_its_run_is_still_an_asset_step() -> None:
    run = RunWriter("assets")
    run.write("RUN_START")
    start = run.write("STEP_START", "orders")
    records = [r for r in run.records if r is not start]
    records.insert(1, replace(start, asset_step=True))
    records.append(run.write("RUN_CANCELED"))
    events = _translate(records)
    assert [
        (e.event_type.value, e.job_kind.value) for e in events if e.job.name == "assets.orders"
    ] == [
        ("START", "ASSET"),
        ("ABORT", "ASSET"),
    ]


def test_a_step_joined_mid_way_keeps_one_run_id_and_is_aborted_with_its_run() -> None:
    run = RunWriter("assets")
    run.write("RUN_START")
    materialized = replace(
        run.write("ASSET_MATERIALIZATION", "orders"),
        datasets=(Dataset(DatasetId("dagster", "orders"), ("orders",)),),
    )
    second = replace(
        materialized,
        timestamp=materialized.timestamp + 1,
        storage_id=materialized.storage_id + 1000,
    )
    cancel = run.write("RUN_CANCELED")
    events = _translate([run.records[0], materialized, second, cancel])
    step_events = [e for e in events if e.job.name == "assets.orders"]
    assert [e.event_type.value for e in step_events] == ["RUNNING", "RUNNING", "ABORT"]
    assert len({e.run_id for e in step_events}) == 1


def test_a_step_is_named_alike_whether_its_start_was_read_or_not() -> None:
    run = RunWriter("etl")
    records = run.successful(["extract"])
    start = replace(records[2], run_started_at=records[0].timestamp)  # STEP_SUCCESS, run known
    from_its_start = _translate(records)
    joined = Translator("default").translate(RunState(), start)  # read from its end only

    assert joined[0].run_id == from_its_start[1].run_id == from_its_start[2].run_id


def test_a_late_step_start_after_its_run_ended_is_sent_under_its_ids_and_reopens_nothing() -> None:
    run = RunWriter("etl")
    records = run.successful(["extract"])
    on_time = _translate(records)
    translator, state = Translator("default"), RunState()
    start = records[1]
    for record in [records[0], *records[2:]]:  # the step's START committed late
        translator.translate(state, replace(record, run_started_at=records[0].timestamp))
    late = translator.translate(
        state, replace(start, late=True, run_started_at=records[0].timestamp)
    )

    assert [(e.event_type, e.run_id) for e in late] == [(EventType.START, on_time[1].run_id)]
    assert state.runs == {}


def test_a_late_run_start_of_a_run_joined_before_it_is_sent() -> None:
    run = RunWriter("etl")
    records = run.successful(["extract"])
    on_time = _translate(records)
    translator, state = Translator("default"), RunState()
    translator.translate(state, replace(records[1], run_started_at=records[0].timestamp))
    late = translator.translate(state, replace(records[0], late=True))

    assert [(e.event_type, e.run_id) for e in late] == [(EventType.START, on_time[0].run_id)]
    assert list(state.runs) == [run.run_id]


def test_a_late_step_start_while_its_run_is_open_does_not_reopen_the_ended_step() -> None:
    run = RunWriter("etl")
    records = run.successful(["extract", "load"])
    on_time = _translate(records)
    translator, state = Translator("default"), RunState()
    for record in records[:1] + records[2:4]:  # RUN_START, extract's SUCCESS, load's START
        translator.translate(state, replace(record, run_started_at=records[0].timestamp))
    late = translator.translate(state, replace(records[1], late=True))  # extract's START
    rest = [e for r in records[4:] for e in translator.translate(state, r)]

    assert [(e.event_type, e.run_id) for e in late] == [(EventType.START, on_time[1].run_id)]
    assert _shape(rest) == [("COMPLETE", "etl.load"), ("COMPLETE", "etl")]  # no ABORT of extract


class _DefectOnStep(Translator):
    """A translator with a defect that shows on one step's start."""

    def translate(self, state: RunState, record: DagsterRecord) -> list[LineageEvent]:  # type: ignore[override]
        if record.kind == "STEP_START" and record.step_key == "broken":
            raise KeyError("a defect")
        return super().translate(state, record)  # type: ignore[return-value]


def test_a_defect_in_translating_one_record_costs_that_record_alone() -> None:
    run = RunWriter("etl")
    records = run.successful(["extract", "broken", "load"])
    events, counts, skipped = _DefectOnStep("default").translate_all(RunState(), records)
    [defect] = skipped
    broken = records[3]
    assert (defect.run_id, defect.storage_id) == (run.run_id, broken.storage_id)
    assert "KeyError" in defect.reason
    assert f"--from-storage-id {broken.storage_id - 1} --to-storage-id {broken.storage_id}" in (
        defect.reason
    )
    assert counts[3] == 0 and len(counts) == len(records)
    assert _shape(events)[-1] == ("COMPLETE", "etl")  # the records after it still go
    assert ("START", "etl.load") in _shape(events)
