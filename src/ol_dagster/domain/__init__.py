"""The pure domain: run state, run ids and the translation to lineage events.

Nothing here imports dagster, openlineage or dependency_injector; adapters speak to those.
"""
