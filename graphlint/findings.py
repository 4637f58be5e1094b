"""The finding model shared by the static pass, the runtime pass and every reporter.

A finding is plain data: rules and the tracer create them, reporters render them.
Field names and meanings follow ``CONTRACT.md``; extra fields are additive.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

# The shared vocabulary of ../shared/eval/TAXONOMY.md; every finding carries one.
CATEGORIES = (
    "detach",
    "scalar-escape",
    "rewrap",
    "no-grad",
    "non-differentiable",
    "grad-mutation",
    "step-gate",
    "zero-grad-order",
    "missing-zero-grad",
    "optimizer-coverage",
    "frozen",
    "unregistered-param",
    "unused-param",
    "graph-retention",
    "lr-zero",
    "backward-missing",
)


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def is_loud(self) -> bool:
        """Loud findings (warning and above) make the exit status 1."""
        return self is not Severity.INFO


@dataclass(frozen=True)
class Location:
    """A place in a source file that a finding points to besides its primary location."""

    path: str
    line: int
    column: int = 1
    message: str = ""
    cell: int | None = None  # notebook cell number (1-based), when the file is a notebook

    def to_dict(self) -> dict:
        doc = {"path": self.path, "line": self.line, "column": self.column, "message": self.message}
        if self.cell is not None:
            doc["cell"] = self.cell
        return doc


@dataclass(frozen=True)
class Finding:
    rule: str
    name: str
    category: str
    severity: Severity
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    pass_: str = "static"
    related: tuple[Location, ...] = ()
    cell: int | None = None  # notebook cell number (1-based), when the source is a notebook

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown category {self.category!r}")

    def to_dict(self) -> dict:
        doc = {
            "rule": self.rule,
            "name": self.name,
            "category": self.category,
            "severity": self.severity.value,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "message": self.message,
            "pass": self.pass_,
        }
        if self.related:
            doc["related"] = [loc.to_dict() for loc in self.related]
        if self.cell is not None:
            doc["cell"] = self.cell
        return doc

    @property
    def sort_key(self) -> tuple:
        return (self.path, self.cell or 0, self.line, self.column, self.rule)


@dataclass(frozen=True)
class FileError:
    """A file that could not be analysed; reported, never raised."""

    path: str
    message: str

    def to_dict(self) -> dict:
        return {"path": self.path, "message": self.message}


@dataclass
class FileResult:
    """What analysing one file produced."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    error: FileError | None = None


def format_measure(value, missing: str = "none") -> str:
    """A measured number (a gradient norm, a learning rate) as messages and tables print it."""
    if value is None:
        return missing
    return value if isinstance(value, str) else f"{value:.3g}"
