"""ol-dagster: automatic OpenLineage lineage for every Dagster deployment, from one sensor."""

from ol_dagster.entry.sensor import openlineage_sensor
from ol_dagster.version import __version__

__all__ = ["__version__", "openlineage_sensor"]
