"""What a run did besides finding things (suppressions, baseline, diff filter, cache), for every reporter."""
from __future__ import annotations

from dataclasses import dataclass, field

from graphlint.suppress import UnusedSuppression


@dataclass
class RunSummary:
    suppressed: int = 0  # findings hidden by noqa comments
    unused_suppressions: list[UnusedSuppression] = field(default_factory=list)
    baseline_hidden: int = 0
    baseline_stale: list[dict] = field(default_factory=list)
    diff_base: str | None = None
    outside_diff: int = 0  # findings on lines not changed since diff_base
    cached: int = 0  # files whose findings came from the cache

    def to_dict(self) -> dict:
        doc: dict = {"suppressed": self.suppressed,
                     "unused_suppressions": [u.to_dict() for u in self.unused_suppressions]}
        if self.baseline_hidden or self.baseline_stale:
            doc["baseline"] = {"hidden": self.baseline_hidden, "stale": self.baseline_stale}
        if self.diff_base is not None:
            doc["diff_base"] = {"rev": self.diff_base, "outside_diff": self.outside_diff}
        return doc
