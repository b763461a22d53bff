"""Your own facets on ol-dagster's events: the facets hook (OL_DAGSTER_FACETS=module:function).

    # my_company/lineage.py
    from ol_dagster.facets import FacetContext, Facets, facet

    COST = "https://my-company.example/schemas/CostCenterRunFacet.json"

    def facets(context: FacetContext) -> Facets:
        centre = context.run_tags.get("cost_centre")
        if centre is None:
            return Facets()
        return Facets(run={"costCentre": facet(COST, centre=centre)})

`OL_DAGSTER_FACETS=my_company.lineage:facets`, in the environment of the sensor's code location
and of the `ol-dagster` commands, adds a `costCentre` run facet to every event of runs tagged
`cost_centre`. The hook is called for each START, RUNNING and end event of job and step runs
(not for observations); `Facets.datasets` adds facets to the event's inputs and outputs by
(namespace, name). Each facet must be a JSON object with `_producer` and `_schemaURL` (an
http(s) URL of its JSON Schema), as the OpenLineage spec asks of custom facets; one that is not,
or a hook that raises, is left out with a warning in the log: your hook never stops lineage.
A facet named as one ol-dagster or openlineage-python writes (`tags`, `documentation`, ...) is left
out the same way: a hook adds facets, it does not replace them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ol_dagster.domain.ports import FacetContext
from ol_dagster.version import PRODUCER

__all__ = ["FacetContext", "Facets", "facet"]


@dataclass(frozen=True)
class Facets:
    """What a facets hook adds to one event."""

    run: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    job: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    datasets: Mapping[tuple[str, str], Mapping[str, Mapping[str, Any]]] = field(
        default_factory=dict
    )
    """Facets of the event's datasets, by (namespace, name) as in `FacetContext.datasets`."""


def facet(schema_url: str, producer: str = PRODUCER, **fields: Any) -> dict[str, Any]:
    """A custom facet: `fields` with the `_producer` and `_schemaURL` the spec asks for."""
    return {"_producer": producer, "_schemaURL": schema_url, **fields}
