"""The pre-commit hook, installed the way users install it: pre-commit builds its own environment from the repository.

pre-commit needs a revision to install from, so the working tree (committed or not) is copied
into a throw-away repository and committed there. The hook environment is built once for the
module (pip, with this machine's pip configuration) and then reused, as it is on a developer's machine.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integrations.conftest import REPO

PRE_COMMIT = [sys.executable, "-m", "pre_commit"]
BAD = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(8, 16)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        feats = self.encoder(x).detach()
        return self.head(feats)


def train(data):
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in data:
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
"""
GOOD = BAD.replace(".detach()", "")

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git"),
    # pyproject.toml force-includes rules/ into the wheel; with no page there, the hook cannot be built
    pytest.mark.skipif(not list((REPO / "rules").glob("*.md")), reason="rules/ has no rule pages yet"),
]


def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT", "VIRTUAL_ENV"))}
    env.update(PRE_COMMIT_HOME=str(home / "pre-commit-home"), HOME=str(home), GIT_AUTHOR_NAME="t",
               GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t", NO_COLOR="1")
    return env


def _sh(args, cwd, env, check=True):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory):
    """A committed copy of the working tree, so pre-commit has a revision to install."""
    home = tmp_path_factory.mktemp("precommit")
    env = _env(home)
    listed = _sh(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], REPO, env).stdout
    copy = home / "graphlint-repo"
    for name in filter(None, listed.split("\0")):
        src = REPO / name
        if src.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy / name)
    _sh(["git", "init", "-q", "-b", "main"], copy, env)
    _sh(["git", "add", "-A"], copy, env)
    _sh(["git", "commit", "-q", "-m", "snapshot"], copy, env)
    rev = _sh(["git", "rev-parse", "HEAD"], copy, env).stdout.strip()
    return home, env, copy, rev


@pytest.fixture
def user_repo(hook_repo, tmp_path):
    home, env, copy, rev = hook_repo
    _sh(["git", "init", "-q", "-b", "main"], tmp_path, env)
    (tmp_path / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {copy}\n    rev: {rev}\n    hooks:\n      - id: graphlint\n")
    return tmp_path, env, copy, rev


def test_try_repo_blocks_a_cut_and_passes_correct_code(user_repo):
    root, env, copy, rev = user_repo
    (root / "train.py").write_text(BAD)
    _sh(["git", "add", "train.py"], root, env)
    blocked = _sh(PRE_COMMIT + ["try-repo", str(copy), "graphlint", "--ref", rev], root, env, check=False)
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert "graphlint" in blocked.stdout and "Failed" in blocked.stdout
    assert "train.py:12:" in blocked.stdout

    (root / "train.py").write_text(GOOD)
    _sh(["git", "add", "train.py"], root, env)
    passed = _sh(PRE_COMMIT + ["try-repo", str(copy), "graphlint", "--ref", rev], root, env, check=False)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout


def test_installed_hook_blocks_the_commit_and_installs_no_torch(user_repo):
    root, env, copy, rev = user_repo
    _sh(PRE_COMMIT + ["install"], root, env)
    (root / "pyproject.toml").write_text('[tool.graphlint]\nextend-exclude = ["vendored"]\n')
    (root / "vendored").mkdir()
    (root / "vendored" / "lib.py").write_text(BAD)  # excluded by config, though pre-commit names it
    (root / "train.py").write_text(BAD)
    _sh(["git", "add", "."], root, env)
    blocked = _sh(["git", "commit", "-m", "cut"], root, env, check=False)
    assert blocked.returncode != 0 and "train.py:12:" in blocked.stdout + blocked.stderr
    assert "vendored/lib.py" not in blocked.stdout + blocked.stderr

    (root / "train.py").write_text(GOOD)
    _sh(["git", "add", "."], root, env)
    start = time.perf_counter()
    _sh(["git", "commit", "-q", "-m", "fine"], root, env)
    print(f"warm hook commit: {time.perf_counter() - start:.2f}s")

    envs = list((Path(env["PRE_COMMIT_HOME"])).glob("repo*/py_env-*"))
    assert envs, "pre-commit built no environment"
    assert not list(envs[0].glob("lib/python*/site-packages/torch")), "torch was installed into the hook env"
