"""--diff-base on a real temporary git repository, and the result cache."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from graphlint.cache import DIRNAME


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(root), "PATH": "/usr/bin:/bin"})


@pytest.fixture
def repo(tmp_path):
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "train.py").write_text("a = b.detach()\n\n\nopt.zero_grad()\n")
    (tmp_path / "untouched.py").write_text("a = b.detach()\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    return tmp_path


def test_diff_base_reports_only_added_or_changed_lines(run, repo):
    (repo / "train.py").write_text("a = b.detach()\nc = d.detach()\n\nopt.zero_grad()  # changed\n")
    (repo / "new.py").write_text("x = y.detach()\n")  # untracked: every line is new
    code, out, _ = run(".", "--diff-base", "HEAD", "--format", "json")
    doc = json.loads(out)
    assert code == 1
    assert [(f["path"], f["line"]) for f in doc["findings"]] == [("new.py", 1), ("train.py", 2), ("train.py", 4)]
    assert doc["summary"]["diff_base"] == {"rev": "HEAD", "outside_diff": 2}


def test_diff_base_from_a_subfolder_and_against_a_branch(run, repo, monkeypatch):
    git(repo, "checkout", "-q", "-b", "feature")
    (repo / "sub").mkdir()
    (repo / "sub" / "m.py").write_text("a = b.detach()\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "feature")
    monkeypatch.chdir(repo / "sub")
    from graphlint.cli import main
    assert main(["m.py", "../train.py", "--diff-base", "main", "--format", "concise"]) == 1


def test_diff_base_unknown_revision(run, repo):
    code, _, err = run(".", "--diff-base", "no-such-rev")
    assert code == 2 and "--diff-base: unknown revision 'no-such-rev'" in err


def test_diff_base_outside_a_repository(run, tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    (tmp_path / "a.py").write_text("x = 1\n")
    code, _, err = run("a.py", "--diff-base", "HEAD")
    assert code == 2 and err.startswith("graphlint: error: --diff-base:")


def _cache_entries(root):
    return sorted((root / DIRNAME).rglob("*.json"))


def test_cache_is_used_and_invalidated_by_content_options_and_imports(run, tmp_path):
    (tmp_path / "model.py").write_text("class Net:\n    pass\n")
    (tmp_path / "train.py").write_text("from model import Net\na = b.detach()\n")
    (tmp_path / "other.py").write_text("x = 1\n")
    assert run(".", "--format", "json")[0] == 1
    assert (tmp_path / DIRNAME / ".gitignore").read_text().splitlines()[-1] == "*"
    entries = _cache_entries(tmp_path)
    assert len(entries) == 3

    # a hit serves what is stored: plant a marker in train.py's entry and see it come back
    def plant():
        for e in _cache_entries(tmp_path):
            doc = json.loads(e.read_text())
            for f in doc["findings"]:
                f["message"] = "FROM CACHE"
            e.write_text(json.dumps(doc))

    plant()
    doc = json.loads(run(".", "--format", "json")[1])
    assert doc["findings"][0]["message"] == "FROM CACHE" and doc["summary"]["cache_hits"] == 3
    assert json.loads(run(".", "--format", "json", "--no-cache")[1])["findings"][0]["message"] != "FROM CACHE"

    # editing an imported module invalidates the importer (and itself), not unrelated files
    (tmp_path / "model.py").write_text("class Net:\n    x = 1\n")
    doc = json.loads(run(".", "--format", "json")[1])
    assert doc["findings"][0]["message"] != "FROM CACHE" and doc["summary"]["cache_hits"] == 1

    # different analysis options are a different key
    plant()
    (tmp_path / "pyproject.toml").write_text('[tool.graphlint]\nextra-sinks = ["x.y"]\n')
    assert json.loads(run(".", "--format", "json")[1])["summary"]["cache_hits"] == 0

    # selection is applied after the cache, so changing it reuses the entries
    assert json.loads(run(".", "--format", "json", "--ignore", "GL901")[1])["summary"]["cache_hits"] == 3


def test_cache_follows_imports_as_python_resolves_them(run, tmp_path):
    """Two projects with their own model.py: editing b's invalidates b's importer only; a package's
    relative import and its importer of the package are invalidated by the module they reach."""
    for project in ("a", "b"):
        (tmp_path / project).mkdir()
        (tmp_path / project / "model.py").write_text("class Net:\n    pass\n")
        (tmp_path / project / "train.py").write_text("from model import Net\na = b.detach()\n")
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    for init in ("pkg/__init__.py", "pkg/sub/__init__.py"):
        (tmp_path / init).write_text("")
    (tmp_path / "pkg" / "sub" / "model.py").write_text("class Net:\n    pass\n")
    (tmp_path / "pkg" / "sub" / "train.py").write_text("from .model import Net\n")
    (tmp_path / "uses_pkg.py").write_text("import pkg\n")
    assert run(".", "--format", "json")[0] == 1

    def hits():
        return json.loads(run(".", "--format", "json")[1])["summary"]["cache_hits"]

    assert hits() == 9
    (tmp_path / "b" / "model.py").write_text("class Net:\n    x = 1\n")
    assert hits() == 7  # b/model.py and b/train.py
    (tmp_path / "pkg" / "sub" / "model.py").write_text("class Net:\n    x = 1\n")
    assert hits() == 6  # pkg/sub/model.py, pkg/sub/train.py, uses_pkg.py


def test_cache_never_turns_an_error_into_a_pass(run, tmp_path):
    (tmp_path / "bad.py").write_text("def (:\n")
    (tmp_path / "bad.py").write_bytes(b"x = 1\x00\n")
    assert run("bad.py")[0] == 2
    assert run("bad.py")[0] == 2
    assert _cache_entries(tmp_path) == []


def test_damaged_cache_entry_is_a_miss(run, tmp_path):
    (tmp_path / "a.py").write_text("a = b.detach()\n")
    run("a.py")
    for e in _cache_entries(tmp_path):
        e.write_text("{not json")
    code, out, _ = run("a.py", "--format", "json")
    assert code == 1 and json.loads(out)["summary"]["cache_hits"] == 0


def test_repeated_run_on_an_unchanged_tree_is_served_from_the_cache(tmp_path):
    """Real engine, real process: the second run over a folder reads every file's result from the
    cache, without even loading the analyser (libcst), which is most of a short run's time."""
    for i in range(40):
        (tmp_path / f"m{i}.py").write_text(f"import torch\n\n\ndef f{i}(x):\n    return torch.relu(x) * {i}\n" * 5)

    def timed():
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "graphlint", ".", "--format", "json"],
                              cwd=tmp_path, capture_output=True, text=True)
        assert done.returncode in (0, 1), done.stdout + done.stderr
        imported = {line.rpartition("|")[2].strip().split(".")[0]
                    for line in done.stderr.splitlines() if line.startswith("import time:")}
        return time.perf_counter() - start, json.loads(done.stdout)["summary"]["cache_hits"], imported

    (cold, cold_hits, cold_imports), (warm, warm_hits, warm_imports) = timed(), timed()
    assert (cold_hits, warm_hits) == (0, 40)
    assert warm < cold, (cold, warm)
    assert "libcst" in cold_imports  # what the check below looks for is there to be seen
    assert "libcst" not in warm_imports
