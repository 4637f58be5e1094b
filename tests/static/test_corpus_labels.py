"""Every label in tests/corpus has the shape ../shared/eval/FORMAT.md asks for, and agrees with its case.

The scorer trusts labels blindly: a line number past the end of the file, a category
outside the taxonomy or a parameter of a class the script never defines would quietly
turn a hit into a miss. These checks read the files only; running the cases (seconds
each) is the scorer's job, and `tests/corpus/tools/still_params.py` measures a label's
`runtime.not_moving`.
"""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from graphlint.findings import CATEGORIES

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
LABELS = sorted((CORPUS / "labels").glob("*.json"))
CASES = sorted((CORPUS / "cases").glob("*.py"))
ID = re.compile(r"^[a-z]+\d{2}_[a-z0-9_]+$")
KEYS = {"id", "kind", "summary", "modelled_on", "static", "runtime"}


def test_every_case_has_a_label_and_every_label_a_case():
    assert LABELS, "tests/corpus/labels is empty"
    assert {p.stem for p in LABELS} == {p.stem for p in CASES}


@pytest.fixture(params=LABELS, ids=[p.stem for p in LABELS])
def labelled(request):
    label = json.loads(request.param.read_text())
    source = (CORPUS / "cases" / f"{request.param.stem}.py").read_text()
    return request.param.stem, label, source


def test_label_fields(labelled):
    stem, label, _ = labelled
    assert set(label) - {"runtime"} <= KEYS and KEYS <= set(label), sorted(label)
    assert label["id"] == stem and ID.match(stem), stem
    assert label["kind"] in ("bug", "clean")
    assert label["summary"].strip() and label["modelled_on"].strip()


def test_static_entries_point_at_code_lines(labelled):
    _, label, source = labelled
    lines = source.splitlines()
    if label["kind"] == "clean":
        assert label["static"] == []
    for entry in label["static"]:
        assert set(entry) == {"category", "lines"}
        assert entry["category"] in CATEGORIES, entry["category"]
        assert entry["lines"] and entry["lines"] == sorted(set(entry["lines"]))
        for n in entry["lines"]:
            assert isinstance(n, int) and 1 <= n <= len(lines), n
            text = lines[n - 1].strip()
            assert text and not text.startswith("#"), f"line {n} is blank or a comment"


def test_runtime_names_parameters_of_roots_the_script_uses(labelled):
    _, label, source = labelled
    rt = label["runtime"]
    assert set(rt) <= {"not_moving", "cause", "expect_finding"}
    still = rt["not_moving"]
    assert (rt["cause"] is None) == (not still), "a cause exactly when something is still"
    if rt["cause"] is not None:
        assert rt["cause"] in CATEGORIES
    if "expect_finding" in rt:
        assert rt["expect_finding"] in CATEGORIES
    if label["kind"] == "clean":
        assert rt["cause"] in (None, "frozen") and "expect_finding" not in rt
    else:
        assert label["static"] or still or rt.get("expect_finding"), "a bug must be visible somewhere"
    assert len(still) == len(set(still))
    for name in still:
        root, _, dotted = name.partition(".")
        assert dotted and re.search(rf"\b{re.escape(root)}\b", source), name


def test_script_is_a_runnable_seeded_program_that_names_no_bug(labelled):
    _, _, source = labelled
    tree = ast.parse(source)
    assert "torch.manual_seed(0)" in source
    assert any(isinstance(n, ast.If) and "__main__" in ast.unparse(n.test) for n in tree.body)
    classes = [n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    assert len(classes) == len(set(classes)), "class names must be distinct within a case"
    comments = [line.split("#", 1)[1] for line in source.splitlines() if "#" in line]
    assert not any(re.search(r"\bbug|fixme|xxx\b", c, re.I) for c in comments)
