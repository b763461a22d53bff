"""Property tests over cursors: any text either loads or raises the cursor error (never another
exception), and a loaded cursor, saved again, loads to the same state. The event source's
positions likewise: any JSON value is a position of its strategy or a cursor error."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ol_dagster.adapters.dagster_events import _global_position, _per_run_position
from ol_dagster.adapters.json_cursor import decode, encode
from ol_dagster.domain.errors import CursorError

_numbers = st.integers(min_value=-(2**65), max_value=2**65) | st.floats()
_json = st.recursive(
    st.none() | st.booleans() | _numbers | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
_steps = st.dictionaries(
    st.text(max_size=4),
    st.fixed_dictionaries(
        {"n": _numbers, "t": st.none() | _numbers},
        optional={"id": st.none() | st.text(max_size=8), "a": st.booleans()},
    ),
    max_size=2,
)
_runs = st.dictionaries(
    st.text(max_size=6),
    st.fixed_dictionaries(
        {"t": _numbers},
        optional={
            "s": _steps,
            "id": st.none() | st.text(max_size=8),
            "o": st.lists(st.tuples(st.text(max_size=4), st.text(max_size=4)), max_size=2),
        },
    ),
    max_size=3,
)
_positions = _json | st.fixed_dictionaries(
    {"strategy": st.sampled_from(["storage_id", "per_run", "openlineage-dagster", "other"])},
    optional={
        "after": _numbers,
        "index": _numbers,
        "runs": _json | st.dictionaries(st.text(max_size=4), _numbers, max_size=3),
        "gaps": _json | st.lists(st.lists(_numbers, max_size=3), max_size=3),
        "given_up": st.lists(st.lists(_numbers, min_size=2, max_size=2), max_size=3),
    },
)
_cursors = st.fixed_dictionaries(
    {"v": st.sampled_from([1, 2, 3, "2", None])},
    optional={"pos": _positions, "runs": _runs, "lt": _numbers},
)
_legacy = st.fixed_dictionaries(
    {"last_storage_id": _numbers},
    optional={"running_pipelines": _json | st.dictionaries(st.text(max_size=4), _json)},
)


def _dumps(value: Any) -> str:
    return json.dumps(value)  # NaN and Infinity written as JSON's extensions, as a hand edit might


def _round_trip(text: str) -> None:
    """With each strategy's reading of positions, as each kind of storage's source reads them."""
    for positions in (_global_position, _per_run_position):
        try:
            state = decode(text, 1_700_000_000.0, positions)
        except CursorError:
            continue
        again = decode(encode(state), 0.0, positions)
        assert again == state


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200) | (_json | _cursors | _legacy).map(_dumps))
def test_any_text_loads_or_is_a_cursor_error_and_saves_back_the_same(text: str) -> None:
    _round_trip(text)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # deeply nested
        '{"v": 2, "pos": null, "lt": NaN}',
        '{"v": 2, "pos": null, "lt": 1e999}',
        '{"v": 2, "pos": null, "runs": {"r": {"t": Infinity}}}',
        '{"last_storage_id": 9223372036854775808}',
        "x" * 5_000_000,
        '{"v": 2, "pos": {"strategy": "storage_id", "after": 1, "gaps": [[5, 1%s]]}}' % ("0" * 400),
    ],
    ids=["nested", "nan", "overflowing float", "infinity", "id of 2^63", "huge", "time of 10^400"],
)
def test_what_a_hand_edit_or_a_bug_writes_is_a_cursor_error(text: str) -> None:
    with pytest.raises(CursorError):
        decode(text, 0.0, _global_position)


@settings(max_examples=300, derandomize=True)
@given(_positions)
def test_any_position_is_one_of_the_strategy_or_a_cursor_error(position: Any) -> None:
    for parse in (_global_position, _per_run_position):
        with contextlib.suppress(CursorError):
            parse(position)


@pytest.mark.parametrize(
    "position",
    [
        {"strategy": "per_run", "index": -5, "runs": {}},
        {"strategy": "per_run", "index": 3, "runs": {"r": 2**63}},
        {"strategy": "storage_id", "after": -5},
        {"strategy": "storage_id", "after": 2**63},
    ],
)
def test_a_position_out_of_range_says_it_is_not_valid(position: Any) -> None:
    parse = _per_run_position if position["strategy"] == "per_run" else _global_position
    with pytest.raises(CursorError, match="the cursor's position is not valid"):
        parse(position)
