"""What every rule is: a small class with a code, a name, one category, a severity and a check.

Rules never print and never touch files: ``check`` receives the analysed module and
yields ``Report`` objects; the engine turns them into ``Finding``s.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Iterator

import libcst as cst

from graphlint.findings import Severity

if TYPE_CHECKING:
    from graphlint.engine.analyze import Analysis
    from graphlint.engine.module import ModuleAnalysis

# Rule pages live in the repository's rules/ folder; wheels carry them as graphlint/rule_pages.
_PACKAGED_PAGES = Path(__file__).resolve().parents[1] / "rule_pages"
RULE_PAGES = _PACKAGED_PAGES if _PACKAGED_PAGES.is_dir() else Path(__file__).resolve().parents[2] / "rules"


@dataclass(frozen=True)
class Related:
    """A secondary place a report points to (where the cut value reaches the loss, the step...)."""

    node: cst.CSTNode
    message: str
    module: "ModuleAnalysis | None" = None  # None: the file being checked


@dataclass(frozen=True)
class Report:
    node: cst.CSTNode
    message: str
    related: tuple[Related, ...] = ()
    module: "ModuleAnalysis | None" = None  # None: the file being checked


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]
    category: ClassVar[str]
    severity: ClassVar[Severity] = Severity.ERROR
    summary: ClassVar[str]

    def check(self, analysis: "Analysis") -> Iterator[Report]:
        raise NotImplementedError

    @classmethod
    def page_path(cls) -> Path:
        return RULE_PAGES / f"{cls.code}.md"

    @classmethod
    def page(cls) -> str:
        """The rule's documentation page (``rules/<code>.md``), or its summary if the page is missing."""
        try:
            return cls.page_path().read_text(encoding="utf-8")
        except OSError:
            return f"# {cls.code} {cls.name}\n\n{cls.summary}\n"
