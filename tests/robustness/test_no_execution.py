"""The static pass reads files; it never imports torch, imports them or runs them.

A fake `torch` package earlier on PYTHONPATH than the real one leaves a marker file when
imported, and every checked file leaves one if its top level ever runs. After the CLI has
analysed them (in-process and through the worker pool) there must be no marker.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from robustness.helpers import BUGGY_TRAINER, REPO, rules_registered, run_graphlint

LEAVES_MARKER = "import os as _os\nopen(_os.path.join({markers!r}, {name!r}), 'w').close()\n"


@pytest.fixture
def trap(tmp_path) -> tuple[Path, Path, dict]:
    """(folder with trapped training code, markers folder, environment with the fake torch first)."""
    markers = tmp_path / "markers"
    markers.mkdir()
    fake_torch = tmp_path / "fake_site" / "torch"
    fake_torch.mkdir(parents=True)
    (fake_torch / "__init__.py").write_text(LEAVES_MARKER.format(markers=str(markers), name="torch-imported"))
    (fake_torch / "nn.py").write_text(LEAVES_MARKER.format(markers=str(markers), name="torch.nn-imported"))

    code = tmp_path / "project"
    code.mkdir()
    (code / "model.py").write_text(LEAVES_MARKER.format(markers=str(markers), name="model-ran") + "\nNet = object\n")
    (code / "train.py").write_text(
        LEAVES_MARKER.format(markers=str(markers), name="train-ran")
        + "from model import Net\n"
        + BUGGY_TRAINER.replace("import torch\n", "import torch\nimport torch.nn\n", 1)
        + "\nif __name__ == '__main__':\n    train([])\n"
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "fake_site"))
    return code, markers, env


def test_the_trap_works(trap):
    """The markers do appear when the code really is imported, so their absence below means something."""
    code, markers, env = trap
    subprocess.run([sys.executable, "-c", "import torch, model"], cwd=code, env=env, check=True)
    assert {p.name for p in markers.iterdir()} == {"torch-imported", "model-ran"}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_static_pass_imports_no_torch_and_runs_no_checked_file(trap, workers):
    code, markers, env = trap
    if workers != "1":  # enough files to cross the pool threshold
        for i in range(12):
            (code / f"copy_{i}.py").write_text((code / "train.py").read_text())
    run = run_graphlint("--format", "json", "-j", workers, ".", cwd=code, env=env)

    assert list(markers.iterdir()) == []
    assert run.doc["errors"] == []
    if rules_registered():
        assert run.doc["findings"], "the trapped files contain a real bug; they must have been analysed"


def test_torch_not_in_sys_modules_after_a_run(trap):
    """In-process: after cli.main() returns, neither torch nor a checked module was imported."""
    code, markers, env = trap
    probe = (
        "import sys\n"
        "from graphlint.cli import main\n"
        "main(['--no-cache', '--isolated', '--format', 'json', '-j', '1', '.'])\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'model', 'train'))\n"
        "print('LEAKED', leaked, file=sys.stderr)\n"
    )
    env = dict(env, PYTHONPATH=os.pathsep.join((env["PYTHONPATH"], str(REPO))))
    proc = subprocess.run([sys.executable, "-c", probe], cwd=code, env=env, capture_output=True, text=True, timeout=120)
    assert "LEAKED []" in proc.stderr, proc.stderr
    assert list(markers.iterdir()) == []
