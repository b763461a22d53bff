"""Which Dagster runs, steps and assets send lineage: include and exclude selectors.

A selector is `kind:pattern`, the pattern a shell-style glob (`*`, `?`, `[...]`):
- `job:etl_*`: runs of the jobs so named;
- `tag:team=data` (or `tag:team`): runs with that tag (any value);
- `asset:dbt/*`: assets by key path (`a/b/c`);
- `group:staging`: assets of that group.

A run is left out if an exclude selector of kind `job` or `tag` matches it, or if include selectors
of those kinds exist and none matches. An asset is left out of every event (inputs, outputs,
observations) in the same way with `asset` and `group` selectors; a step that computes only assets
left out is left out whole (the dbt case: dbt's own integration sends their lineage).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ol_dagster.domain.datasets import Dataset

RUN_KINDS = ("job", "tag")
ASSET_KINDS = ("asset", "group")
EXAMPLE = "job:nightly_*,tag:team=data,asset:dbt/*,group:staging"


class SelectionError(ValueError):
    """A selector that is not `kind:pattern` of a known kind."""


@dataclass(frozen=True, slots=True)
class Selector:
    kind: str
    pattern: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.pattern}"

    def matches_run(self, job_name: str, tags: Mapping[str, str]) -> bool:
        if self.kind == "job":
            return fnmatch.fnmatchcase(job_name, self.pattern)
        key, _, value = self.pattern.partition("=")
        return key in tags and (not value or fnmatch.fnmatchcase(tags[key], value))

    def matches_dataset(self, dataset: Dataset) -> bool:
        if self.kind == "asset":
            return bool(dataset.asset_key) and fnmatch.fnmatchcase(
                "/".join(dataset.asset_key), self.pattern
            )
        return dataset.group is not None and fnmatch.fnmatchcase(dataset.group, self.pattern)


def parse(text: str) -> tuple[Selector, ...]:
    """`job:a,asset:b/*` as selectors; raises SelectionError naming the bad one."""
    selectors = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kind, colon, pattern = part.partition(":")
        if not colon or kind not in RUN_KINDS + ASSET_KINDS or not pattern:
            raise SelectionError(
                f"{part!r} is not a selector: use kind:pattern with kind job, tag, asset or "
                f"group, like {EXAMPLE}"
            )
        selectors.append(Selector(kind, pattern))
    return tuple(selectors)


@dataclass(frozen=True, slots=True)
class Selection:
    include: tuple[Selector, ...] = ()
    exclude: tuple[Selector, ...] = ()

    @property
    def everything(self) -> bool:
        return not (self.include or self.exclude)

    def describe(self) -> str:
        if self.everything:
            return "every run, step and asset"
        return (
            f"include {', '.join(map(str, self.include)) or 'everything'}; "
            f"exclude {', '.join(map(str, self.exclude)) or 'nothing'}"
        )

    def _of(self, selectors: tuple[Selector, ...], kinds: tuple[str, ...]) -> list[Selector]:
        return [s for s in selectors if s.kind in kinds]

    def keeps_run(self, job_name: str, tags: Iterable[tuple[str, str]]) -> bool:
        if self.everything:
            return True
        by_key = dict(tags)
        included = self._of(self.include, RUN_KINDS)
        if included and not any(s.matches_run(job_name, by_key) for s in included):
            return False
        return not any(s.matches_run(job_name, by_key) for s in self._of(self.exclude, RUN_KINDS))

    def keeps_dataset(self, dataset: Dataset) -> bool:
        if self.everything:
            return True
        included = self._of(self.include, ASSET_KINDS)
        if included and not any(s.matches_dataset(dataset) for s in included):
            return False
        excluded = self._of(self.exclude, ASSET_KINDS)
        return not any(s.matches_dataset(dataset) for s in excluded)

    def kept(self, datasets: tuple[Dataset, ...]) -> tuple[Dataset, ...]:
        if self.everything:
            return datasets
        return tuple(d for d in datasets if self.keeps_dataset(d))
