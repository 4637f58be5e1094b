"""Human-readable output: `path:line:col: CODE message`, a short code frame, a summary."""
from __future__ import annotations

from collections import Counter
from functools import lru_cache
from pathlib import Path

from graphlint.findings import FileError, Finding


@lru_cache(maxsize=64)
def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def location(f: Finding) -> str:
    cell = f"cell {f.cell}:" if f.cell is not None else ""
    return f"{f.path}:{cell}{f.line}:{f.column}"


def code_frame(f: Finding, context: int = 1) -> list[str]:
    lines = _lines(f.path)
    if not lines or f.cell is not None or f.line > len(lines):
        return []
    out = []
    width = len(str(min(len(lines), f.line + context)))
    for n in range(max(1, f.line - context), min(len(lines), f.line + context) + 1):
        marker = ">" if n == f.line else " "
        out.append(f"  {marker} {n:>{width}} | {lines[n - 1]}")
        if n == f.line:
            start = max(f.column - 1, 0)
            end = f.end_column - 1 if f.end_line == f.line and f.end_column > f.column else len(lines[n - 1])
            out.append(f"    {' ' * width} | {' ' * start}{'^' * max(1, end - start)}")
    return out


def render(findings: list[Finding], errors: list[FileError], files_checked: int, frames: bool = True) -> str:
    out: list[str] = []
    for e in errors:
        out.append(f"{e.path}: error: {e.message}")
    for f in findings:
        out.append(f"{location(f)}: {f.rule} {f.message}")
        if frames:
            out.extend(code_frame(f))
            for rel in f.related:
                out.append(f"    note: {rel.path}:{rel.line}: {rel.message}")
    by_severity = Counter(f.severity.value for f in findings)
    if findings:
        parts = ", ".join(f"{n} {sev}" for sev, n in sorted(by_severity.items()))
        out.append(f"Found {len(findings)} finding{'s' * (len(findings) != 1)} ({parts}) in {files_checked} file{'s' * (files_checked != 1)}.")
    else:
        out.append(f"All clear: {files_checked} file{'s' * (files_checked != 1)} checked, no findings.")
    if errors:
        out.append(f"{len(errors)} file{'s' * (len(errors) != 1)} could not be analysed.")
    return "\n".join(out) + "\n"
