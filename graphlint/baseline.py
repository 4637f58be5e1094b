"""A baseline for adopting graphlint on an existing codebase: record today's findings, report only new ones.

An entry is keyed on the file (relative to the baseline's folder), the rule and the finding's
source line with surrounding whitespace stripped — not the line number, so edits above a finding
do not resurrect it. Identical keys are counted: two identical cut lines in one file need two
entries, and a third copy added later is reported.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from graphlint import __version__
from graphlint.config import relative_posix
from graphlint.findings import Finding
from graphlint.notebook import source_lines

FORMAT_VERSION = 1


class BaselineError(Exception):
    """An unreadable or malformed baseline file; the message names it."""


Key = tuple[str, str, str]  # (relative path, rule, stripped source line)


def _key(f: Finding, root: Path) -> Key:
    lines = source_lines(f.path, f.cell)
    text = lines[f.line - 1].strip() if 0 < f.line <= len(lines) else ""
    return relative_posix(f.path, root), f.rule, text


def write(path: Path, findings: list[Finding]) -> int:
    """Write the baseline; returns the number of entries."""
    counts = Counter(_key(f, path.resolve().parent) for f in findings)
    entries = [{"path": p, "rule": r, "line": t, "count": n} for (p, r, t), n in sorted(counts.items())]
    doc = {"version": FORMAT_VERSION, "tool": {"name": "graphlint", "version": __version__}, "entries": entries}
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return len(entries)


@dataclass
class BaselineResult:
    kept: list[Finding]
    hidden: int
    stale: list[dict] = field(default_factory=list)  # entries (with the unmatched count) nothing matched


def load(path: Path) -> Counter:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return Counter({(e["path"], e["rule"], e["line"]): int(e.get("count", 1)) for e in doc["entries"]})
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read baseline: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BaselineError(f"{path}: not a graphlint baseline (expected JSON with an 'entries' list)") from None


def apply(path: Path, findings: list[Finding], checked_paths: list[str], enabled: set[str]) -> BaselineResult:
    """Hide the findings the baseline knows. Entries are stale only for files and rules this run checked."""
    root = path.resolve().parent
    remaining = load(path)
    kept, hidden = [], 0
    for f in findings:
        key = _key(f, root)
        if remaining[key] > 0:
            remaining[key] -= 1
            hidden += 1
        else:
            kept.append(f)
    checked = {relative_posix(p, root) for p in checked_paths}
    stale = [
        {"path": p, "rule": r, "line": t, "count": n}
        for (p, r, t), n in sorted(remaining.items())
        if n > 0 and p in checked and r in enabled
    ]
    return BaselineResult(kept, hidden, stale)
