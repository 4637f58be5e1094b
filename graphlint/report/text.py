"""Human-readable output: `path:line:col: CODE message`, a short code frame, notes, a summary line.

Colour only when writing to a terminal; `NO_COLOR` (any value) turns it off and `FORCE_COLOR`
turns it on elsewhere, NO_COLOR winning when both are set (as pytest does).
"""
from __future__ import annotations

import os
from collections import Counter
from typing import TextIO

from graphlint.findings import FileError, Finding, Location, Severity
from graphlint.notebook import source_lines
from graphlint.report.summary import RunSummary

_SGR = {"bold": "1", "dim": "2", "red": "31", "yellow": "33", "cyan": "36", "blue": "34", "green": "32"}
_SEVERITY_COLOUR = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}


def use_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return hasattr(stream, "isatty") and stream.isatty() and os.environ.get("TERM") != "dumb"


class _Paint:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, *styles: str) -> str:
        if not self.enabled or not styles:
            return text
        return f"\x1b[{';'.join(_SGR[s] for s in styles)}m{text}\x1b[0m"


def location(f: Finding | Location) -> str:
    cell = f"cell {f.cell}:" if f.cell is not None else ""
    return f"{f.path}:{cell}{f.line}:{f.column}"


def code_frame(f: Finding, paint: _Paint = _Paint(False), context: int = 1) -> list[str]:
    lines = source_lines(f.path, f.cell)
    if not lines or f.line > len(lines):
        return []
    out = []
    last = min(len(lines), f.line + context)
    width = len(str(last))
    for n in range(max(1, f.line - context), last + 1):
        marker = paint(">", "bold", _SEVERITY_COLOUR[f.severity]) if n == f.line else " "
        out.append(f"  {marker} {paint(f'{n:>{width}} |', 'dim')} {lines[n - 1]}")
        if n == f.line:
            start = max(f.column - 1, 0)
            end = f.end_column - 1 if f.end_line == f.line and f.end_column > f.column else len(lines[n - 1])
            carets = "^" * max(1, end - start)
            out.append(f"    {' ' * width} {paint('|', 'dim')} {' ' * start}{paint(carets, 'bold', _SEVERITY_COLOUR[f.severity])}")
    return out


def render(findings: list[Finding], errors: list[FileError], files_checked: int, frames: bool = True,
           summary: RunSummary | None = None, colour: bool = False) -> str:
    paint = _Paint(colour)
    summary = summary or RunSummary()
    out: list[str] = []
    for e in errors:
        out.append(f"{paint(e.path, 'bold')}: {paint('error', 'bold', 'red')}: {e.message}")
    for f in findings:
        out.append(f"{paint(location(f), 'bold')}: {paint(f.rule, 'bold', _SEVERITY_COLOUR[f.severity])} {f.message}")
        if frames:
            out.extend(code_frame(f, paint))
            for rel in f.related:
                out.append(f"    {paint('note', 'cyan')}: {location(rel)}: {rel.message}")
    for u in summary.unused_suppressions:
        where = f"{u.path}:{f'cell {u.cell}:' if u.cell is not None else ''}{u.line}:{u.column}"
        scope = "file-level `# graphlint: noqa`" if u.file_level else "`# noqa`"
        out.append(f"{paint(where, 'bold')}: {paint('unused suppression', 'yellow')}: {scope} for {u.code} suppresses nothing; remove it")
    for entry in summary.baseline_stale:
        out.append(f"{paint(entry['path'], 'bold')}: {paint('stale baseline entry', 'yellow')}: "
                   f"{entry['rule']} `{entry['line']}` (x{entry['count']}) no longer found; rewrite the baseline with --write-baseline")
    out.append(summary_line(findings, errors, files_checked, summary, paint))
    return "\n".join(out) + "\n"


def summary_line(findings: list[Finding], errors: list[FileError], files_checked: int,
                 summary: RunSummary, paint: _Paint = _Paint(False)) -> str:
    files = f"{files_checked} file{'s' * (files_checked != 1)}"
    if findings:
        by_severity = Counter(f.severity.value for f in findings)
        parts = ", ".join(f"{by_severity[s.value]} {s.value}" for s in Severity if by_severity[s.value])
        line = paint(f"Found {len(findings)} finding{'s' * (len(findings) != 1)} ({parts}) in {files}.", "bold")
    elif errors:  # not "all clear": some files were not analysed at all
        line = f"No findings in {files} checked."
    else:
        line = paint(f"All clear: {files} checked, no findings.", "green")
    notes = []
    if summary.suppressed:
        notes.append(f"{summary.suppressed} suppressed by noqa")
    if summary.baseline_hidden:
        notes.append(f"{summary.baseline_hidden} hidden by the baseline")
    if summary.outside_diff:
        notes.append(f"{summary.outside_diff} outside the lines changed since {summary.diff_base}")
    if summary.cached:
        notes.append(f"{summary.cached} of {files} from cache")
    if notes:
        line += f" ({'; '.join(notes)})"
    if errors:
        line += "\n" + paint(f"{len(errors)} file{'s' * (len(errors) != 1)} could not be analysed.", "bold", "red")
    return line


def render_statistics(findings: list[Finding]) -> str:
    """One line per rule, most frequent first: `count  CODE  name`, like ruff --statistics."""
    counts = Counter((f.rule, f.name) for f in findings)
    width = len(str(max(counts.values(), default=0)))
    return "".join(f"{n:>{width}}\t{code}\t{name}\n" for (code, name), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
