"""Bad input never crashes the CLI or costs the other files their results.

Each bad file must give exactly one error naming it (text: one line; JSON: one `errors`
entry), the run exits 2, no traceback, and the good files beside it are still analysed.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from robustness.helpers import BUGGY_TRAINER, CLEAN_MODULE, rules_registered, run_graphlint


def nested_parens(depth: int) -> str:
    return "x = " + "(" * depth + "1" + ")" * depth + "\n"


def nested_blocks(depth: int) -> str:
    return "".join(" " * i + "if x:\n" for i in range(depth)) + " " * depth + "pass\n"


def long_sum(terms: int) -> str:
    return "a = 1\nx = " + " + ".join(["a"] * terms) + "\n"


# name -> file bytes. Every one of these must be refused with an error, quickly.
BAD_FILES: dict[str, bytes] = {
    "syntax_error.py": b"def train(:\n    pass\n",
    "undecodable.py": b"x = 1\n# -*- not a coding line -*-\ny = 'caf\xc3'\n" + b"z = '\xff\xfe\xfd'\n",
    "binary.py": b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00" + bytes(range(256)),
    "latin1_no_coding.py": "print('température: 20°C, naïve café')\n".encode("latin-1"),
    "deep_parens.py": nested_parens(3000).encode(),
    "deep_brackets.py": ("x = " + "[" * 3000 + "]" * 3000 + "\n").encode(),
    "deep_indent.py": nested_blocks(3000).encode(),
    "deep_indent_tabs.py": "".join("\t" * i + "while x:\n" for i in range(3000)).encode() + b"\t" * 3000 + b"pass\n",
    "long_expression.py": long_sum(20_000).encode(),
    "long_subscript_chain.py": ("x = a" + "[0]" * 3000 + "\n").encode(),  # CPython: too deep to compile
}

# Files that are unusual but valid: they must be analysed without an error.
ODD_GOOD_FILES: dict[str, bytes] = {
    "empty.py": b"",
    "only_comment.py": b"# nothing here",
    "latin1_with_coding.py": "# -*- coding: latin-1 -*-\nx = 'café'\n".encode("latin-1"),
    "utf8_bom.py": b"\xef\xbb\xbfx = 'caf\xc3\xa9'\n",
    "crlf.py": b"def f():\r\n    return 1\r\n",
    "no_final_newline.py": b"def f():\n    return 1",
    "nested_150.py": nested_parens(150).encode(),
    "sum_1500_terms.py": long_sum(1500).encode(),
    # Chains CPython compiles but libcst parses in time that grows faster than their square.
    "sum_2500_terms.py": long_sum(2500).encode(),
    "list_of_2500_sums.py": ("x = [" + ", ".join(["a + 1"] * 2500) + "]\n").encode(),
    "dict_of_2500_entries.py": ("x = {" + ", ".join(f"'k{i}': {i} * a" for i in range(2500)) + "}\n").encode(),
    "subscript_chain_2500.py": ("x = a" + "[0]" * 2500 + "\n").encode(),
    "nested_calls_199.py": ("x = " + "f(" * 199 + "a" + ")" * 199 + "\n").encode(),
    "concatenated_20000_strings.py": ("x = (" + " ".join(["'a'"] * 20_000) + ")\n").encode(),
}


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mixed")
    for name, data in {**BAD_FILES, **ODD_GOOD_FILES}.items():
        (root / name).write_bytes(data)
    (root / "buggy_trainer.py").write_text(BUGGY_TRAINER)
    (root / "clean.py").write_text(CLEAN_MODULE)
    return root


@pytest.fixture(scope="module")
def json_run(mixed_folder):
    return run_graphlint("--format", "json", ".", cwd=mixed_folder)


@pytest.fixture(scope="module")
def text_run(mixed_folder):
    return run_graphlint(".", cwd=mixed_folder)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_gives_one_json_error(json_run, name):
    assert json_run.returncode == 2
    err = json_run.error_for(name)
    assert err is not None, f"no error entry for {name}: {json_run.doc['errors']}"
    assert err["message"] and "\n" not in err["message"]
    assert "internal error" not in err["message"], err["message"]


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_file_gives_one_text_line(text_run, name):
    assert text_run.returncode == 2
    lines = [ln for ln in (text_run.stdout + text_run.stderr).splitlines() if name in ln]
    assert len(lines) == 1, lines


@pytest.mark.parametrize("name", sorted(ODD_GOOD_FILES))
def test_unusual_valid_file_is_analysed(json_run, name):
    assert json_run.error_for(name) is None


def test_every_file_is_counted(text_run):
    assert text_run.files_checked == len(BAD_FILES) + len(ODD_GOOD_FILES) + 2


def test_only_bad_files_have_errors(json_run):
    assert len(json_run.doc["errors"]) == len(BAD_FILES)


def test_good_file_beside_bad_ones_is_still_reported(json_run):
    if not rules_registered():
        pytest.skip("no rules registered yet")
    assert any(f["path"].endswith("buggy_trainer.py") for f in json_run.doc["findings"]), json_run.doc


def test_syntax_error_names_the_line(json_run):
    assert "1" in json_run.error_for("syntax_error.py")["message"]


def test_missing_path_is_an_error_and_others_still_run(tmp_path):
    (tmp_path / "clean.py").write_text(CLEAN_MODULE)
    run = run_graphlint("--format", "json", "clean.py", "no_such_file.py", cwd=tmp_path)
    assert run.returncode == 2
    assert run.error_for("no_such_file.py") is not None
    assert run.error_for("clean.py") is None


def test_clean_file_alone_exits_zero(tmp_path):
    (tmp_path / "clean.py").write_text(CLEAN_MODULE)
    run = run_graphlint("--format", "json", "clean.py", cwd=tmp_path)
    assert (run.returncode, run.doc["findings"], run.doc["errors"]) == (0, [], [])


def test_process_pool_keeps_bad_and_good_apart(tmp_path):
    """Over the pool threshold the runner fans out to worker processes; results must not mix."""
    bad = ["binary.py", "deep_parens.py", "syntax_error.py", "long_expression.py"]
    for name in bad:
        (tmp_path / name).write_bytes(BAD_FILES[name])
    for i in range(10):
        (tmp_path / f"clean_{i}.py").write_text(CLEAN_MODULE)
    (tmp_path / "buggy_trainer.py").write_text(BUGGY_TRAINER)
    total = len(bad) + 11

    run = run_graphlint("--format", "json", "-j", "2", ".", cwd=tmp_path)
    assert run.returncode == 2
    assert sorted(Path(e["path"]).name for e in run.doc["errors"]) == sorted(bad)
    if rules_registered():
        assert {Path(f["path"]).name for f in run.doc["findings"]} == {"buggy_trainer.py"}
    assert run_graphlint("-j", "2", ".", cwd=tmp_path).files_checked == total


def test_folder_discovery_skips_environments_and_build_output(tmp_path):
    (tmp_path / "train.py").write_text(CLEAN_MODULE)
    for skipped in (".venv/lib", "venv", "build/lib", "dist", ".hidden", "node_modules/x", "__pycache__",
                    "site-packages/pkg", ".tox/py311", ".git/hooks"):
        folder = tmp_path / skipped
        folder.mkdir(parents=True)
        (folder / "broken.py").write_bytes(BAD_FILES["syntax_error.py"])
        (folder / "buggy.py").write_text(BUGGY_TRAINER)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "model.py").write_text(CLEAN_MODULE)
    (tmp_path / "pkg" / "notes.txt").write_text("def (:")

    run = run_graphlint("--format", "json", ".", cwd=tmp_path)
    assert (run.returncode, run.doc["errors"], run.doc["findings"]) == (0, [], [])
    assert run_graphlint(".", cwd=tmp_path).files_checked == 2


def test_file_named_explicitly_is_checked_even_in_a_skipped_folder(tmp_path):
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "broken.py").write_bytes(BAD_FILES["syntax_error.py"])
    run = run_graphlint("--format", "json", ".venv/broken.py", cwd=tmp_path)
    assert run.returncode == 2 and run.error_for("broken.py") is not None
