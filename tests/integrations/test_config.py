"""[tool.graphlint] discovery, keys, precedence against the command line, and errors that name the key."""
from __future__ import annotations

import json

import pytest


def _codes(out: str) -> list[str]:
    return [f["rule"] for f in json.loads(out)["findings"]]


SOURCE = "a = b.detach()\nopt.zero_grad()\nINFO_MARK = 1\n"


@pytest.fixture
def project(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(SOURCE)
    return tmp_path


def write_config(root, body: str) -> None:
    (root / "pyproject.toml").write_text(f"[project]\nname = 'x'\n\n[tool.graphlint]\n{body}\n")


def test_found_by_walking_up_from_the_files(run, project):
    write_config(project, 'ignore = ["GL901"]')
    (project / "src" / "deep").mkdir()
    (project / "src" / "deep" / "t.py").write_text(SOURCE)
    assert _codes(run("src/deep/t.py", "--format", "json")[1]) == ["GL902", "GL903"]


def test_select_extend_select_and_ignore_layer_like_ruff(run, project):
    write_config(project, 'select = ["GL901"]\nextend-select = ["GL903"]')
    assert _codes(run("src", "--format", "json")[1]) == ["GL901", "GL903"]
    # the command line's --select starts afresh; its --ignore and --extend-select apply on top
    assert _codes(run("src", "--format", "json", "--select", "GL902")[1]) == ["GL902"]
    assert _codes(run("src", "--format", "json", "--ignore", "GL903")[1]) == ["GL901"]
    assert _codes(run("src", "--format", "json", "--extend-select", "fake-zero-grad")[1]) == ["GL901", "GL902", "GL903"]


def test_isolated_and_explicit_config(run, project, tmp_path):
    write_config(project, 'ignore = ["GL9"]')
    assert _codes(run("src", "--format", "json")[1]) == []
    assert _codes(run("src", "--format", "json", "--isolated")[1]) == ["GL901", "GL902", "GL903"]
    other = tmp_path / "other.toml"
    other.write_text('select = ["GL902"]\n')
    assert _codes(run("src", "--format", "json", "--config", str(other))[1]) == ["GL902"]


def test_per_file_ignores_and_severity_overrides(run, project):
    (project / "tests").mkdir()
    (project / "tests" / "test_x.py").write_text(SOURCE)
    write_config(project, '[tool.graphlint.per-file-ignores]\n"tests/*" = ["GL901"]\n'
                          '[tool.graphlint.severity]\nGL901 = "info"\nfake-zero-grad = "error"')
    doc = json.loads(run("src", "tests", "--format", "json")[1])
    got = [(f["path"], f["rule"], f["severity"]) for f in doc["findings"]]
    assert got == [("src/train.py", "GL901", "info"), ("src/train.py", "GL902", "error"), ("src/train.py", "GL903", "info"),
                   ("tests/test_x.py", "GL902", "error"), ("tests/test_x.py", "GL903", "info")]


def test_info_only_findings_exit_zero(run, project):
    write_config(project, '[tool.graphlint.severity]\nALL = "info"')
    assert run("src")[0] == 0


def test_exclude_skips_walked_files_and_named_ones_only_with_force_exclude(run, project):
    (project / "src" / "generated").mkdir()
    (project / "src" / "generated" / "g.py").write_text(SOURCE)
    write_config(project, 'extend-exclude = ["generated"]')
    doc = json.loads(run("src", "--format", "json")[1])
    assert {f["path"] for f in doc["findings"]} == {"src/train.py"}
    assert _codes(run("src/generated/g.py", "--format", "json")[1]) != []
    code, out, _ = run("src/generated/g.py", "--force-exclude")
    assert code == 0 and "0 files checked" in out


def test_extra_sinks_reach_the_engine(run, project):
    write_config(project, 'extra-sinks = ["mylib.Trainer.backward_step"]\nextra-steps = [".apply_updates"]')
    doc = json.loads(run("src", "--format", "json")[1])
    assert "sinks: mylib.Trainer.backward_step" in doc["findings"][0]["message"]


@pytest.mark.parametrize("body, needle", [
    ('selct = ["GL901"]', "[tool.graphlint] selct: unknown key"),
    ('select = "GL901"', "[tool.graphlint] select: must be a list of strings"),
    ('select = ["GL999"]', "[tool.graphlint] select: unknown rule selector 'GL999'"),
    ('ignore = ["XYZ"]', "[tool.graphlint] ignore: unknown rule selector 'XYZ'"),
    ('[tool.graphlint.per-file-ignores]\n"a.py" = ["GL77"]', "per-file-ignores.'a.py': unknown rule selector 'GL77'"),
    ('[tool.graphlint.severity]\nGL901 = "fatal"', "severity.GL901: must be one of error, warning, info"),
    ('select = [', "invalid TOML"),
    ('[tool.graphlint.knowledge]\ncuts = { detatch = [".x"] }', "[tool.graphlint] knowledge: unknown behaviour `cuts.detatch`"),
])
def test_malformed_config_exits_2_naming_the_key(run, project, body, needle):
    write_config(project, body)
    code, out, err = run("src")
    assert code == 2 and out == ""
    assert needle in err and "pyproject.toml" in err
    assert "Traceback" not in err


def test_unknown_selector_on_the_command_line(run, project):
    code, _, err = run("src", "--ignore", "GL7")
    assert code == 2 and "--ignore: unknown rule selector 'GL7'" in err


def test_preview_rules_run_only_when_selected_by_their_code(monkeypatch):
    import dataclasses

    from graphlint.config import Selection, enabled_rules
    from graphlint.rules import catalog

    code = "GL304"  # made a preview rule here, whether or not one ships as such
    monkeypatch.setattr(catalog, "RULES", tuple(dataclasses.replace(r, preview=True) if r.code == code else r
                                                for r in catalog.RULES))

    def codes(*layers):
        return {r.code for r in enabled_rules(list(layers))}

    assert code not in codes()
    assert code not in codes(Selection(select=("ALL",)))
    assert code not in codes(Selection(select=(code[:3],)))
    assert code in codes(Selection(select=(code,)))
    assert code in codes(Selection(extend_select=(code,)))
