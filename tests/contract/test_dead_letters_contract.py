"""One suite for every DeadLetters store: the fake and the instance's key-value store, on
SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid
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
        dagster_run_id=f"run-{n}",
        storage_id=100 + n,
        index=n % 3,
        dagster_job=f"job{n} é \u2603",
        job=f"job{n}.step",
        event_type="START",
        reason=reason,
        refused_at=1_764_000_000.5 + n,
        set_aside=n % 2 == 0,
    )


def test_nothing_kept_reads_as_no_letters(store: DeadLetters) -> None:
    assert store.letters() == []


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
    assert store.letters() == [_letter(1), _letter(3)]
    store.remove([_letter(1), _letter(3)])
    assert store.letters() == []


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
        key = "ol_dagster/dead_letters/openlineage_sensor/chunks"
        instance.run_storage.set_cursor_values({key: "v9"})
        store = InstanceDeadLetters(instance, "openlineage_sensor")
        with pytest.raises(DeadLettersUnreadable, match="left as they are"):
            store.add([_letter(1)])
        assert instance.run_storage.get_cursor_values({key})[key] == "v9"


def test_letters_an_earlier_release_kept_are_read_as_references(tmp_path: Path) -> None:
    """Each letter a value of its own with the event's JSON, named by an index: read, resent
    and removed as references; never written again."""
    with dagster_instance("sqlite_consolidated", tmp_path / "home") as instance:
        prefix = "ol_dagster/dead_letters/s/"
        old = {
            "key": "run-1:101:2",
            "dagster_run_id": "run-1",
            "storage_id": 101,
            "job": "etl.load",
            "event_type": "COMPLETE",
            "reason": "HTTPError: 400",
            "event": '{"eventType": "COMPLETE"}',
            "refused_at": 1_764_000_000.5,
        }
        instance.run_storage.set_cursor_values({prefix + "added": '{"run-1:101:2": 1764000000.5}'})
        instance.run_storage.set_cursor_values({prefix + "letter/run-1:101:2": json.dumps(old)})
        store = InstanceDeadLetters(instance, "s")
        [letter] = store.letters()
        assert (letter.key, letter.job, letter.event_type) == (
            "run-1:101:2",
            "etl.load",
            "COMPLETE",
        )
        store.add([_letter(5)])
        assert [x.key for x in store.letters()] == ["run-1:101:2", _letter(5).key]
        store.remove([letter])
        assert store.letters() == [_letter(5)]


@pytest.mark.parametrize("storage", ["sqlite_sharded", "postgres"])
def test_a_hundred_thousand_letters_are_a_few_megabytes(tmp_path: Path, storage: str) -> None:
    """Letters are references kept in compressed chunks: no value is rewritten as they
    accumulate (each tick writes a chunk of its own), and 100,000 fit in a few MB."""
    with dagster_instance(storage, tmp_path / "home") as instance:
        store = InstanceDeadLetters(instance, "s")
        refused = (
            "HTTPError: 400 Client Error; the backend answered: job refused_job is not allowed"
        )
        letters = [
            DeadLetter(
                str(uuid.UUID(int=n // 22)),
                1_000_000 + n,
                0,
                "refused_job",
                f"refused_job.op_{n % 10}",
                "COMPLETE",
                refused if n < 20 else "not sent: the backend had refused 20 events of job x",
                1_764_000_000.0 + n / 1000,
                set_aside=n >= 20,
            )
            for n in range(100_000)
        ]
        started = time.perf_counter()
        for start in range(0, len(letters), 10_000):  # ten ticks
            store.add(letters[start : start + 10_000])
        added = time.perf_counter() - started
        started = time.perf_counter()
        kept = store.letters()
        read = time.perf_counter() - started
        size = store.size()
        print(
            f"\n100,000 dead letters on {storage}: {size / 1e6:.2f} MB in the key-value store, "
            f"{size / len(letters):.1f} bytes a letter; added in {added:.2f} s, read in "
            f"{read:.2f} s"
        )
        assert kept == letters
        assert size < 5_000_000
        store.remove(kept[:50_000])
        assert store.letters() == letters[50_000:]
        store.remove(store.letters())
        assert store.letters() == [] and store.size() < 1_000  # emptied chunks, no tombstones left
