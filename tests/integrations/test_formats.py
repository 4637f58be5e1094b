"""Every output format, on the same small training file."""
from __future__ import annotations

import json

import jsonschema
import pytest

from tests.integrations.conftest import REPO, TRAIN

SARIF_SCHEMA = json.loads((REPO.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json").read_text()) \
    if (REPO.parent / "shared" / "schemas" / "sarif-schema-2.1.0.json").exists() else None


@pytest.fixture
def train(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "train.py").write_text(TRAIN)
    return "pkg/train.py"


def test_text_has_code_frame_summary_and_no_colour_off_a_tty(run, train):
    code, out, _ = run(train)
    assert code == 1
    assert "pkg/train.py:6:33: GL901 `.detach()` found" in out
    assert "  > 6 |         feats = model.encoder(x).detach()" in out
    assert "^^^^^^^^^" in out
    assert "note: pkg/train.py:8:1: the loss is computed here" in out
    assert out.rstrip().endswith("Found 2 findings (1 error, 1 warning) in 1 file.")
    assert "\x1b[" not in out


def test_force_color_and_no_color(run, train, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[" in run(train)[1]
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in run(train)[1]


def test_concise_is_exactly_one_line_per_finding(run, train):
    code, out, _ = run(train, "--format", "concise")
    assert code == 1
    assert out.splitlines() == [
        "pkg/train.py:6:33: GL901 `.detach()` found",
        "pkg/train.py:9:13: GL902 `zero_grad()` found",
    ]


def test_json_follows_the_contract(run, train, tmp_path):
    (tmp_path / "broken.py").write_text("def (:\n")
    code, out, _ = run(train, "missing.py", "--format", "json")
    doc = json.loads(out)
    assert code == 2
    assert doc["version"] == 1 and doc["tool"]["name"] == "graphlint"
    first = doc["findings"][0]
    assert {k: first[k] for k in ("rule", "name", "category", "severity", "path", "line", "column", "pass")} == {
        "rule": "GL901", "name": "fake-detach", "category": "detach", "severity": "error",
        "path": "pkg/train.py", "line": 6, "column": 33, "pass": "static"}
    assert first["related"][0]["line"] == 8
    assert doc["errors"] == [{"path": "missing.py", "message": "no such file or folder"}]


def test_output_file(run, train, tmp_path):
    code, out, _ = run(train, "--format", "json", "-o", "report.json")
    assert code == 1 and out == ""
    assert len(json.loads((tmp_path / "report.json").read_text())["findings"]) == 2


def test_github_annotations_are_escaped_and_summary_written(run, tmp_path, monkeypatch):
    (tmp_path / "a,b:c%.py").write_text("x = y.detach()  # 100%\n")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, _ = run("a,b:c%.py", "--format", "github")
    assert code == 1
    assert out == ("::error file=a%2Cb%3Ac%25.py,line=1,col=6,endLine=1,endColumn=15,"
                   "title=GL901 fake-detach::`.detach()` found\n")
    md = summary.read_text()
    assert md.startswith("## graphlint") and "| `GL901` fake-detach | 1 |" in md


def test_github_escapes_newlines_in_messages():
    from graphlint.report.github import escape_data, escape_property

    assert escape_data("a\nb\r%") == "a%0Ab%0D%25"
    assert escape_property("x:y,z") == "x%3Ay%2Cz"


def test_statistics(run, train, tmp_path):
    (tmp_path / "more.py").write_text("a = b.detach()\nc = d.detach()\n")
    code, out, _ = run(train, "more.py", "--statistics")
    assert code == 1
    assert out.splitlines()[:2] == ["3\tGL901\tfake-detach", "1\tGL902\tfake-zero-grad"]


@pytest.mark.skipif(SARIF_SCHEMA is None, reason="shared/schemas not present")
def test_sarif_is_valid_and_complete(run, train, tmp_path):
    (tmp_path / ".git").mkdir()  # the repository root that URIs are relative to
    (tmp_path / "broken.py").write_bytes(b"\x00\x01")
    code, out, _ = run(train, "broken.py", "--format", "sarif")
    assert code == 2
    doc = json.loads(out)
    jsonschema.validate(doc, SARIF_SCHEMA)
    run_ = doc["runs"][0]
    assert run_["automationDetails"]["id"] == "graphlint/static/"
    rules = {r["id"]: r for r in run_["tool"]["driver"]["rules"]}
    assert rules["GL901"]["defaultConfiguration"]["level"] == "error"
    assert rules["GL903"]["defaultConfiguration"]["level"] == "note"
    assert rules["GL901"]["shortDescription"]["text"] and rules["GL901"]["fullDescription"]["text"]
    assert rules["GL901"]["help"]["markdown"] and rules["GL901"]["help"]["text"]
    result = run_["results"][0]
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "pkg/train.py", "uriBaseId": "%SRCROOT%"}
    assert loc["region"] == {"startLine": 6, "startColumn": 33, "endLine": 6, "endColumn": 42}
    assert result["relatedLocations"][0]["physicalLocation"]["region"]["startLine"] == 8
    assert result["partialFingerprints"]["primaryLocationLineHash"].endswith(":1")
    assert run_["invocations"][0]["executionSuccessful"] is False
    assert "broken.py" in run_["invocations"][0]["toolExecutionNotifications"][0]["locations"][0][
        "physicalLocation"]["artifactLocation"]["uri"]


@pytest.mark.skipif(SARIF_SCHEMA is None, reason="shared/schemas not present")
def test_sarif_for_the_runtime_pass_has_its_own_automation_id_and_rules(fake_engine):
    from graphlint.findings import Finding, Severity
    from graphlint.report import sarif

    f = Finding("GL950", "param-never-moved", "frozen", Severity.WARNING, "train.py", 3, 1, 3, 5,
                "Net.fc.weight never moved", pass_="runtime")
    doc = json.loads(sarif.render([f], [], sarif.TRACE_AUTOMATION_ID))
    jsonschema.validate(doc, SARIF_SCHEMA)
    assert doc["runs"][0]["automationDetails"]["id"] == "graphlint/trace/"
    assert doc["runs"][0]["results"][0]["ruleId"] == "GL950"
    assert any(r["id"] == "GL950" for r in doc["runs"][0]["tool"]["driver"]["rules"])


def test_sarif_fingerprints_survive_line_shifts_and_count_duplicates(run, tmp_path):
    (tmp_path / "a.py").write_text("a = b.detach()\na = b.detach()\n")
    first = json.loads(run("a.py", "--format", "sarif")[1])["runs"][0]["results"]
    (tmp_path / "a.py").write_text("import os\n\na = b.detach()\na = b.detach()\n")
    second = json.loads(run("a.py", "--format", "sarif")[1])["runs"][0]["results"]
    fingerprints = [r["partialFingerprints"]["primaryLocationLineHash"] for r in first]
    assert fingerprints == [r["partialFingerprints"]["primaryLocationLineHash"] for r in second]
    assert fingerprints[0] != fingerprints[1]


@pytest.mark.skipif(SARIF_SCHEMA is None, reason="shared/schemas not present")
def test_real_engine_sarif_end_to_end(tmp_path):
    """The installed CLI on a real cut, in a real process: valid SARIF with the loss as a related location."""
    import subprocess
    import sys

    from tests.integrations.test_precommit import BAD

    (tmp_path / ".git").mkdir()
    (tmp_path / "train.py").write_text(BAD)
    done = subprocess.run([sys.executable, "-m", "graphlint", "train.py", "--format", "sarif", "--no-cache"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    jsonschema.validate(doc, SARIF_SCHEMA)
    result = next(r for r in doc["runs"][0]["results"] if r["ruleId"] == "GL101")
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == 12
    assert result["relatedLocations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "train.py"
