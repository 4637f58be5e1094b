"""What every rule is: a small class with a code, a name, one category, a severity and a check.

Rules never print and never touch files: ``check`` receives the analysed module and
yields ``Report`` objects; the engine turns them into ``Finding``s.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Iterator

from graphlint.findings import Severity
from graphlint.rules.catalog import BY_CODE, RuleInfo

if TYPE_CHECKING:
    import libcst as cst

    from graphlint.engine.analyze import Analysis
    from graphlint.engine.module import ModuleAnalysis

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
    info: ClassVar[RuleInfo]  # the rule's entry in the catalogue
    code: ClassVar[str]
    name: ClassVar[str]
    category: ClassVar[str]
    severity: ClassVar[Severity]
    summary: ClassVar[str]

    def __init_subclass__(cls, **kwargs) -> None:
        """A concrete rule (one with a code) takes its description from the catalogue; a class
        attribute that disagrees with the catalogue is a mistake, caught at import."""
        super().__init_subclass__(**kwargs)
        if "code" not in cls.__dict__:
            return  # a shared base of several rules
        info = BY_CODE.get(cls.code)
        if info is None:
            raise TypeError(f"rule {cls.code} ({cls.__name__}) has no entry in graphlint/rules/catalog.py")
        for attr in ("name", "category", "severity", "summary"):
            if attr in cls.__dict__ and cls.__dict__[attr] != getattr(info, attr):
                raise TypeError(f"{cls.__name__}.{attr} differs from the catalogue entry of {cls.code}")
            setattr(cls, attr, getattr(info, attr))
        cls.info = info

    def check(self, analysis: "Analysis") -> Iterator[Report]:
        raise NotImplementedError

    @classmethod
    def page_path(cls) -> Path:
        return cls.info.page_path()

    @classmethod
    def page(cls) -> str:
        """The rule's documentation page (``rules/<code>.md``), or its summary if the page is missing."""
        return cls.info.page()
