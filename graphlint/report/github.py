"""GitHub Actions: workflow-command annotations on stdout and a Markdown table for the job summary.

Annotations point at lines of the file as stored, so for a notebook that is the line of the
`.ipynb` JSON holding the source line (the message says which cell).
"""
from __future__ import annotations

from collections import Counter

from graphlint.findings import FileError, Finding, Severity
from graphlint.notebook import disk_position
from graphlint.report.text import location

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(level: str, message: str, **props: object) -> str:
    fields = ",".join(f"{k}={escape_property(str(v))}" for k, v in props.items() if v is not None)
    return f"::{level} {fields}::{escape_data(message)}\n"


def annotation(f: Finding) -> str:
    line, col, end_line, end_col = f.line, f.column, f.end_line, f.end_column
    message = f.message
    if f.cell is not None:
        line, col = disk_position(f.path, f.cell, f.line, f.column)
        end_line, end_col = line, None
        message = f"cell {f.cell}, line {f.line}: {message}"
    notes = "".join(f"\n{location(r)}: {r.message}" for r in f.related)
    one_line = end_line == line
    return _command(_LEVEL[f.severity], message + notes, file=f.path, line=line, col=col,
                    endLine=end_line, endColumn=end_col if one_line else None, title=f"{f.rule} {f.name}")


def render(findings: list[Finding], errors: list[FileError]) -> str:
    return "".join(_command("error", e.message, file=e.path, title="graphlint could not analyse this file") for e in errors) + \
        "".join(annotation(f) for f in findings)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def markdown_summary(findings: list[Finding], errors: list[FileError], files_checked: int) -> str:
    """The job summary: counts by rule, then every finding and every file error."""
    out = ["## graphlint", ""]
    if not findings and not errors:
        out.append(f":white_check_mark: {files_checked} file{'s' * (files_checked != 1)} checked, no findings.")
        return "\n".join(out) + "\n"
    if findings:
        out.append(f"**{len(findings)} finding{'s' * (len(findings) != 1)}** in {files_checked} file{'s' * (files_checked != 1)}.")
        out += ["", "| Rule | Count |", "| --- | ---: |"]
        for (code, name), n in sorted(Counter((f.rule, f.name) for f in findings).items()):
            out.append(f"| `{code}` {name} | {n} |")
        out += ["", "| Severity | Rule | Location | Message |", "| --- | --- | --- | --- |"]
        for f in findings:
            out.append(f"| {f.severity.value} | `{f.rule}` | `{_cell(location(f))}` | {_cell(f.message)} |")
    if errors:
        out += ["", f"**{len(errors)} file{'s' * (len(errors) != 1)} could not be analysed:**", ""]
        out += [f"- `{_cell(e.path)}`: {_cell(e.message)}" for e in errors]
    return "\n".join(out) + "\n"
