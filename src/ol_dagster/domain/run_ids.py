"""Dagster run and step attempt -> OpenLineage run id.

Ids are UUIDv7 (RFC 9562) values whose time part is when the Dagster run or step attempt started
and whose remaining bits are a hash of what identifies it. The same inputs always give the same
id, so reading the same records twice, from two sensors or after a cursor reset, names the same
OpenLineage runs, and backends that order runs by id order them by start time.
"""

from __future__ import annotations

from functools import lru_cache
from hashlib import sha256

_TIME_BITS = 48
_RANDOM_BITS = 128 - _TIME_BITS
_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62
_VERSION_MASK = 0xF << 76
_VARIANT_MASK = 0b11 << 62


def uuid7(instant: float, key: str) -> str:
    """A UUIDv7 for `instant` (POSIX seconds) whose other 74 bits are derived from `key`.

    `instant` is taken to the microsecond first, as Dagster's run storage keeps a run's start
    (a datetime of its RUN_START record's timestamp): the record's own timestamp and the run
    storage's start then give the same id, whichever of the two a reader saw first.
    """
    return _uuid7(round(instant * 1_000_000) // 1000, key)


def _uuid7(millis: int, key: str) -> str:
    digest = int.from_bytes(sha256(key.encode("utf-8")).digest()[:10], "big")
    value = ((millis & ((1 << _TIME_BITS) - 1)) << _RANDOM_BITS) | digest
    value = (value & ~_VERSION_MASK & ~_VARIANT_MASK) | _VERSION_7 | _VARIANT_RFC
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _run_key(dagster_run_id: str) -> str:
    return f"dagster-run:{dagster_run_id}"


def _step_key(dagster_run_id: str, step_key: str, attempt: int) -> str:
    return f"dagster-step:{dagster_run_id}:{step_key}:{attempt}"


# A run's id is asked for by each of its records, a step attempt's by its start and its end.
@lru_cache(maxsize=4096)
def job_run_id(dagster_run_id: str, started_at: float) -> str:
    return uuid7(started_at, _run_key(dagster_run_id))


@lru_cache(maxsize=4096)
def step_run_id(dagster_run_id: str, step_key: str, attempt: int, started_at: float) -> str:
    return uuid7(started_at, _step_key(dagster_run_id, step_key, attempt))


def v1_job_run_id(dagster_run_id: str, started_at: float) -> str:
    """A job run's id as ol-dagster's first cursor version named it (milliseconds truncated from
    the float): for runs in flight when a version-1 cursor is read."""
    return _uuid7(int(started_at * 1000), _run_key(dagster_run_id))


def v1_step_run_id(dagster_run_id: str, step_key: str, attempt: int, started_at: float) -> str:
    """A step attempt's id as the first cursor version named it: after the attempt's own start."""
    return _uuid7(int(started_at * 1000), _step_key(dagster_run_id, step_key, attempt))
