from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import DagsterInstance

from tests.support.backend import LineageBackend, running_backend
from tests.support.dagster_env import STORAGES, dagster_instance
from tests.support.schemas import OpenLineageSchemas, load_schemas


@pytest.fixture(scope="session")
def schemas() -> OpenLineageSchemas:
    return load_schemas()


@pytest.fixture
def backend() -> Iterator[LineageBackend]:
    with running_backend() as server:
        yield server


@pytest.fixture
def lineage_env(monkeypatch: pytest.MonkeyPatch, backend: LineageBackend) -> LineageBackend:
    """The OpenLineage client configured by environment, as users do, towards `backend`."""
    for name in ("OPENLINEAGE_CONFIG", "OPENLINEAGE_DISABLED", "OPENLINEAGE_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENLINEAGE_URL", backend.url)
    return backend


@pytest.fixture(params=STORAGES)
def instance(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DagsterInstance]:
    with dagster_instance(request.param, tmp_path / "dagster_home") as dagster:
        yield dagster
