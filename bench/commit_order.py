"""Live stress of PostgreSQL's out-of-order commits: `make bench-commit-order`.

Writer processes execute 10-op job runs in parallel against one PostgreSQL instance while one
insert in 40 into `event_logs` stalls between drawing its storage id and committing (a `BEFORE
INSERT` trigger calling `pg_sleep`, as an I/O stall or a descheduled backend would), and the
sensor ticks every few hundredths of a second. Once the writers are done and the sensor has caught
up, a fresh sensor reads the whole log again: what it sends is what was expected. Prints expected,
received, lost and new run ids; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dagster import DagsterInstance, Definitions  # noqa: E402
from tests.support.backend import LineageBackend, running_backend  # noqa: E402
from tests.support.dagster_env import SensorDriver, dagster_instance  # noqa: E402

from ol_dagster import openlineage_sensor  # noqa: E402

STALL = (
    "CREATE FUNCTION ol_bench_stall() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF random() < {share} THEN PERFORM pg_sleep({seconds}); END IF; RETURN NEW; END $$; "
    "CREATE TRIGGER ol_bench_stall BEFORE INSERT ON event_logs "
    "FOR EACH ROW EXECUTE FUNCTION ol_bench_stall()"
)


def _sql(instance: DagsterInstance, statement: str) -> None:
    import psycopg2

    connection = psycopg2.connect(instance.event_log_storage.postgres_url)  # type: ignore[attr-defined]
    connection.autocommit = True
    with connection, connection.cursor() as cursor:
        cursor.execute(statement)
    connection.close()


def _driver(instance: DagsterInstance) -> SensorDriver:
    sensor = openlineage_sensor(minimum_interval_seconds=1)
    return SensorDriver(sensor, Definitions(sensors=[sensor]), instance)


def _key(event: dict[str, Any]) -> tuple[str, str, str]:
    return (event["run"]["runId"], event["eventType"], event["job"]["name"])


def stress(args: argparse.Namespace, instance: DagsterInstance, backend: LineageBackend) -> None:
    _sql(instance, STALL.format(share=1 / args.stall_one_in, seconds=args.stall_seconds))
    command = [sys.executable, "-m", "bench.workload", "--home", instance.root_directory]
    writers = [
        subprocess.Popen(
            [*command, "--runs", str(args.runs_per_writer), "--seconds", "600"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(args.writers)
    ]
    live = _driver(instance)
    ticks = waiting_ticks = largest_cursor = most_gaps = 0
    began = time.monotonic()
    try:
        while any(w.poll() is None for w in writers):
            message = live.tick() or ""
            ticks += 1
            waiting_ticks += "waiting on" in message
            largest_cursor = max(largest_cursor, len(live.cursor or ""))
            position = json.loads(live.cursor or "{}").get("pos", {})
            gaps = len(position.get("gaps", [])) + len(position.get("given_up", []))
            most_gaps = max(most_gaps, gaps)
            time.sleep(args.interval)
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
            writer.wait()
    ran = time.monotonic() - began
    _sql(instance, "DROP TRIGGER ol_bench_stall ON event_logs")
    live.tick_until_caught_up(max_ticks=1_000)
    received = [_key(e) for e in backend.received]

    before = len(backend.received)
    _driver(instance).tick_until_caught_up(max_ticks=1_000)
    expected = [_key(e) for e in backend.received[before:]]

    lost = Counter(expected) - Counter(received)
    extra = Counter(received) - Counter(expected)
    new_ids = {k[0] for k in received} - {k[0] for k in expected}
    print(
        f"{args.writers} writer processes, {args.runs_per_writer} runs of a 10-op job each; "
        f"one insert in {args.stall_one_in} stalled {args.stall_seconds} s; a tick every "
        f"{args.interval} s: {ticks} ticks in {ran:.1f} s, {waiting_ticks} of them waiting on a "
        "storage id not committed yet"
    )
    print(
        f"cursor: at most {largest_cursor:,} bytes, holding at most {most_gaps} storage ids "
        "waited on or given up on"
    )
    print(f"expected events: {len(expected):,} in {len({k[0] for k in expected}):,} runs")
    print(f"received events: {len(received):,}")
    print(f"lost:            {sum(lost.values()):,}  {dict(Counter(k[1] for k in lost))}")
    print(f"duplicated:      {sum(extra.values()):,}")
    print(f"new run ids:     {len(new_ids):,}")
    for key in sorted(lost.elements()):
        print(f"  lost:       {key}")
    for key in sorted(extra.elements()):
        print(f"  duplicated: {key}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--writers", type=int, default=6)
    parser.add_argument("--runs-per-writer", type=int, default=10)
    parser.add_argument("--stall-one-in", type=int, default=40)
    parser.add_argument("--stall-seconds", type=float, default=0.4)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between ticks")
    args = parser.parse_args(argv)
    from tests.support.dagster_env import _postgres_available

    if not _postgres_available():
        print("PostgreSQL is not reachable at 127.0.0.1:5432: nothing measured")
        return 0
    with (
        tempfile.TemporaryDirectory(prefix="ol-bench-order-") as home,
        running_backend() as backend,
    ):
        os.environ["OPENLINEAGE_URL"] = backend.url
        with dagster_instance("postgres", Path(home) / "dagster_home") as instance:
            stress(args, instance, backend)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
