"""Helpers for running graphlint the way a user does: a fresh interpreter on real files."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLI_TIMEOUT_S = 120


@dataclass
class CliRun:
    returncode: int
    stdout: str
    stderr: str

    @property
    def doc(self) -> dict:
        return json.loads(self.stdout)

    def error_for(self, path_suffix: str) -> dict | None:
        matches = [e for e in self.doc["errors"] if e["path"].replace(os.sep, "/").endswith(path_suffix)]
        assert len(matches) <= 1, f"more than one error entry for {path_suffix}: {matches}"
        return matches[0] if matches else None

    @property
    def files_checked(self) -> int:
        """The count from the text summary ('All clear: N files checked' / 'Found ... in N files')."""
        m = re.search(r"(?:All clear:| in) (\d+) files?\b", self.stdout + self.stderr)
        assert m, f"no 'N files checked' in the output:\n{self.stdout}\n{self.stderr}"
        return int(m.group(1))


def run_graphlint(*args: str, cwd: Path, env: dict | None = None, python_flags: tuple[str, ...] = ()) -> CliRun:
    """`python -m graphlint ARGS` in a subprocess, with the repository importable.

    No cache and no configuration files, so every run really analyses what it is given.
    """
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (full_env.get("PYTHONPATH"), str(REPO)) if p)
    command = [sys.executable, *python_flags, "-m", "graphlint", "--no-cache", "--isolated", *args]
    proc = subprocess.run(command, cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert "Traceback" not in proc.stderr, proc.stderr
    return CliRun(proc.returncode, proc.stdout, proc.stderr)


def rules_registered() -> bool:
    from graphlint.rules import all_rules

    return bool(all_rules())


# A small training script with a bug every static rule set should see: the features are cut
# from the graph before the loss, so the encoder never trains.
BUGGY_TRAINER = '''\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(8, 16)
        self.head = nn.Linear(16, 2)

    def forward(self, x):
        feats = self.encoder(x).detach()
        return self.head(feats)


def train(loader):
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    for x, y in loader:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
'''

CLEAN_MODULE = "def add(a, b):\n    return a + b\n"
