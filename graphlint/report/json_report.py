"""The JSON document of CONTRACT.md, plus what the run hid or skipped (`summary`, an additive field)."""
from __future__ import annotations

import json

from graphlint import __version__
from graphlint.findings import FileError, Finding


def document(findings: list[Finding], errors: list[FileError], extra: dict | None = None) -> dict:
    doc = {
        "version": 1,
        "tool": {"name": "graphlint", "version": __version__},
        "findings": [f.to_dict() for f in findings],
        "errors": [e.to_dict() for e in errors],
    }
    doc.update(extra or {})
    return doc


def render(findings: list[Finding], errors: list[FileError], extra: dict | None = None) -> str:
    return json.dumps(document(findings, errors, extra), indent=2) + "\n"
