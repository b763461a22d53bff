"""Real Dagster instances on each event-log storage, and example jobs that really execute."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from dagster import (
    DagsterInstance,
    Definitions,
    Failure,
    OpExecutionContext,
    RetryPolicy,
    SensorDefinition,
    build_sensor_context,
    job,
    op,
)

POSTGRES_HOST = os.environ.get("OL_DAGSTER_TEST_POSTGRES_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("OL_DAGSTER_TEST_POSTGRES_PORT", "5432"))
POSTGRES_USER = os.environ.get("OL_DAGSTER_TEST_POSTGRES_USER", "postgres")

STORAGES = ["sqlite_sharded", "sqlite_consolidated", "postgres"]


@op
def extract() -> list[int]:
    return [1, 2, 3]


@op
def transform(rows: list[int]) -> list[int]:
    return [row * 10 for row in rows]


@op
def load(rows: list[int]) -> int:
    return len(rows)


@job
def etl() -> None:
    load(transform(extract()))


@op(config_schema={"fail": bool})
def check_quality(context: OpExecutionContext, rows: list[int]) -> list[int]:
    if context.op_config["fail"]:
        raise Failure(description="quality check failed: 3 rows out of range")
    return rows


@op(retry_policy=RetryPolicy(max_retries=1))
def flaky_publish(rows: list[int]) -> int:
    raise RuntimeError(f"publish target refused {len(rows)} rows")


@job
def audited() -> None:
    """Fails in `check_quality` when configured to."""
    load(check_quality(extract()))


@job
def publishing() -> None:
    """Always fails: `flaky_publish` fails, is retried once, and fails again."""
    flaky_publish(extract())


def run_config_for(fail: bool) -> dict[str, Any]:
    return {"ops": {"check_quality": {"config": {"fail": fail}}}}


def _connect(database: str, **kwargs: Any) -> Any:
    import psycopg2

    return psycopg2.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, dbname=database, **kwargs
    )


def _postgres_available() -> bool:
    try:
        _connect("postgres", connect_timeout=2).close()
    except Exception:
        return False
    return True


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh database on the real PostgreSQL server, dropped afterwards; yields its name."""
    where = f"{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}"
    if not _postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is not reachable at {where}, and CI=true")
        pytest.skip(f"PostgreSQL is not reachable at {where}")
    name = f"ol_dagster_test_{uuid.uuid4().hex[:12]}"
    admin = _connect("postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield name
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def dagster_instance(storage: str, home: Path) -> Iterator[DagsterInstance]:
    """A DagsterInstance in `home` configured as a user would, through its dagster.yaml."""
    home.mkdir(parents=True, exist_ok=True)
    with _storage_yaml(storage, home) as yaml_text:
        (home / "dagster.yaml").write_text(yaml_text)
        with DagsterInstance.from_config(str(home)) as instance:
            yield instance


@contextmanager
def _storage_yaml(storage: str, home: Path) -> Iterator[str]:
    if storage == "sqlite_sharded":
        yield "telemetry:\n  enabled: false\n"  # Dagster's default storage
    elif storage == "sqlite_consolidated":
        yield (
            "telemetry:\n  enabled: false\n"
            "event_log_storage:\n"
            "  module: dagster._core.storage.event_log\n"
            "  class: ConsolidatedSqliteEventLogStorage\n"
            f"  config:\n    base_dir: {home / 'history'}\n"
        )
    elif storage == "postgres":
        with postgres_database() as name:
            yield (
                "telemetry:\n  enabled: false\n"
                "storage:\n  postgres:\n    postgres_db:\n"
                f"      username: {POSTGRES_USER}\n      password: ''\n"
                f"      hostname: {POSTGRES_HOST}\n      port: {POSTGRES_PORT}\n"
                f"      db_name: {name}\n"  # Dagster's documented config: no `scheme`
            )
    else:
        raise ValueError(storage)


class SensorDriver:
    """Evaluates a sensor as the daemon does: in its code location, the cursor carried along."""

    def __init__(
        self, sensor: SensorDefinition, defs: Definitions, instance: DagsterInstance
    ) -> None:
        self.sensor = sensor
        self.defs = defs
        self.instance = instance
        self.cursor: str | None = None
        self.skip_messages: list[str | None] = []

    def tick(self) -> str | None:
        context = build_sensor_context(
            instance=self.instance, cursor=self.cursor, definitions=self.defs
        )
        result = self.sensor.evaluate_tick(context)
        self.cursor = result.cursor
        self.skip_messages.append(result.skip_message)
        return result.skip_message

    def tick_until_caught_up(self, max_ticks: int = 50) -> int:
        for count in range(1, max_ticks + 1):
            message = self.tick() or ""
            if "caught up" in message:
                return count
        raise AssertionError(f"not caught up after {max_ticks} ticks: {self.skip_messages[-1]}")
