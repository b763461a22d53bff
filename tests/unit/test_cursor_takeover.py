"""A cursor written by openlineage-dagster is resumed from, keeping the run ids it sent."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from ol_dagster.adapters.dagster_events import (
    GlobalPosition,
    PerRunPosition,
    _global_position,
    _per_run_position,
)
from ol_dagster.adapters.json_cursor import decode, encode
from ol_dagster.domain.errors import CursorError
from ol_dagster.domain.positions import LEGACY_STRATEGY, JsonValue, Position
from ol_dagster.domain.translate import Translator
from tests.fakes import OpaquePosition
from tests.support.records import RunWriter

STEP_ID = "5f3c6a4e-0c79-4f11-9d9e-6d2f4fbc2a10"


def _legacy_cursor(run_id: str, last_storage_id: int) -> str:
    # The shape openlineage-dagster wrote: attr.asdict of its OpenLineageCursor.
    return json.dumps(
        {
            "last_storage_id": last_storage_id,
            "running_pipelines": {
                run_id: {
                    "running_steps": {
                        "extract": {
                            "step_run_id": STEP_ID,
                            "input_datasets": [],
                            "output_datasets": [],
                        }
                    },
                    "repository_name": "my_repo",
                }
            },
        }
    )


def test_runs_in_flight_finish_under_the_ids_openlineage_dagster_sent() -> None:
    run = RunWriter("etl")
    run.write("RUN_START")
    run.write("STEP_START", "extract")
    already_sent = run.records[-1].storage_id
    rest = [run.write("STEP_SUCCESS", "extract"), run.write("STEP_START", "load")]
    rest += [run.write("STEP_SUCCESS", "load"), run.write("RUN_SUCCESS")]

    state = decode(_legacy_cursor(run.run_id, already_sent), 1_800_000_000.0, OpaquePosition)
    assert state.position == OpaquePosition(
        {"strategy": LEGACY_STRATEGY, "after": already_sent, "runs": [run.run_id]}
    )
    translator = Translator("default")
    events = [e for record in rest for e in translator.translate(state.runs, record)]
    assert [(e.event_type.value, e.job.name, e.run_id) for e in events] == [
        ("COMPLETE", "etl.extract", STEP_ID),
        ("START", "etl.load", events[1].run_id),
        ("COMPLETE", "etl.load", events[1].run_id),
        (
            "COMPLETE",
            "etl",
            run.run_id,
        ),  # openlineage-dagster named job runs after the Dagster run id
    ]
    assert events[0].parent is not None and events[0].parent.run_id == run.run_id
    assert state.runs.runs == {}


@pytest.mark.parametrize(
    ("positions", "expected"),
    [
        (_global_position, GlobalPosition(41)),
        # openlineage-dagster read only the run-status index on run-sharded storage: the runs
        # it had in flight are read from their start
        (_per_run_position, PerRunPosition(41, {"r1": 0})),
    ],
    ids=["global storage id", "per run"],
)
def test_a_taken_over_cursor_is_saved_in_the_new_format(
    positions: Callable[[JsonValue], Position], expected: Position
) -> None:
    state = decode(_legacy_cursor("r1", 41), 5.0, positions)
    assert state.position == expected
    again = decode(encode(state), 99.0, positions)
    assert again == state


@pytest.mark.parametrize(
    ("cursor", "reason"),
    [
        ('{"last_storage_id": "x"}', "openlineage-dagster cursor with a bad last_storage_id"),
        ("[1, 2]", "Input should be a valid dictionary"),
        ('{"v": 1, "pos": 3, "runs": {"r": {"t": "soon"}}}', "runs.r.t"),
        ("", None),
    ],
)
def test_a_cursor_that_is_not_ours_is_a_clear_error(cursor: str, reason: str | None) -> None:
    if reason is None:
        with pytest.raises(CursorError, match="not JSON"):
            decode(cursor, 0.0, OpaquePosition)
        return
    with pytest.raises(CursorError, match=r"not an ol-dagster cursor .*Reset it") as raised:
        decode(cursor, 0.0, OpaquePosition)
    assert reason in str(raised.value)


def test_open_steps_of_a_version_1_cursor_keep_the_ids_they_were_sent_under() -> None:
    from ol_dagster.adapters.json_cursor import decode, encode
    from ol_dagster.domain.run_ids import job_run_id, uuid7

    # a start whose truncated milliseconds (version 1) differ from its microseconds' (version 2)
    started, step_started = 1760721931.0029998, 1760721932.0029998
    v1 = (
        f'{{"v": 1, "pos": 3, "runs": {{"r1": {{"t": {started!r}, '
        f'"s": {{"load": {{"n": 1, "t": {step_started!r}}}}}}}}}}}'
    )
    state = decode(v1, 200.0, OpaquePosition)

    run, step = state.runs.runs["r1"], state.runs.runs["r1"].steps["load"]
    assert step.run_id == uuid7(1760721932.002, "dagster-step:r1:load:1")  # its own start
    assert run.run_id == uuid7(1760721931.002, "dagster-run:r1") != job_run_id("r1", started)
    assert (
        decode(encode(state), 200.0, OpaquePosition).runs.runs["r1"].steps["load"].run_id
        == step.run_id
    )
