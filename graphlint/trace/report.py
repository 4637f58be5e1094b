"""The runtime report as an object, for tests and notebooks (the CLI writes the same data as JSON)."""
from __future__ import annotations

from dataclasses import dataclass, field

from graphlint.findings import Finding


@dataclass
class TraceReport:
    doc: dict = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def parameters(self) -> list[dict]:
        return self.doc.get("parameters", [])

    def parameter(self, name: str) -> dict:
        for p in self.parameters:
            if p["name"] == name:
                return p
        raise KeyError(name)

    def not_moving(self) -> list[dict]:
        return [p for p in self.parameters if p["moved"] is False]

    def causes(self) -> dict[str, str | None]:
        return {p["name"]: p["cause"] for p in self.not_moving()}

    def assert_all_train(self, allow_frozen: bool = True) -> None:
        """Fail with one line per parameter that did not move (frozen ones pass unless allow_frozen=False)."""
        bad = [p for p in self.not_moving() if not (allow_frozen and p["cause"] == "frozen")]
        if bad:
            lines = [f"{p['name']}: [{p['cause']}] {p['explanation']}" for p in bad]
            raise AssertionError(f"{len(bad)} parameter(s) did not train:\n  " + "\n  ".join(lines))

    def to_dict(self) -> dict:
        return dict(self.doc, findings=[f.to_dict() for f in self.findings])

    def __str__(self) -> str:
        from graphlint.report import trace_text

        return trace_text.render(self.doc, self.findings)
