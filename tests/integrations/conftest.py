"""A small, predictable stand-in for the static engine, so the integrations are tested on their own.

Rules GL901-GL903 fire on marker text: `.detach()` (error, with a related location at the
line that calls `.backward()`), `zero_grad()` (warning) and `INFO_MARK` (info). Tests that
need the real engine run the CLI in a subprocess instead.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import graphlint.notebook
import graphlint.rules
import graphlint.runner
from graphlint.findings import Finding, Location, Severity
from graphlint.rules import Rule

REPO = Path(__file__).resolve().parents[2]


def _rule(code: str, name: str, category: str, severity: Severity, summary: str) -> type[Rule]:
    return type(f"Fake{code}", (Rule,), {"code": code, "name": name, "category": category,
                                         "severity": severity, "summary": summary})


FAKE_RULES = [
    _rule("GL901", "fake-detach", "detach", Severity.ERROR, "A detached value reaches the loss."),
    _rule("GL902", "fake-zero-grad", "zero-grad-order", Severity.WARNING, "zero_grad between backward and step."),
    _rule("GL903", "fake-info", "frozen", Severity.INFO, "Informational marker."),
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
    graphlint.rules.all_rules()  # register the real rules first, so patching cannot lose them
    monkeypatch.setattr(graphlint.rules, "_RULES", list(FAKE_RULES))
    monkeypatch.setattr(graphlint.runner, "analyze_source", fake_analyze_source)
    monkeypatch.setattr(graphlint.notebook, "analyze_source", fake_analyze_source)
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
