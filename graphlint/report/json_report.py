"""The JSON document of CONTRACT.md."""
from __future__ import annotations

import json

from graphlint import __version__
from graphlint.findings import FileError, Finding


def render(findings: list[Finding], errors: list[FileError]) -> str:
    doc = {
        "version": 1,
        "tool": {"name": "graphlint", "version": __version__},
        "findings": [f.to_dict() for f in findings],
        "errors": [e.to_dict() for e in errors],
    }
    return json.dumps(doc, indent=2) + "\n"
