"""The Dagster internals of `dagster_compat` still resolve and mean what ol-dagster assumes.

This is the test that fails first, in CI's newest-versions cell, when a Dagster release moves one.
"""

from __future__ import annotations

import pytest
from dagster import DagsterInstance, asset, materialize

from ol_dagster.adapters import dagster_compat


def test_a_step_key_names_its_node() -> None:
    handle = dagster_compat.node_handle("graph_asset.inner_op[partition_a]")

    assert handle is not None
    assert list(handle.path) == ["graph_asset", "inner_op"]


def test_run_records_cursor_reads_a_run_after_a_storage_id() -> None:
    @asset
    def one() -> int:
        return 1

    with DagsterInstance.ephemeral() as instance:
        run_id = materialize([one], instance=instance).run_id
        every = instance.get_records_for_run(run_id).records
        after = instance.get_records_for_run(
            run_id, cursor=dagster_compat.run_records_cursor(every[2].storage_id)
        ).records

    assert [r.storage_id for r in after] == [r.storage_id for r in every[3:]]


def test_the_internals_are_imported_not_missing() -> None:
    # A None here means the guarded import failed: the features degrade for users.
    if dagster_compat._NodeHandle is None or dagster_compat._EventLogCursor is None:
        pytest.fail(f"dagster {dagster_compat.DAGSTER_VERSION} moved an internal ol-dagster uses")
