"""Typed errors of the domain; adapters translate library errors into these."""

from __future__ import annotations


class OlDagsterError(Exception):
    """Base of every error ol-dagster raises on purpose."""


class UntranslatableRecord(OlDagsterError):
    """A record the domain cannot turn into lineage: it is skipped and counted, never fatal."""

    def __init__(self, run_id: str, storage_id: int, reason: str) -> None:
        super().__init__(f"record {storage_id} of run {run_id}: {reason}")
        self.run_id = run_id
        self.storage_id = storage_id
        self.reason = reason


class TranslationDefect(UntranslatableRecord):
    """A record a defect of ol-dagster's kept from being translated: skipped alone, and kept as
    a dead letter (where there is a store) so that a resend translates it again once fixed."""

    def __init__(self, run_id: str, storage_id: int, reason: str, job_name: str) -> None:
        super().__init__(run_id, storage_id, reason)
        self.job_name = job_name


CURSOR_RESET_HINT = (
    "Reset it in the Dagster UI (the sensor's page, 'Edit cursor', empty value) or with "
    "`dagster sensor cursor --delete <sensor name> -w <your workspace.yaml>` (or the -m/-f "
    "your deployment loads it with): the sensor then starts again from its "
    "after_storage_id, and the events it sends again keep their run ids."
)


AHEAD_OF_LOG_HINT = (
    "Give the sensor an after_storage_id just below the first record not sent (or 0 to send "
    "everything again, under the same run ids), then reset its cursor: in the Dagster UI (the "
    "sensor's page, 'Edit cursor', empty value) or with `dagster sensor cursor --delete <sensor "
    "name> -w <your workspace.yaml>`."
)


class CursorError(OlDagsterError):
    """The stored cursor cannot be read or used; the message says how to reset it."""

    def __init__(self, problem: str, hint: str = CURSOR_RESET_HINT) -> None:
        super().__init__(f"{problem}. {hint}")
        self.problem = problem
        """What is wrong, without the sensor's remedy (a replay's state file has its own)."""


class ConfigurationError(OlDagsterError):
    """The environment or the arguments configure ol-dagster wrongly."""


class NothingConfigured(ConfigurationError):
    """The client resolved no transport of the user's: it would print events to its log."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
        """Why settings the user gave were not a transport ("" when none were given)."""


DISABLED = (
    "OpenLineage is disabled (OPENLINEAGE_DISABLED=true, or a noop transport): nothing is sent "
    "and nothing is marked as sent"
)


class BackendError(OlDagsterError):
    """The OpenLineage backend did not accept events; nothing after them was committed."""


class StorageError(OlDagsterError):
    """The Dagster instance cannot be opened (its dagster.yaml, its files), or its storage
    failed (a database gone or read-only); the message says what fixes it."""
