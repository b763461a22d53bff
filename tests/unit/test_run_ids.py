from __future__ import annotations

from datetime import datetime, timezone
from uuid import UUID

from ol_dagster.domain.run_ids import job_run_id, step_run_id, uuid7


def test_the_same_inputs_give_the_same_id_in_every_process_and_version() -> None:
    """Pinned values: a changed derivation would rename every run already sent. The caches
    are cleared first, so that the ids are computed here, not remembered."""
    job_run_id.cache_clear()
    step_run_id.cache_clear()
    assert job_run_id("a1", 1_700_000_000.123) == "018bcfe5-687b-7089-a343-40993e2add24"
    assert step_run_id("a1", "load", 2, 1.5) == "00000000-05dc-7080-af3b-f9bd99738637"
    assert job_run_id.cache_info().misses == 1 and step_run_id.cache_info().misses == 1


def test_different_runs_steps_and_attempts_get_different_ids() -> None:
    ids = {
        job_run_id("a1", 100.0),
        job_run_id("a2", 100.0),
        step_run_id("a1", "load", 1, 100.0),
        step_run_id("a1", "load", 2, 100.0),
        step_run_id("a1", "save", 1, 100.0),
    }
    assert len(ids) == 5


def test_ids_are_uuid7_with_the_start_time_in_milliseconds() -> None:
    text = job_run_id("a1", 1_700_000_000.1234)
    value = UUID(text)
    assert str(value) == text  # the canonical form: lower-case hex, hyphens at 8-4-4-4-12
    assert value.version == 7
    assert value.variant == "specified in RFC 4122"
    assert value.int >> 80 == 1_700_000_000_123


def test_ids_sort_by_start_time() -> None:
    earlier, later = uuid7(1_700_000_000.0, "zzz"), uuid7(1_700_000_000.002, "aaa")
    assert UUID(earlier) < UUID(later)


def test_a_run_read_from_its_start_record_or_from_the_run_storage_gets_one_id() -> None:
    # Dagster's run storage keeps the RUN_START record's timestamp as a datetime (microseconds):
    # this one falls on the other side of a millisecond once stored.
    recorded = 1700388936.9589996
    stored = datetime.fromtimestamp(recorded, tz=timezone.utc).timestamp()
    assert int(recorded * 1000) != int(stored * 1000)

    assert job_run_id("a1", recorded) == job_run_id("a1", stored)
    assert step_run_id("a1", "load", 1, recorded) == step_run_id("a1", "load", 1, stored)
