"""The package version and the OpenLineage producer URI derived from it."""

__version__ = "0.1.0"
PRODUCER = f"https://github.com/ol-dagster/ol-dagster/tree/{__version__}"
