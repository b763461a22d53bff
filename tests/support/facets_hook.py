"""Facets hooks as users write them (OL_DAGSTER_FACETS=tests.support.facets_hook:...)."""

from __future__ import annotations

from ol_dagster.facets import FacetContext, Facets, facet

COST = "https://example.com/schemas/CostCentreRunFacet.json"
OWNER = "https://example.com/schemas/DataStewardDatasetFacet.json"


def cost_centre(context: FacetContext) -> Facets:
    """A cost centre from a run tag on every event of the run; a steward on every output."""
    centre = context.run_tags.get("cost_centre")
    run = {"costCentre": facet(COST, centre=centre)} if centre else {}
    return Facets(
        run=run,
        job={"team": facet("https://example.com/schemas/TeamJobFacet.json", team="sales")},
        datasets={key: {"steward": facet(OWNER, name="ada")} for key in context.datasets},
    )


def broken(context: FacetContext) -> Facets:
    if context.step_key:
        raise RuntimeError("the hook's own bug")
    return Facets(run={"notAFacet": {"no": "schema"}, "fine": facet(COST, centre="x")})
