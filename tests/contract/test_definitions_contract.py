"""One contract for every adapter of the Definitions port: the same facts of the same assets and
jobs, whether read from code locations in this process, from a workspace file loaded as the
`dagster` CLI loads it, or from the GraphQL API of a real `dagster-webserver` serving that
workspace. Two code locations: `downstream` (listed first) only depends on `upstream`'s assets,
so it holds stubs of them that must not hide their definitions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ol_dagster.adapters.dagster_definitions import RepositoryDefinitions, load_workspace
from ol_dagster.adapters.graphql_definitions import DefinitionsUnavailable, GraphQLDefinitions
from ol_dagster.app.settings import DEFAULT_GRAPHQL_MAX_BYTES, DEFAULT_TICK_BUDGET_SECONDS
from ol_dagster.domain.datasets import AssetFacts
from ol_dagster.domain.definitions import Layered
from ol_dagster.domain.ports import Definitions
from ol_dagster.domain.records import JobDocs
from tests.fakes import FakeDefinitions
from tests.support import asset_graph
from tests.support.dagster_processes import (
    BIN,
    ROOT,
    free_port,
    new_dagster_home,
    running,
    wait_for_locations,
    write_workspace,
)
from tests.support.locations import downstream, upstream

LOCATIONS = ["downstream", "upstream"]
SOURCE = asset_graph.__file__

EXPECTED_ASSETS = [
    AssetFacts(
        key=("raw_orders",),
        group="default",
        uri="s3://sales-lake/raw/orders.parquet",
        kinds=("s3",),
        description="Orders as exported by the shop.",
        owners=("team:data-platform", "ada@example.com"),
        tags=(("domain", "sales"),),
        source_url=f"file://{SOURCE}#L30",
        source_path=SOURCE,
    ),
    AssetFacts(
        key=("orders",),
        group="default",
        table_name="analytics.sales.orders",
        kinds=("bigquery",),
        parents=(("raw_orders",),),
    ),
    AssetFacts(key=("reports", "regional_report"), group="default", parents=(("orders",),)),
    AssetFacts(
        key=("order_summary",),
        group="default",
        description="Orders per day.",
        owners=("bob@example.com",),
        parents=(("orders",),),
    ),
    AssetFacts(key=("big_orders",), group="default", parents=(("raw_orders",),)),
]
SALES_JOB = JobDocs("Loads the shop's orders and derives daily figures.")
STEPS = {
    ("sales_job", "daily_stats"): (("daily_count",), ("daily_revenue",)),
    ("sales_job", "orders_orders_amounts_positive"): (("orders",),),  # an @asset_check's op
    ("downstream_job", "split_orders"): (("big_orders",), ("small_orders",)),
    ("regional_job", "regional_summary"): (("regional_summary",),),
    # every asset location has an `__ASSET_JOB`: only the one with the step answers for it
    ("__ASSET_JOB", "daily_stats"): (("daily_count",), ("daily_revenue",)),
    ("__ASSET_JOB", "split_orders"): (("big_orders",), ("small_orders",)),
}


@pytest.fixture(scope="module")
def workspace_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_workspace(tmp_path_factory.mktemp("workspace") / "workspace.yaml", LOCATIONS)


@pytest.fixture(scope="module")
def graphql_url(workspace_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `dagster-webserver` serving the two locations."""
    home = new_dagster_home(tmp_path_factory.mktemp("webserver") / "dagster_home")
    port = free_port()
    log = home / "webserver.log"
    command = [str(BIN / "dagster-webserver"), "-w", str(workspace_file), "-p", str(port)]
    env = os.environ | {"DAGSTER_HOME": str(home)}
    with running(command, ROOT, env, log):
        wait_for_locations(port, LOCATIONS, log)
        yield f"http://127.0.0.1:{port}/graphql"


@pytest.fixture(params=["fake", "code location", "workspace", "graphql", "layered"])
def definitions(request: pytest.FixtureRequest, workspace_file: Path) -> Definitions:
    kind = request.param
    if kind == "fake":
        jobs = {
            "sales_job": SALES_JOB,
            "downstream_job": JobDocs(),
            "regional_job": JobDocs(),
            "__ASSET_JOB": JobDocs(),
        }
        return FakeDefinitions(EXPECTED_ASSETS, jobs, STEPS)
    if kind == "code location":
        return RepositoryDefinitions(
            [downstream.defs.get_repository_def(), upstream.defs.get_repository_def()]
        )
    if kind == "workspace":
        return load_workspace([workspace_file])
    graphql = GraphQLDefinitions(
        request.getfixturevalue("graphql_url"),
        timeout_seconds=DEFAULT_TICK_BUDGET_SECONDS,
        max_bytes=DEFAULT_GRAPHQL_MAX_BYTES,
    )
    if kind == "graphql":
        return graphql
    # the sensor's shape: its own location (the downstream one), then the webserver's view
    return Layered(RepositoryDefinitions([downstream.defs.get_repository_def()]), graphql)


@pytest.mark.parametrize("expected", EXPECTED_ASSETS, ids=lambda facts: "/".join(facts.key))
def test_an_asset_has_the_facts_of_its_definition(
    definitions: Definitions, expected: AssetFacts
) -> None:
    assert definitions.asset(expected.key) == expected


def test_an_unknown_asset_or_job_is_not_known(definitions: Definitions) -> None:
    assert definitions.asset(("no", "such", "asset")) is None
    assert definitions.job("no_such_job") is None
    assert definitions.step_assets("no_such_job", "an_op") is None


def test_a_job_has_its_documentation(definitions: Definitions) -> None:
    assert definitions.job("sales_job") == SALES_JOB
    assert definitions.job("downstream_job") == JobDocs()


@pytest.mark.parametrize(("job_step", "keys"), STEPS.items(), ids=lambda v: str(v))
def test_a_step_computes_or_checks_its_assets(
    definitions: Definitions, job_step: tuple[str, str], keys: tuple[tuple[str, ...], ...]
) -> None:
    assert definitions.step_assets(*job_step) == keys
    assert not definitions.step_assets(job_step[0], "not_a_step_of_it")  # () or unknown


def test_in_process_definitions_give_a_time_partition_its_window(workspace_file: Path) -> None:
    window = load_workspace([workspace_file]).partition_window("snapshot_job", "2026-11-05")
    assert window == (1793836800.0, 1793923200.0)  # 2026-11-05 and 2026-11-06, 00:00 UTC


def test_a_webserver_that_does_not_answer_fails_in_one_line() -> None:
    url = f"http://127.0.0.1:{free_port()}/graphql"
    with pytest.raises(DefinitionsUnavailable) as raised:
        GraphQLDefinitions(url, timeout_seconds=2, max_bytes=1000).asset(("orders",))
    message = str(raised.value)
    assert "\n" not in message
    assert url in message
    assert "OL_DAGSTER_GRAPHQL_URL" in message
