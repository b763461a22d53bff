"""One suite for every CursorStore: the fake and the JSON store over a cursor string."""

from __future__ import annotations

import pytest

from ol_dagster.adapters.dagster_events import PerRunPosition, _per_run_position
from ol_dagster.adapters.json_cursor import JsonCursorStore
from ol_dagster.domain.datasets import DatasetId
from ol_dagster.domain.ports import CursorStore
from ol_dagster.domain.run_state import OpenRun, OpenStep, RunState, TailState
from tests.fakes import FakeCursorStore


def _json_store() -> JsonCursorStore:
    slot: dict[str, str | None] = {"cursor": None}
    return JsonCursorStore(
        read=lambda: slot["cursor"],
        write=lambda text: slot.update(cursor=text),
        positions=_per_run_position,
    )


@pytest.fixture(params=["fake", "json"])
def store(request: pytest.FixtureRequest) -> CursorStore:
    return FakeCursorStore() if request.param == "fake" else _json_store()


def _state() -> TailState:
    run = OpenRun(
        1_700_000_000.25,
        {
            "load": OpenStep(2, 1_700_000_003.5),
            "x": OpenStep(1, None),
            "y": OpenStep(1, 2.0, "id-y", asset=True),
        },
    )
    runs = {
        "r1": run,
        "r2": OpenRun(
            1_700_000_009.0,
            run_id="0190f1d2-0000-7000-8000-000000000001",
            outputs=[DatasetId("s3://lake", "raw/orders"), DatasetId("dagster", "a/b")],
        ),
    }
    return TailState(PerRunPosition(7, {"r1": 3}), RunState(runs), log_time=1_700_000_010.5)


def test_nothing_saved_loads_as_none(store: CursorStore) -> None:
    assert store.load() is None


def test_what_is_saved_loads_back_equal(store: CursorStore) -> None:
    store.save(_state())
    assert store.load() == _state()


def test_a_later_save_replaces_the_earlier(store: CursorStore) -> None:
    store.save(_state())
    store.save(TailState(PerRunPosition(99, {}), RunState()))
    assert store.load() == TailState(PerRunPosition(99, {}), RunState())


def test_changing_the_state_after_saving_it_changes_nothing_saved(store: CursorStore) -> None:
    state = _state()
    store.save(state)
    state.runs.runs["r1"].steps.clear()
    state.runs.runs.clear()
    assert store.load() == _state()
