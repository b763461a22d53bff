"""The global reader's position: what it keeps of storage ids waited on and given up on."""

from __future__ import annotations

import pytest

from ol_dagster.adapters.dagster_events import _global_position, _GlobalBatch, _missing_spans
from ol_dagster.domain.errors import CursorError
from ol_dagster.domain.records import DagsterRecord


def _record(storage_id: int, *, late: bool = False) -> DagsterRecord:
    return DagsterRecord("STEP_START", "r", "etl", 1.0, storage_id, "load", late=late)


def test_a_partly_accepted_page_keeps_what_it_did_not_send() -> None:
    batch = _GlobalBatch(
        records=[_record(4, late=True), _record(11), _record(14)],
        after=10,
        waiting={16: 5.0},
        given_up={4: 1.0, 7: 2.0, 12: 3.0},
    )

    assert batch.position_after(2).to_json() == {
        "strategy": "storage_id",
        "after": 11,  # the late record below `after` does not move it
        "gaps": [[16, 5.0]],
        "given_up": [[7, 2.0], [12, 3.0]],  # 4 was sent; 12 is above `after`: read again
    }
    assert batch.position_after(0).given_up == {4: 1.0, 7: 2.0, 12: 3.0}


def test_a_position_round_trips_through_its_own_reading() -> None:
    batch = _GlobalBatch([_record(11)], after=10, waiting={13: 5.0}, given_up={9: 2.5})
    position = _global_position(batch.position_after(1).to_json())

    assert (position.after, position.gaps, position.given_up) == (11, {13: 5.0}, {9: 2.5})


@pytest.mark.parametrize(
    "field",
    [
        {"after": 2**63},
        {"after": -2},
        {"after": True},
        {"gaps": [[2**70, 1.0]]},
        {"gaps": [[-1, 1.0]]},
        {"gaps": [[5, float("nan")]]},
        {"gaps": [[5, float("inf")]]},
        {"gaps": [[5, 10**400]]},  # no float holds it
        {"gaps": [[5, "soon"]]},
        {"gaps": [[5]]},
        {"given_up": [[5, 1.0, 2.0]]},
        {"given_up": {"5": 1.0}},
        {"given_up": [[5, 1.0]] * 1001},
    ],
)
def test_a_bad_position_is_a_cursor_error(field: dict[str, object]) -> None:
    position = {"strategy": "storage_id", "after": 10} | field
    with pytest.raises(CursorError, match=r"position is not valid.*Reset it"):
        _global_position(position)  # type: ignore[arg-type]


def test_missing_spans_are_ranges_not_lists() -> None:
    assert _missing_spans(0, 10, [1, 2, 5, 10]) == [(3, 4), (6, 9)]
    assert _missing_spans(0, 10**12, [10**12]) == [(1, 10**12 - 1)]
