"""One suite for every DeadLetters store: the fake and the instance's key-value store, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ol_dagster.adapters.dagster_dead_letters import DeadLettersUnreadable, InstanceDeadLetters
from ol_dagster.domain.dead_letters import DeadLetter
from ol_dagster.domain.ports import DeadLetters
from tests.fakes import FakeDeadLetters
from tests.support.dagster_env import dagster_instance


@pytest.fixture(params=["fake", "sqlite_sharded", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeadLetters]:
    if request.param == "fake":
        yield FakeDeadLetters()
        return
    with dagster_instance(request.param, tmp_path / "home") as instance:
        yield InstanceDeadLetters(instance, "openlineage_sensor")


def _letter(n: int, reason: str = "HTTPError: 400; the backend answered: bad facet") -> DeadLetter:
    return DeadLetter(
        key=f"run-{n}:{100 + n}:0",
        dagster_run_id=f"run-{n}",
        storage_id=100 + n,
        job=f"job{n}.step",
        event_type="START",
        reason=reason,
        event='{"eventType": "START", "job": {"name": "é \\u2603"}}',
        refused_at=1_764_000_000.5 + n,
    )


def test_nothing_kept_reads_as_no_letters(store: DeadLetters) -> None:
    assert store.letters() == []
    assert store.limit >= 100


def test_letters_are_kept_in_order_and_read_back_equal(store: DeadLetters) -> None:
    store.add([_letter(1), _letter(2)])
    store.add([_letter(3)])
    assert store.letters() == [_letter(1), _letter(2), _letter(3)]


def test_a_letter_refused_again_replaces_its_own(store: DeadLetters) -> None:
    store.add([_letter(1), _letter(2)])
    store.add([_letter(1, reason="HTTPError: 422")])
    assert [(x.key, x.reason) for x in store.letters()] == [
        (_letter(1).key, "HTTPError: 422"),
        (_letter(2).key, _letter(2).reason),
    ]


def test_removed_letters_are_gone_and_the_others_stay(store: DeadLetters) -> None:
    store.add([_letter(1), _letter(2), _letter(3)])
    store.remove([_letter(2), _letter(9)])
    assert store.letters() == [_letter(1), _letter(3)] and store.count() == 2
    store.remove([_letter(1), _letter(3)])
    assert store.letters() == [] and store.count() == 0


def test_a_letter_refused_again_after_it_was_read_is_not_removed(store: DeadLetters) -> None:
    """A command reads the letters, a tick meanwhile adds one and has one refused again; the
    command then removes what it read: the tick's writes survive."""
    store.add([_letter(1), _letter(2)])
    read = store.letters()
    again = replace(_letter(2), refused_at=_letter(2).refused_at + 60, reason="HTTPError: 422")
    store.add([again, _letter(3)])
    store.remove(read)
    assert store.letters() == [again, _letter(3)]


def test_a_removed_letter_refused_again_is_kept_again(store: DeadLetters) -> None:
    store.add([_letter(1)])
    store.remove(store.letters())
    again = replace(_letter(1), refused_at=_letter(1).refused_at + 60)
    store.add([again])
    assert store.letters() == [again]


def test_each_sensor_has_its_own_letters(tmp_path: Path) -> None:
    with dagster_instance("sqlite_consolidated", tmp_path / "home") as instance:
        InstanceDeadLetters(instance, "a").add([_letter(1)])
        assert InstanceDeadLetters(instance, "b").letters() == []
        assert InstanceDeadLetters(instance, "a").letters() == [_letter(1)]


def test_letters_another_version_wrote_are_named_and_left_alone(tmp_path: Path) -> None:
    with dagster_instance("sqlite_consolidated", tmp_path / "home") as instance:
        key = "ol_dagster/dead_letters/openlineage_sensor/added"
        instance.run_storage.set_cursor_values({key: '["v9"]'})
        store = InstanceDeadLetters(instance, "openlineage_sensor")
        with pytest.raises(DeadLettersUnreadable, match="left as they are"):
            store.add([_letter(1)])
        assert instance.run_storage.get_cursor_values({key})[key] == '["v9"]'


def test_each_letter_is_a_value_of_its_own(tmp_path: Path) -> None:
    """No value grows with the number of letters but the index of keys: a letter's event is
    never rewritten when others are added (the size limits of a key-value row, a tick's cost)."""
    with dagster_instance("sqlite_consolidated", tmp_path / "home") as instance:
        store = InstanceDeadLetters(instance, "s")
        store.add([_letter(n) for n in range(50)])
        prefix = "ol_dagster/dead_letters/s/"
        index = instance.run_storage.get_cursor_values({prefix + "added"})[prefix + "added"]
        assert len(index) < 50 * 40
        key = prefix + "letter/" + _letter(7).key
        one = instance.run_storage.get_cursor_values({key})[key]
        assert json.loads(one)["event"] == _letter(7).event
