"""Helpers for the runtime-pass tests: tiny real torch loops, traced in-process or through the CLI."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


def run_cli(tmp_path: Path, source: str, *options: str, name: str = "train.py", args: tuple = ()) -> tuple[int, dict, str]:
    """Write `source` as a script, run `graphlint trace` on it, return (exit status, JSON report, stdout)."""
    from graphlint.trace.cli import main

    script = tmp_path / name
    script.write_text(textwrap.dedent(source))
    out = tmp_path / "report.json"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["--json", str(out), "--svg", str(tmp_path / "pic.svg"), *options, str(script), "--", *args])
    return rc, json.loads(out.read_text()), buf.getvalue()


def by_name(report) -> dict:
    params = report.parameters if hasattr(report, "parameters") else report["parameters"]
    return {p["name"]: p for p in params}


def loud(findings) -> list:
    out = []
    for f in findings:
        sev = f["severity"] if isinstance(f, dict) else f.severity.value
        if sev in ("warning", "error"):
            out.append(f if isinstance(f, dict) else f.to_dict())
    return out
