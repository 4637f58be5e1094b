"""Every rule has a page, and the page's examples are tests (Fixit-style).

Each ```python block under "## Example" must be flagged by the page's rule; each block
under "## Use instead" must stay completely silent. The pages thus cannot drift from
what the engine actually does.
"""
from __future__ import annotations

import re

import pytest

from graphlint.engine import AnalysisOptions, ProjectIndex, analyze_source
from graphlint.rules import all_rules, catalog

RULES = all_rules()
SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead")


def sections(page: str) -> dict[str, str]:
    """The page's `## ` sections by heading."""
    parts = re.split(r"^## (.+)$", page, flags=re.MULTILINE)
    return {parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def findings_of(source: str):
    return analyze_source(source, "example.py", AnalysisOptions(), ProjectIndex())


@pytest.fixture(params=RULES, ids=[r.code for r in RULES])
def rule(request):
    return request.param


def test_page_exists_with_title_and_sections(rule):
    assert rule.page_path().is_file(), f"missing rules/{rule.code}.md"
    page = rule.page()
    lines = page.splitlines()
    assert lines[0] == f"# {rule.code} {rule.name}"
    assert f"Category: {rule.category} · Default severity: {rule.severity.value}" in page
    assert set(SECTIONS) <= set(sections(page)), f"{rule.code} lacks one of {SECTIONS}"


def test_example_is_flagged(rule):
    blocks = python_blocks(sections(rule.page()).get("Example", ""))
    assert blocks, f"{rule.code}: no ```python block under ## Example"
    for block in blocks:
        codes = [f.rule for f in findings_of(block)]
        assert rule.code in codes, f"{rule.code} example not flagged (got {codes})"


def test_use_instead_is_silent(rule):
    blocks = python_blocks(sections(rule.page()).get("Use instead", ""))
    assert blocks, f"{rule.code}: no ```python block under ## Use instead"
    for block in blocks:
        found = [(f.rule, f.line, f.message) for f in findings_of(block)]
        assert found == [], f"{rule.code} corrected example is not silent: {found}"


def test_every_page_belongs_to_a_rule():
    pages = {p.stem for p in RULES[0].page_path().parent.glob("GL*.md")}
    assert pages <= {r.code for r in RULES}, f"pages without a rule: {pages - {r.code for r in RULES}}"


def test_the_catalogue_describes_exactly_the_rules_that_check():
    """Selection, listings and reports read the catalogue; the engine runs the rule classes."""
    assert [r.info for r in RULES] == list(catalog.RULES)
