"""Definitions read from more than one place: the first that knows a fact answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ol_dagster.domain.datasets import AssetFacts
from ol_dagster.domain.ports import AssetKeyPath, Definitions
from ol_dagster.domain.records import JobDocs

_T = TypeVar("_T")


class Layered:
    """Asks each of `layers` in turn (e.g. the sensor's own code location, then the GraphQL API
    of the webserver that sees every location); no layers: nothing is known."""

    def __init__(self, *layers: Definitions) -> None:
        self._layers = layers

    def _first(self, ask: Callable[[Definitions], _T | None]) -> _T | None:
        for layer in self._layers:
            found = ask(layer)
            if found is not None:
                return found
        return None

    def asset(self, key: AssetKeyPath) -> AssetFacts | None:
        return self._first(lambda layer: layer.asset(key))

    def job(self, job_name: str) -> JobDocs | None:
        return self._first(lambda layer: layer.job(job_name))

    def step_assets(self, job_name: str, step_key: str) -> tuple[AssetKeyPath, ...] | None:
        return self._first(lambda layer: layer.step_assets(job_name, step_key))

    def partition_window(self, job_name: str, partition_key: str) -> tuple[float, float] | None:
        return self._first(lambda layer: layer.partition_window(job_name, partition_key))
