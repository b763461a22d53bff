"""Adapters: Dagster, the OpenLineage client and the cursor, plugged into the domain's ports."""
