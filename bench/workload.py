"""The Dagster work the benchmark measures: a 10-op job and a job materializing 5 assets.

Also a command (`python -m bench.workload --home DIR ...`) that executes runs against the instance
configured in DIR, so that the backlog is built, and the steady-state load generated, outside the
process that measures.
"""

# No `from __future__ import annotations` here: Dagster reads the ops' annotations at runtime.

import argparse
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dagster import (
    AssetsDefinition,
    DagsterInstance,
    OpDefinition,
    asset,
    job,
    materialize,
    op,
)

OPS_PER_JOB = 10
ASSETS_PER_JOB = 5
# Dagster's console logger would print every step of every run.
QUIET_RUN_CONFIG: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def _chained_op(index: int) -> OpDefinition:
    @op(name=f"step_{index}")
    def _step(value: int) -> int:
        return value + 1

    return _step


@op
def step_0() -> int:
    return 0


_STEPS = [_chained_op(index) for index in range(1, OPS_PER_JOB)]


@job
def ten_ops() -> None:
    """Ten ops in a chain: each step starts once the previous one succeeded."""
    value = step_0()
    for step in _STEPS:
        value = step(value)


def _chained_asset(index: int) -> AssetsDefinition:
    @asset(name=f"table_{index}", deps=[f"table_{index - 1}"])
    def _table() -> None:
        return None

    return _table


@asset(name="table_1")
def _first_table() -> None:
    return None


ASSETS = [_first_table, *(_chained_asset(index) for index in range(2, ASSETS_PER_JOB + 1))]


def execute(
    instance: DagsterInstance,
    runs: int,
    asset_runs: int,
    seconds: float,
    stop_file: Path | None = None,
) -> int:
    """Runs of `ten_ops`, with an asset materialization after every tenth, until `runs` runs
    and `asset_runs` materializations are done, `seconds` have passed or `stop_file` exists.
    Returns the runs done."""
    deadline = time.monotonic() + seconds
    parent = os.getppid()
    done = assets_done = 0
    while (done < runs or assets_done < asset_runs) and time.monotonic() < deadline:
        # Stop when asked, or when the measuring process is gone and nobody reads what we write.
        if os.getppid() != parent or (stop_file is not None and stop_file.exists()):
            break
        if done < runs:
            ten_ops.execute_in_process(instance=instance, run_config=QUIET_RUN_CONFIG)
            done += 1
        if assets_done < asset_runs and (done % 10 == 0 or done >= runs):
            materialize(ASSETS, instance=instance, run_config=QUIET_RUN_CONFIG)
            assets_done += 1
    return done + assets_done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="execute bench runs against a Dagster instance")
    parser.add_argument("--home", required=True, help="directory holding the dagster.yaml")
    parser.add_argument("--runs", type=int, default=0, help="runs of the 10-op job")
    parser.add_argument("--asset-runs", type=int, default=0, help="materializations of 5 assets")
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long")
    parser.add_argument("--stop-file", type=Path, help="stop once this file exists")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # Dagster's deprecation and beta notices, once per run
    start = time.perf_counter()
    with DagsterInstance.from_config(args.home) as instance:
        print(json.dumps({"ready": True}), flush=True)  # the parent may start its clock now
        done = execute(instance, args.runs, args.asset_runs, args.seconds, args.stop_file)
    print(json.dumps({"runs": done, "seconds": time.perf_counter() - start}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
