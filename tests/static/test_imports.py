"""Imports lead where Python would take them from the importing file, never into another project's file.

Runs the CLI on real trees: two projects that both have `model.py` and `utils.py`, checked in one run.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from graphlint.engine import ProjectIndex
from graphlint.files import discover

NET = '''
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(16, 16)
        self.head = nn.Linear(16, 1)

    def forward(self, x):
        return self.head(self.backbone(x){cut})
'''

TRAIN = '''
import torch
import torch.nn.functional as F
from {module} import Net


def main():
    net = Net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(10):
        loss = F.mse_loss(net(torch.randn(8, 16)), torch.randn(8, 1))
        opt.zero_grad()
        loss.backward()
        opt.step()
'''


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def findings(*paths: str, cwd: Path) -> set[tuple[str, str]]:
    done = subprocess.run([sys.executable, "-m", "graphlint", "--no-cache", "--isolated", "--format", "json", *paths],
                          cwd=cwd, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return {(f["rule"], f["path"]) for f in json.loads(done.stdout)["findings"]}


def test_each_script_imports_its_own_projects_model(tmp_path):
    """Both projects have model.py; only b's cuts the backbone. Whichever project comes first in the
    run, b's script is followed into b/model.py and a's script into a/model.py."""
    write(tmp_path / "a" / "model.py", NET.format(cut=""))
    write(tmp_path / "a" / "train.py", TRAIN.format(module="model"))
    write(tmp_path / "b" / "model.py", NET.format(cut=".detach()"))
    write(tmp_path / "b" / "train.py", TRAIN.format(module="model"))
    expected = {("GL101", "b/model.py")}
    assert findings("a", "b", cwd=tmp_path) == expected
    assert findings("b", "a", cwd=tmp_path) == expected


def test_a_module_beside_the_script_shadows_a_same_named_run_file_elsewhere(tmp_path):
    """c/train.py imports c/utils.py, which is not among the paths given: Python would load it,
    so d/utils.py (in the run, with a cut) must not stand in for it."""
    write(tmp_path / "c" / "utils.py", NET.format(cut=""))
    write(tmp_path / "c" / "train.py", TRAIN.format(module="utils"))
    write(tmp_path / "d" / "utils.py", NET.format(cut=".detach()"))
    assert findings("c/train.py", "d/utils.py", cwd=tmp_path) == set()


def test_absolute_import_from_the_package_root_and_relative_import(tmp_path):
    """proj/pkg/scripts/train.py imports `pkg.nets.model` (found above the package) and
    proj/pkg/scripts/tune.py imports `..nets.model` (against its package)."""
    for folder in ("pkg", "pkg/nets", "pkg/scripts"):
        write(tmp_path / "proj" / folder / "__init__.py", "")
    write(tmp_path / "proj" / "pkg" / "nets" / "model.py", NET.format(cut=".detach()"))
    write(tmp_path / "proj" / "pkg" / "scripts" / "train.py", TRAIN.format(module="pkg.nets.model"))
    write(tmp_path / "other" / "pkg" / "nets" / "model.py", NET.format(cut=""))
    assert findings("other", "proj/pkg/scripts/train.py", "proj/pkg/nets/model.py", cwd=tmp_path) == {
        ("GL101", "proj/pkg/nets/model.py")}
    (tmp_path / "proj" / "pkg" / "scripts" / "train.py").unlink()
    write(tmp_path / "proj" / "pkg" / "scripts" / "tune.py", TRAIN.format(module="..nets.model"))
    assert findings("other", "proj/pkg", cwd=tmp_path) == {("GL101", "proj/pkg/nets/model.py")}


def test_where_each_import_leads(tmp_path):
    for folder in ("pkg", "pkg/sub"):
        write(tmp_path / folder / "__init__.py", "")
    for name in ("pkg/sub/train.py", "pkg/sub/utils.py", "pkg/model.py", "x/model.py", "x/run.py"):
        write(tmp_path / name, "")
    files, _ = discover([str(tmp_path)])
    index = ProjectIndex.from_files(files)
    train, run = str(tmp_path / "pkg/sub/train.py"), str(tmp_path / "x/run.py")
    assert index.path_of("utils", train) == str(tmp_path / "pkg/sub/utils.py")  # the script's own folder
    assert index.path_of("pkg.model", train) == str(tmp_path / "pkg/model.py")  # above its package
    assert index.path_of("pkg", train) == str(tmp_path / "pkg/__init__.py")
    assert index.path_of("model", train) is None  # pkg/model.py is not on sys.path as `model`
    assert index.path_of("model", run) == str(tmp_path / "x/model.py")
    assert index.path_of("utils", run) is None
    assert index.name_of(train) == "pkg.sub.train" and index.name_of(run) == "run"
    assert sorted(index.files_under("pkg", train)) == sorted(
        str(tmp_path / p) for p in ("pkg/__init__.py", "pkg/model.py", "pkg/sub/__init__.py",
                                    "pkg/sub/train.py", "pkg/sub/utils.py"))


def test_a_module_is_parsed_once_and_shared_by_its_importers(tmp_path):
    write(tmp_path / "model.py", NET.format(cut=""))
    for script in ("a.py", "b.py"):
        write(tmp_path / script, TRAIN.format(module="model"))
    files, _ = discover([str(tmp_path)])
    index = ProjectIndex.from_files(files)
    model = index.load("model", str(tmp_path / "a.py"))
    assert model is not None and model.classes.keys() == {"Net"}
    assert index.load("model", str(tmp_path / "b.py")) is model
    assert index.module(str(tmp_path / "model.py"), (tmp_path / "model.py").read_text()) is model


def test_workers_get_batches_of_neighbouring_files(tmp_path):
    from graphlint.runner import batches

    for project in ("p", "q"):
        for name in ("model.py", "train.py", "utils.py"):
            write(tmp_path / project / name, "x = 1\n" * 50)
    files, _ = discover([str(tmp_path / "q"), str(tmp_path / "p")])
    grouped = [sorted({files[i].path.parent.name for i in batch}) for batch in batches(files, 2)]
    assert sorted(grouped) == [["p"], ["q"]]
