"""`make bench`: throughput figures of ol-dagster, printed, never asserted.

Medians of several repetitions, all measured in one run so that ratios compare like with like on
a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable

from ol_dagster.adapters.dagster_events import GLOBAL, PER_RUN
from ol_dagster.adapters.json_cursor import encode
from ol_dagster.domain.ports import Position
from ol_dagster.domain.records import DagsterRecord
from ol_dagster.domain.run_state import RunState, TailState
from ol_dagster.domain.translate import Translator


def synthetic_records(runs: int, steps: int) -> list[DagsterRecord]:
    """The records a run of a `steps`-op job writes that ol-dagster translates."""
    records: list[DagsterRecord] = []
    clock, storage_id = 1_700_000_000.0, 0

    def add(kind: str, run_id: str, step: str | None = None) -> None:
        nonlocal clock, storage_id
        clock += 0.01
        storage_id += 1
        records.append(DagsterRecord(kind, run_id, "bench_job", clock, storage_id, step, "bench"))

    for _ in range(runs):
        run_id = str(uuid.uuid4())
        add("RUN_START", run_id)
        for index in range(steps):
            add("STEP_START", run_id, f"op_{index}")
            add("STEP_SUCCESS", run_id, f"op_{index}")
        add("RUN_SUCCESS", run_id)
    return records


def median_rate(count: int, action: Callable[[], object], repeat: int) -> float:
    """Median of `count / seconds` over `repeat` runs of `action`."""
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def bench_translation(repeat: int) -> float:
    records = synthetic_records(runs=2_000, steps=10)

    def translate() -> None:
        Translator("default").translate_all(RunState(), records)

    return median_rate(len(records), translate, repeat)


def cursor_sizes(open_runs: int) -> dict[str, int]:
    """Bytes of the cursor with `open_runs` runs open, each with one step running."""
    translator, runs = Translator("default"), RunState()
    records = synthetic_records(runs=open_runs, steps=1)
    started = [r for r in records if r.kind in ("RUN_START", "STEP_START")]
    translator.translate_all(runs, started)
    last = started[-1]
    per_run: Position = {
        "strategy": PER_RUN,
        "index": last.storage_id,
        "runs": {r.run_id: r.storage_id for r in started},
    }
    global_position: Position = {"strategy": GLOBAL, "after": last.storage_id}
    return {
        "global storage id": len(encode(TailState(global_position, runs, last.timestamp))),
        "per run (sharded SQLite)": len(encode(TailState(per_run, runs, last.timestamp))),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"repetitions: {args.repeat} (medians)")
    rate = bench_translation(args.repeat)
    print(f"domain translation: {rate:,.0f} records/s (2,000 runs of a 10-op job)")
    for strategy, size in cursor_sizes(1_000).items():
        print(
            f"cursor with 1,000 open runs, {strategy}: {size:,} bytes ({size / 1000:.0f} per run)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
