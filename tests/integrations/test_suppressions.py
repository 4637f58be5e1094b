"""`# noqa` comments, file-level suppressions, unused-suppression reports, and the baseline."""
from __future__ import annotations

import json


def _findings(run, *args):
    code, out, err = run(*args, "--format", "json")
    return code, json.loads(out)


def test_line_noqa_with_codes_bare_and_other_tools(run, tmp_path):
    (tmp_path / "t.py").write_text(
        "a = b.detach()  # noqa: GL901\n"
        "a = b.detach()  # noqa\n"
        "a = b.detach()  # noqa: F401\n"          # another tool's code: does not hide ours
        "a = b.detach()  # noqa:GL902,GL901\n"
        "s = '# noqa'; a = b.detach()\n"           # inside a string: not a comment
        "a = b.detach()  # NOQA: gl9\n"            # prefixes, any case
    )
    code, doc = _findings(run, "t.py")
    assert [f["line"] for f in doc["findings"]] == [3, 5]
    assert doc["summary"]["suppressed"] == 4
    # GL902 on line 4 suppressed nothing; F401 and the bare noqa are not ours to judge
    assert [(u["line"], u["code"]) for u in doc["summary"]["unused_suppressions"]] == [(4, "GL902")]


def test_file_level_noqa(run, tmp_path):
    (tmp_path / "all.py").write_text("# graphlint: noqa\na = b.detach()\nopt.zero_grad()\n")
    (tmp_path / "some.py").write_text("# graphlint: noqa: GL901, GL903\na = b.detach()\nopt.zero_grad()\n")
    code, doc = _findings(run, "all.py", "some.py")
    assert [(f["path"], f["rule"]) for f in doc["findings"]] == [("some.py", "GL902")]
    assert [(u["path"], u["code"], u["scope"]) for u in doc["summary"]["unused_suppressions"]] == [("some.py", "GL903", "file")]


def test_unused_suppression_is_reported_in_text(run, tmp_path):
    (tmp_path / "t.py").write_text("x = 1  # noqa: GL901\n")
    code, out, _ = run("t.py")
    assert code == 0
    assert "t.py:1:8: unused suppression: `# noqa` for GL901 suppresses nothing; remove it" in out


def test_unused_suppression_of_a_disabled_rule_is_not_reported(run, tmp_path):
    (tmp_path / "t.py").write_text("x = 1  # noqa: GL901\n")
    _, doc = _findings(run, "t.py", "--ignore", "GL901")
    assert doc["summary"]["unused_suppressions"] == []


BEFORE = """\
def train():
    a = b.detach()
    a = b.detach()
    opt.zero_grad()
"""
AFTER = """\
import os


def train():
    a = b.detach()
    a = b.detach()
    a = b.detach()
    c = d.detach()
"""


def test_baseline_survives_line_shifts_counts_duplicates_and_reports_stale(run, tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "t.py").write_text(BEFORE)
    code, _, err = run("src", "--write-baseline", "graphlint-baseline.json")
    assert code == 0 and "wrote 2 baseline entries (3 findings)" in err
    assert _findings(run, "src", "--baseline", "graphlint-baseline.json")[1]["findings"] == []

    (tmp_path / "src" / "t.py").write_text(AFTER)
    code, doc = _findings(run, "src", "--baseline", "graphlint-baseline.json")
    assert code == 1
    # two of the three identical lines were known; the third copy and the new line are reported
    assert [(f["line"], f["rule"]) for f in doc["findings"]] == [(7, "GL901"), (8, "GL901")]
    assert doc["summary"]["baseline"]["hidden"] == 2
    assert doc["summary"]["baseline"]["stale"] == [
        {"path": "src/t.py", "rule": "GL902", "line": "opt.zero_grad()", "count": 1}]
    code, out, _ = run("src", "--baseline", "graphlint-baseline.json")
    assert "2 hidden by the baseline" in out and "stale baseline entry: GL902 `opt.zero_grad()`" in out


def test_baseline_from_another_folder_and_stale_only_for_checked_files(run, tmp_path):
    (tmp_path / "a.py").write_text("a = b.detach()\n")
    (tmp_path / "b.py").write_text("opt.zero_grad()\n")
    run("a.py", "b.py", "--write-baseline", "base.json")
    code, doc = _findings(run, "a.py", "--baseline", "base.json")  # b.py not checked: its entry is not stale
    assert code == 0 and doc["summary"]["baseline"] == {"hidden": 1, "stale": []}


def test_bad_baseline_file(run, tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "base.json").write_text("{oops")
    code, _, err = run("a.py", "--baseline", "base.json")
    assert code == 2 and "base.json: not a graphlint baseline" in err
    code, _, err = run("a.py", "--baseline", "nope.json")
    assert code == 2 and "nope.json: cannot read baseline" in err
