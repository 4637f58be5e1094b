"""SARIF 2.1.0 for code-scanning services (GitHub, GitLab, Azure DevOps).

URIs are relative to the repository root (`%SRCROOT%`), so results land on the right files
whatever folder the run started in. The cut is the primary location; where it reaches the
loss and the parameters it affects are related locations. Static and runtime runs carry
different `automationDetails.id`s so one does not close the other's alerts.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from graphlint import __version__
from graphlint.findings import FileError, Finding, Location, Severity
from graphlint.notebook import disk_position, source_lines
from graphlint.rules import catalog
from graphlint.rules.catalog import RuleInfo

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
STATIC_AUTOMATION_ID = "graphlint/static/"
TRACE_AUTOMATION_ID = "graphlint/trace/"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
SRCROOT = "%SRCROOT%"


def repository_root(start: Path | None = None) -> Path:
    """The nearest folder holding `.git` above `start` (the current folder); else `start` itself."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def _artifact(path: str, root: Path) -> dict:
    full = Path(path).resolve()
    try:
        return {"uri": quote(full.relative_to(root).as_posix()), "uriBaseId": SRCROOT}
    except ValueError:
        return {"uri": full.as_uri()}


def _region(path: str, cell: int | None, line: int, column: int, end_line: int | None = None,
            end_column: int | None = None) -> dict:
    if cell is not None:  # the line of the .ipynb file that holds this source line
        disk_line, disk_col = disk_position(path, cell, line, column)
        return {"startLine": disk_line, "startColumn": disk_col}
    region = {"startLine": max(line, 1), "startColumn": max(column, 1)}
    if end_line and end_line >= line:
        region["endLine"] = end_line
        if end_column and (end_line > line or end_column > column):
            region["endColumn"] = end_column
    return region


def _physical(path: str, root: Path, region: dict) -> dict:
    return {"physicalLocation": {"artifactLocation": _artifact(path, root), "region": region}}


def _first_paragraph(page: str) -> str:
    paragraph: list[str] = []
    for line in page.splitlines():
        if line.startswith("#") or not line.strip():
            if paragraph:
                break
            continue
        paragraph.append(line.strip())
    return " ".join(paragraph)


def _descriptor(rule: RuleInfo) -> dict:
    page = rule.page()
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": _first_paragraph(page) or rule.summary},
        "help": {"text": page, "markdown": page},
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {"category": rule.category, "tags": ["pytorch", "autograd", rule.category]},
    }


def _descriptor_of_finding(f: Finding) -> dict:
    """For a finding whose rule is not in the static registry (a runtime-pass check)."""
    return {
        "id": f.rule,
        "name": f.name,
        "shortDescription": {"text": f.name.replace("-", " ")},
        "defaultConfiguration": {"level": _LEVEL[f.severity]},
        "properties": {"category": f.category, "tags": ["pytorch", "autograd", f.category]},
    }


def _line_hash(f: Finding, seen: Counter) -> str:
    lines = source_lines(f.path, f.cell)
    text = lines[f.line - 1] if 0 < f.line <= len(lines) else ""
    digest = hashlib.sha256(f"{f.rule}\0{''.join(text.split())}".encode()).hexdigest()[:16]
    seen[(f.path, digest)] += 1
    return f"{digest}:{seen[(f.path, digest)]}"


def _related(loc: Location, index: int, root: Path) -> dict:
    doc = _physical(loc.path, root, _region(loc.path, loc.cell, loc.line, loc.column))
    doc["id"] = index
    if loc.message:
        doc["message"] = {"text": loc.message}
    return doc


def _result(f: Finding, rule_index: int, root: Path, seen: Counter) -> dict:
    message = f.message if f.cell is None else f"{f.message} (cell {f.cell}, line {f.line})"
    result = {
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": _LEVEL[f.severity],
        "message": {"text": message},
        "locations": [_physical(f.path, root, _region(f.path, f.cell, f.line, f.column, f.end_line, f.end_column))],
        "partialFingerprints": {"primaryLocationLineHash": _line_hash(f, seen)},
        "properties": {"category": f.category, "pass": f.pass_},
    }
    if f.cell is not None:
        result["properties"]["cell"] = f.cell
    if f.related:
        result["relatedLocations"] = [_related(loc, i, root) for i, loc in enumerate(f.related, start=1)]
    return result


def document(findings: list[Finding], errors: list[FileError], automation_id: str = STATIC_AUTOMATION_ID,
             root: Path | None = None) -> dict:
    root = root or repository_root()
    descriptors = [_descriptor(r) for r in catalog.RULES]
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    for f in findings:
        if f.rule not in index:
            index[f.rule] = len(descriptors)
            descriptors.append(_descriptor_of_finding(f))
    seen: Counter = Counter()
    notifications = [
        {"level": "error", "message": {"text": e.message},
         "locations": [{"physicalLocation": {"artifactLocation": _artifact(e.path, root)}}]}
        for e in errors
    ]
    run = {
        "tool": {"driver": {"name": "graphlint", "version": __version__, "semanticVersion": __version__,
                            "rules": descriptors}},
        "automationDetails": {"id": automation_id},
        "originalUriBaseIds": {SRCROOT: {"uri": root.as_uri() + "/"}},
        "columnKind": "unicodeCodePoints",
        "invocations": [{"executionSuccessful": not errors, "toolExecutionNotifications": notifications}],
        "results": [_result(f, index[f.rule], root, seen) for f in findings],
    }
    return {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}


def render(findings: list[Finding], errors: list[FileError], automation_id: str = STATIC_AUTOMATION_ID) -> str:
    """The SARIF log as text; `automation_id` is STATIC_AUTOMATION_ID or TRACE_AUTOMATION_ID."""
    return json.dumps(document(findings, errors, automation_id), indent=2) + "\n"
