"""What each Definitions adapter costs: the sensor's code location, a workspace loaded in process
(`ol-dagster ... -w`), the GraphQL API of a real `dagster-webserver` (OL_DAGSTER_GRAPHQL_URL).

Two generated code locations of N assets each (every asset with a `dagster/uri`, owners, a
description; the second location's assets depend on the first's). Printed, never asserted.

    python bench/definitions.py [--assets 50,500] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.dagster_processes import (
    BIN,
    free_port,
    new_dagster_home,
    running,
    wait_for_locations,
)

from ol_dagster.adapters.dagster_compat import loadable_targets
from ol_dagster.adapters.dagster_definitions import RepositoryDefinitions
from ol_dagster.adapters.graphql_definitions import GraphQLDefinitions
from ol_dagster.app.settings import DEFAULT_GRAPHQL_MAX_BYTES, DEFAULT_TICK_BUDGET_SECONDS

LOCATION = """
from dagster import AssetKey, Definitions, asset

def make(i):
    @asset(
        name="{prefix}_%d" % i,
        deps={deps},
        metadata={{"dagster/uri": "s3://lake/{prefix}/%d.parquet" % i}},
        owners=["team:data"],
        description="Asset %d of {prefix}." % i,
    )
    def _asset():
        return None
    return _asset

defs = Definitions(assets=[make(i) for i in range({count})])
"""


def _write_locations(folder: Path, count: int) -> Path:
    (folder / "up.py").write_text(LOCATION.format(prefix="up", deps="[]", count=count))
    deps = '[AssetKey("up_%d" % i)]'
    (folder / "down.py").write_text(LOCATION.format(prefix="down", deps=deps, count=count))
    workspace = folder / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        + "".join(
            f"  - python_file:\n      relative_path: {name}.py\n      location_name: {name}\n"
            for name in ("up", "down")
        )
    )
    return workspace


def _first_load(workspace: Path, count: int) -> float:
    """Seconds to load the workspace and look up every asset, in a new interpreter (Dagster
    itself already imported, as it is in any ol-dagster command)."""
    script = (
        "import time, dagster\n"
        "from pathlib import Path\n"
        "from ol_dagster.adapters.dagster_definitions import load_workspace\n"
        "started = time.perf_counter()\n"
        f"loaded = load_workspace([Path({str(workspace)!r})])\n"
        f"assert loaded.assets == {count}\n"
        "print(time.perf_counter() - started)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    return float(done.stdout.strip().splitlines()[-1])


def _median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:,.1f} ms"


def _measure(count: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        workspace = _write_locations(folder, count)
        keys = [(f"down_{i}",) for i in range(count)] + [(f"up_{i}",) for i in range(count)]

        # the sensor's own code location (the `down` one): already loaded by Dagster
        [down] = loadable_targets("file", str(folder / "down.py"), None, str(folder))
        lookups = []
        for _ in range(repeat):
            own = RepositoryDefinitions([down])
            started = time.perf_counter()
            for key in keys[:count]:
                own.asset(key)
            lookups.append((time.perf_counter() - started) / count)
        print(
            "  code location   first lookup of an asset: "
            f"{statistics.median(lookups) * 1e6:,.0f} µs"
        )

        # a workspace imported in process, once per command: each load in a fresh interpreter
        # (a second load in one process finds the modules imported already)
        loads = [_first_load(workspace, len(keys)) for _ in range(repeat)]
        print(
            f"  workspace (-w)  import 2 locations, look up all {len(keys)} assets: "
            f"{_median_ms(loads)}"
        )

        # the webserver's GraphQL API: one request when a fact is missing, once per tick
        home = new_dagster_home(folder / "home")
        port = free_port()
        log = folder / "webserver.log"
        command = [str(BIN / "dagster-webserver"), "-w", str(workspace), "-p", str(port)]
        with running(command, folder, os.environ | {"DAGSTER_HOME": str(home)}, log):
            wait_for_locations(port, ["up", "down"], log)
            requests = []
            for _ in range(repeat):
                api = GraphQLDefinitions(
                    f"http://127.0.0.1:{port}/graphql",
                    timeout_seconds=DEFAULT_TICK_BUDGET_SECONDS,
                    max_bytes=DEFAULT_GRAPHQL_MAX_BYTES,
                )
                started = time.perf_counter()
                for key in keys:
                    api.asset(key)
                requests.append(time.perf_counter() - started)
                assert api.requests == 1
        print(f"  graphql         one request, then all {len(keys)} assets: {_median_ms(requests)}")
        print(
            f"  graphql         its answer: {api.answer_bytes:,} bytes, "
            f"{api.answer_bytes / len(keys):,.0f} an asset (OL_DAGSTER_GRAPHQL_MAX_BYTES)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--assets", default="50,500", help="assets per location, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for count in (int(n) for n in args.assets.split(",")):
        print(f"two code locations of {count} assets each (medians of {args.repeat}):")
        _measure(count, args.repeat)


if __name__ == "__main__":
    main()
