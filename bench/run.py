"""`make bench`: throughput, lag and memory figures of ol-dagster, printed, never asserted.

Medians of several repetitions, all measured in one run so that ratios compare like with like on
a shared, noisy machine. Real Dagster instances on each storage, a real HTTP backend in its own
process on 127.0.0.1; everything temporary is removed on exit, error or not.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
from importlib.metadata import version
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
# Run as a script: the checkout's `bench` and `tests.support` packages are imported from here.
sys.path.insert(0, str(ROOT))

from bench import backend_process, backlog, lag, throughput, translation  # noqa: E402

QUICK_RUNS = 10
SLOW_REPEAT = 3
"""Repetitions of the catch-ups through the stock HTTP transport: the slowest figures."""
EMISSION_RUNS = 100


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (medians)")
    parser.add_argument("--runs", type=int, default=200, help="10-op job runs in each backlog")
    parser.add_argument(
        "--storages",
        default=",".join(backlog.STORAGE_NAMES),
        help="comma list of %(default)s",
    )
    parser.add_argument("--quick", action="store_true", help="a small backlog, no lag section")
    parser.add_argument("--lag-interval", type=float, default=30.0, help="seconds between ticks")
    parser.add_argument("--lag-ticks", type=int, default=3)
    parser.add_argument("--lag-storage", help="default: consolidated SQLite if measured")
    args = parser.parse_args(argv)
    args.storages = [s.strip() for s in args.storages.split(",") if s.strip()]
    unknown = set(args.storages) - set(backlog.STORAGE_NAMES)
    if unknown or not args.storages:
        parser.error(f"--storages: unknown {sorted(unknown)}; choose from {backlog.STORAGE_NAMES}")
    if args.quick:
        args.runs, args.repeat = min(args.runs, QUICK_RUNS), min(args.repeat, 2)
    if args.lag_storage is None:
        consolidated = "sqlite_consolidated"
        args.lag_storage = consolidated if consolidated in args.storages else args.storages[0]
    elif args.lag_storage not in args.storages:
        parser.error("--lag-storage must be one of --storages")
    return args


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line for line in info if line.startswith("model name")).split(":")[1]
    except (OSError, StopIteration):
        pass
    return (
        f"machine: {cpu.strip()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"dagster {version('dagster')}, openlineage-python {version('openlineage-python')}"
    )


def domain_figures(repeat: int) -> None:
    rate = translation.bench_translation(repeat)
    print(f"domain translation: {rate:,.0f} records/s (2,000 runs of a 10-op job)")
    for way, micros in translation.encoding_costs(repeat).items():
        print(f"encoding an event, {way}: {micros:,.1f} µs")
    for strategy, size in translation.cursor_sizes(1_000).items():
        print(f"cursor with 1,000 open runs, {strategy}: {size:,} bytes ({size / 1000:.0f} a run)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    print(machine())
    slow = min(args.repeat, SLOW_REPEAT)
    print(
        f"repetitions: {args.repeat} (medians); {slow} for the catch-ups through the stock HTTP "
        f"transport (the slowest); page size {throughput.PAGE} unless said"
    )
    domain_figures(args.repeat)
    storages = backlog.usable_storages(args.storages)
    with backlog.instances(storages) as backlogs, backend_process.BackendProcess() as backend:
        asset_runs = max(1, args.runs // 10)
        built = time.monotonic()
        backlog.build(backlogs, args.runs, asset_runs, timeout=1200)
        print(
            f"\n== backlogs: {args.runs} runs of a 10-op job and {asset_runs} asset runs "
            f"(5 chained assets each) per storage, executed in process by child processes, "
            f"{backlog.BUILDERS_AT_ONCE} storages at a time ({time.monotonic() - built:.0f} s)"
        )
        for built_log in backlogs:
            print(
                f"  {built_log.name}: {built_log.runs} runs in {built_log.build_seconds:.1f} s "
                f"({built_log.build_seconds / max(built_log.runs, 1):.2f} s a run), "
                f"{built_log.all_records:,} event-log records of all types"
            )
        print(f"backend: an asyncio HTTP server in its own process at {backend.url}")
        for built_log in backlogs:
            throughput.storage_figures(built_log, backend, args.repeat, slow)
        throughput.emission_figures(backend, EMISSION_RUNS, args.repeat)
        chosen = [b for b in backlogs if b.storage == args.lag_storage]
        if args.quick:
            print("\n(--quick: no steady-state lag section)")
        elif chosen:
            _lag(chosen[0], backend.url, args)
        else:
            print(f"\nnote: {args.lag_storage} unavailable: no steady-state lag section")
    print(f"\nwall time: {time.monotonic() - began:.0f} s")
    return 0


def _lag(chosen: backlog.Backlog, url: str, args: argparse.Namespace) -> None:
    print(
        f"\n== steady-state lag on {chosen.name}: a child process executes 10-op job runs back to "
        f"back; a tick every {args.lag_interval:.0f} s with the sensor's defaults "
        f"(page {lag.SENSOR_PAGE}, {lag.SENSOR_BUDGET_SECONDS:.0f} s budget, stock HTTP)"
    )
    lag.steady_state_lag(chosen, url, args.lag_interval, args.lag_ticks)


def _stop(signum: int, frame: FrameType | None) -> None:
    # SIGTERM ends the benchmark like Ctrl-C: through the `finally` blocks that clean up.
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    try:
        raise SystemExit(main())
    except KeyboardInterrupt:
        print("\ninterrupted: temporary homes, databases and child processes removed")
        raise SystemExit(130) from None
