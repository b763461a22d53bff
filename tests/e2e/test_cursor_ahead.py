"""A cursor ahead of the event log is refused, with how to fix it, instead of silently skipping
what was written since: on SQLite after the newest runs are deleted (its storage ids are used
again), and on PostgreSQL after the instance is restored from an older backup."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from dagster import DagsterInstance, Definitions

from ol_dagster import openlineage_sensor
from tests.support.backend import LineageBackend
from tests.support.dagster_env import (
    POSTGRES_HOST,
    POSTGRES_PORT,
    POSTGRES_USER,
    SensorDriver,
    _connect,
    dagster_instance,
    etl,
    postgres_database,
)

AHEAD = "the cursor is ahead of the event log"


def _driver(instance: DagsterInstance) -> SensorDriver:
    sensor = openlineage_sensor()
    return SensorDriver(sensor, Definitions(jobs=[etl], sensors=[sensor]), instance)


def test_storage_ids_used_again_after_deleting_the_newest_runs_on_sqlite(
    tmp_path: Path, lineage_env: LineageBackend
) -> None:
    with dagster_instance("sqlite_consolidated", tmp_path / "home") as instance:
        runs = [etl.execute_in_process(instance=instance).run_id for _ in range(3)]
        driver = _driver(instance)
        driver.tick_until_caught_up()
        sent = len(lineage_env.received)
        for run_id in runs[1:]:
            instance.delete_run(run_id)
        driver.tick()  # nothing new: the log ends below the cursor, but nothing is lost yet
        assert len(lineage_env.received) == sent
        etl.execute_in_process(instance=instance)  # takes the deleted runs' storage ids
        with pytest.raises(Exception, match=AHEAD) as raised:
            driver.tick()
        assert "then reset its cursor: in the Dagster UI" in str(raised.value)
        assert len(lineage_env.received) == sent


@contextmanager
def _instance_on(home: Path, database: str) -> Iterator[DagsterInstance]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "storage:\n  postgres:\n    postgres_db:\n"
        f"      username: {POSTGRES_USER}\n      password: ''\n"
        f"      hostname: {POSTGRES_HOST}\n      port: {POSTGRES_PORT}\n"
        f"      db_name: {database}\n"
    )
    with DagsterInstance.from_config(str(home)) as instance:
        yield instance


def test_an_instance_restored_from_an_older_backup_on_postgres(
    tmp_path: Path, lineage_env: LineageBackend
) -> None:
    with postgres_database() as live:
        backup = f"{live}_backup"
        with _instance_on(tmp_path / "home", live) as instance:
            etl.execute_in_process(instance=instance)
        admin = _connect("postgres")
        admin.autocommit = True
        try:
            with admin.cursor() as cursor:  # the nightly backup
                cursor.execute(f'CREATE DATABASE "{backup}" TEMPLATE "{live}"')
            with _instance_on(tmp_path / "home", live) as instance:
                for _ in range(2):
                    etl.execute_in_process(instance=instance)
                driver = _driver(instance)
                driver.tick_until_caught_up()
            sent = len(lineage_env.received)
            # the live database is lost; the backup is restored, and runs go on
            with _instance_on(tmp_path / "home", backup) as instance:
                etl.execute_in_process(instance=instance)
                driver.instance = instance
                with pytest.raises(Exception, match=AHEAD):
                    driver.tick()
            assert len(lineage_env.received) == sent
        finally:
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{backup}" WITH (FORCE)')
            admin.close()
