"""A small, predictable stand-in for the static engine, so the integrations are tested on their own.

Rules GL901-GL903 fire on marker text: `.detach()` (error, with a related location at the
line that calls `.backward()`), `zero_grad()` (warning) and `INFO_MARK` (info). Tests that
need the real engine run the CLI in a subprocess instead.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import graphlint.engine
import graphlint.runner
from graphlint.findings import Finding, Location, Severity
from graphlint.rules import catalog
from graphlint.rules.catalog import RuleInfo

REPO = Path(__file__).resolve().parents[2]


FAKE_RULES = [
    RuleInfo("GL901", "fake-detach", "detach", Severity.ERROR, "A detached value reaches the loss."),
    RuleInfo("GL902", "fake-zero-grad", "zero-grad-order", Severity.WARNING, "zero_grad between backward and step."),
    RuleInfo("GL903", "fake-info", "frozen", Severity.INFO, "Informational marker."),
]
_MARKERS = [(re.compile(r"\.detach\(\)"), FAKE_RULES[0]), (re.compile(r"zero_grad\(\)"), FAKE_RULES[1]),
            (re.compile(r"INFO_MARK"), FAKE_RULES[2])]


def fake_analyze_source(text, path, options, project):
    lines = text.splitlines()
    backward = next((i for i, line in enumerate(lines, 1) if ".backward()" in line), None)
    out = []
    for n, line in enumerate(lines, 1):
        if line.lstrip().startswith("#"):
            continue
        for pattern, rule in _MARKERS:
            for m in pattern.finditer(line):
                related = (Location(path, backward, 1, "the loss is computed here"),) if backward and rule is FAKE_RULES[0] else ()
                extra = f" (sinks: {','.join(options.extra_sinks)})" if options.extra_sinks else ""
                out.append(Finding(rule.code, rule.name, rule.category, rule.severity, path, n, m.start() + 1,
                                   n, m.end() + 1, f"`{m.group()}` found{extra}", related=related))
    return out


@pytest.fixture
def fake_engine(monkeypatch):
    monkeypatch.setattr(catalog, "RULES", tuple(FAKE_RULES))
    monkeypatch.setattr(catalog, "BY_CODE", {r.code: r for r in FAKE_RULES})
    monkeypatch.setattr(graphlint.runner, "analyze_source", fake_analyze_source)
    monkeypatch.setattr(graphlint.engine, "analyze_source", fake_analyze_source, raising=False)  # notebooks
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return FAKE_RULES


@pytest.fixture
def run(fake_engine, capsys, monkeypatch, tmp_path):
    """Run the CLI in-process in tmp_path; returns (exit code, stdout, stderr)."""
    from graphlint.cli import main

    monkeypatch.chdir(tmp_path)

    def _run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


TRAIN = """\
import torch


def train(model, opt, data):
    for x, y in data:
        feats = model.encoder(x).detach()
        loss = ((model.head(feats) - y) ** 2).mean()
        loss.backward()
        opt.zero_grad()
        opt.step()
"""
