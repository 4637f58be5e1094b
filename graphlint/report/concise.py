"""One line per finding, exactly `path:line:col: CODE message`, for diff-quality, reviewdog and editors."""
from __future__ import annotations

from graphlint.findings import Finding
from graphlint.report.text import location


def render(findings: list[Finding]) -> str:
    return "".join(f"{location(f)}: {f.rule} {' '.join(f.message.split())}\n" for f in findings)
