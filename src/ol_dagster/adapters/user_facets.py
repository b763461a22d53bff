"""The FacetsHook port from the user's function (OL_DAGSTER_FACETS=module:function)."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from openlineage.client.serde import Serde

from ol_dagster.domain.errors import ConfigurationError
from ol_dagster.domain.ports import AddedFacets, FacetContext
from ol_dagster.facets import Facets

logger = logging.getLogger("ol_dagster")
EXAMPLE = "my_company.lineage:facets"


class UserFacetsHook:
    """Calls the user's function for each event; keeps what is a facet, warns of the rest."""

    def __init__(self, function: Callable[[FacetContext], Facets | None], name: str) -> None:
        self._function = function
        self.name = name
        self._warned: set[str] = set()

    def facets(self, context: FacetContext) -> AddedFacets:
        # the user's code, and what it returns: neither ever stops lineage
        try:
            added = self._function(context)
        except Exception as error:  # noqa: BLE001
            self._warn(f"raised {type(error).__name__}: {error}")
            return AddedFacets()
        try:
            return self._facets(added, context)
        except Exception as error:  # noqa: BLE001
            self._warn(f"returned what is not facets ({type(error).__name__}: {error})")
            return AddedFacets()

    def _facets(self, added: object, context: FacetContext) -> AddedFacets:
        if added is None:
            return AddedFacets()
        if not isinstance(added, Facets):
            self._warn(f"returned {type(added).__name__}, not ol_dagster.facets.Facets")
            return AddedFacets()
        for part in ("run", "job", "datasets"):
            if not isinstance(getattr(added, part), Mapping):
                self._warn(f"returned Facets.{part} that is not a mapping; its facets left out")
                return AddedFacets()
        known = set(context.datasets)
        for key in set(added.datasets) - known:
            self._warn(f"named dataset {key}, which is not one of the event's {sorted(known)}")
        return AddedFacets(
            run=self._checked(added.run, "run"),
            job=self._checked(added.job, "job"),
            datasets=tuple(
                (key, self._checked(facets, f"dataset {key[0]}/{key[1]}"))
                for key, facets in added.datasets.items()
                if key in known
            ),
        )

    def _checked(self, facets: Any, place: str) -> tuple[tuple[str, str], ...]:
        if not isinstance(facets, Mapping):
            self._warn(f"gave the {place} facets as {type(facets).__name__}, not a mapping")
            return ()
        kept = []
        for name, value in facets.items():
            problem = facet_problem(name, value)
            if problem is not None:
                self._warn(f"gave the {place} facet {name!r}, left out: {problem}")
                continue
            # as openlineage-python's Serde writes it (no nulls), whichever path sends the event
            plain = Serde.remove_nulls_and_enums(value)
            kept.append((name, json.dumps(plain, sort_keys=True, allow_nan=False)))
        return tuple(kept)

    def _warn(self, what: str) -> None:
        message = f"ol-dagster: the facets hook {self.name} {what}"
        if message not in self._warned:  # once: the hook runs for every event
            self._warned.add(message)
            logger.warning(message)


# Facets ol-dagster and openlineage-python write: a hook adds to them, never replaces them.
RESERVED = frozenset(
    {
        "parent", "errorMessage", "tags", "nominalTime", "processing_engine", "jobType",
        "documentation", "ownership", "sourceCodeLocation", "schema", "columnLineage", "version",
        "symlinks", "dataQualityAssertions", "outputStatistics", "subset",
        "environmentVariables", "environment-properties",
    }
)  # fmt: skip


def facet_problem(name: object, value: object) -> str | None:
    """Why `value` is not a facet the spec accepts (None when it is)."""
    if not isinstance(name, str) or not name:
        return "a facet's name is a non-empty string"
    if name in RESERVED:
        return "ol-dagster or openlineage-python writes a facet of that name; choose another"
    if not isinstance(value, Mapping):
        return f"a facet is a JSON object, not {type(value).__name__}"
    for key in ("_producer", "_schemaURL"):
        if not isinstance(value.get(key), str) or not value[key]:
            return f"it has no {key} (ol_dagster.facets.facet adds both)"
    url = urlsplit(value["_schemaURL"])
    if url.scheme not in ("http", "https") or not url.netloc:
        return "_schemaURL is the http(s) URL of the facet's JSON Schema"
    try:
        json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        return f"it is not JSON: {error}"
    return None


def load_hook(path: str | None) -> UserFacetsHook | None:
    """The function `module:function` names, imported; None when no hook is set."""
    if not path:
        return None
    module_name, _, function_name = path.partition(":")
    try:
        module = importlib.import_module(module_name)
        function = getattr(module, function_name)
    except Exception as error:  # noqa: BLE001  (whatever the import raises: one line)
        raise ConfigurationError(
            f"OL_DAGSTER_FACETS={path}: cannot import it ({type(error).__name__}: {error}); "
            f"give module:function importable by the code location, like {EXAMPLE}"
        ) from None
    if not callable(function):
        raise ConfigurationError(f"OL_DAGSTER_FACETS={path}: {function_name} is not a function")
    return UserFacetsHook(function, path)
