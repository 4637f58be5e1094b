"""The constant evaluator: values a file decides elsewhere (defaults, fallbacks, config fields), and silence
where it does not show them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import libcst as cst
import pytest

from graphlint.engine import AnalysisOptions, ProjectIndex
from graphlint.engine.analyze import Analysis
from graphlint.engine.constants import EnumMember
from graphlint.engine.module import ModuleAnalysis


def probe(source: str):
    """The constant value of the expression assigned to `probe` (the last one), and the line it was decided on."""
    module = ModuleAnalysis(source, "probe.py")
    analysis = Analysis(module, AnalysisOptions(), ProjectIndex())
    value = [a.value for a in module.all(cst.Assign)
             if isinstance(a.targets[0].target, cst.Name) and a.targets[0].target.value == "probe"][-1]
    known = analysis.constants.at(value, module)
    return (known.value, module.line(known.origin)) if known is not None else None


ARGPARSE = """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--warmup-epochs", type=int, default=5)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--no-freeze", action="store_true")
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--seed", dest="random_seed", default=7)
args = parser.parse_args()
"""

CONFIG = """
from dataclasses import dataclass
from enum import Enum

class Mode(Enum):
    JOINT = "joint"
    SINGLE = "single"

class Kind(str, Enum):
    A = "a"

@dataclass
class Config:
    aux_weight: float = 0.0
    accum: int = 4
    mode: Mode = Mode.JOINT
    kind: Kind = Kind.A

cfg = Config()
tuned = Config(aux_weight=0.5)
SETTINGS = {"optim": {"backbone_lr": 1e-4, "head_lr": 1e-3}, "warmup": 2}
"""

KNOWN = [
    (ARGPARSE + "probe = args.warmup_epochs", (5, 4)),
    (ARGPARSE + "probe = args.warmup_epochs >= args.epochs", (True, 4)),
    (ARGPARSE + "probe = not args.no_freeze", (True, 6)),
    (ARGPARSE + "probe = args.random_seed", (7, 8)),
    (ARGPARSE + "probe = max(1, args.epochs // 4)", (1, 10)),  # decided by the division that rounds down
    (CONFIG + "probe = cfg.aux_weight", (0.0, 14)),
    (CONFIG + "probe = cfg.aux_weight > 0", (False, 14)),
    (CONFIG + "probe = 0.1 * cfg.accum ** 2", (1.6, 15)),
    (CONFIG + "probe = cfg.mode == 'joint'", (False, 16)),
    (CONFIG + "probe = cfg.mode == Mode.JOINT", (True, 16)),
    (CONFIG + "probe = cfg.kind == 'a'", (True, 17)),
    (CONFIG + "probe = SETTINGS['optim'].get('lr_backbone', 0.0)", (0.0, 22)),
    (CONFIG + "probe = SETTINGS['optim'].get('backbone_lr', 0.0)", (1e-4, 21)),
    (CONFIG + "probe = SETTINGS['warmup']", (2, 21)),
    ("base = 0.1\nscale = 0.5\nprobe = min(base, scale)", (0.1, 1)),
    ("def build(lr):\n    probe = lr\nbuild(0.0)\nbuild(0.0)\n", (0.0, 3)),
]

UNKNOWN = [
    # a base class of another file may set the field (`super().__init__(lr=lr)` in an explainer base)
    "from explainers import Explainer\nclass Flow(Explainer):\n    def __init__(self, lr):\n"
    "        super().__init__(lr=lr)\n        if self.no_mask:\n            self.lr = 0\n\n"
    "    def fit(self):\n        probe = self.lr",
    ARGPARSE + "probe = args.lr",  # required: the command line always decides it
    ARGPARSE + "args.epochs = 10\nprobe = args.epochs",  # written after parsing
    ARGPARSE.replace("parse_args()", "parse_args(['--epochs', '9'])") + "probe = args.epochs",
    CONFIG + "probe = tuned.aux_weight",  # set by the constructor
    CONFIG + "cfg.__dict__.update(overrides)\nprobe = cfg.aux_weight",
    ARGPARSE + "parser.set_defaults(epochs=9)\nprobe = args.epochs",
    CONFIG.replace("class Config:", "class Config(BaseSettings):") + "probe = cfg.accum",  # read from the environment
    CONFIG + "probe = SETTINGS['optim'].get('lr_backbone', 0.0)\nSETTINGS['optim'].update(lr_backbone=1.0)",
    CONFIG + "SETTINGS['optim']['lr_backbone'] = 1.0\nprobe = SETTINGS['optim'].get('lr_backbone', 0.0)",
    "import os\nprobe = os.environ.get('LR', 0.0)",
    "lr = 0.1\nif flag:\n    lr = 0.0\nprobe = lr",
    "for lr in (0.0, 0.1):\n    pass\nprobe = lr",
    "lr = 0.1\nlr *= 0\nprobe = lr",
    "def build(lr):\n    probe = lr\nbuild(0.0)\nbuild(0.1)\n",
    "def build(lr=0.0):\n    probe = lr\nbuild(*values)\n",
    "import yaml\ncfg = yaml.safe_load(open('c.yaml'))\nprobe = cfg.get('lr', 0.0)",
]


@pytest.mark.parametrize("source, expected", KNOWN, ids=[s.splitlines()[-1] for s, _ in KNOWN])
def test_known_value_and_where_it_was_decided(source, expected):
    assert probe(source) == expected


@pytest.mark.parametrize("source", UNKNOWN, ids=[s.splitlines()[-1] for s in UNKNOWN])
def test_unknown_where_the_file_does_not_decide(source):
    assert probe(source) is None


def test_plain_enum_member_is_not_its_value():
    member = EnumMember("Mode", "JOINT", "joint", mixed_in=False)
    assert member.equals("joint") is False and member.equals(member) is True


# -- end to end: a rule decides on a value set elsewhere, and names that place --------------------------------------

TRAIN = '''
for _ in range(settings_steps):
    loss = model(torch.randn(4, 8), torch.randint(0, 2, (4,)))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
'''

MODEL = '''
import argparse
from enum import Enum

import torch
import torch.nn as nn
import torch.nn.functional as F


class Objective(Enum):
    JOINT = "joint"
    MAIN = "main"


class Net(nn.Module):
    def __init__(self, objective, depth_weight):
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.head = nn.Linear(8, 2)
        self.depth = nn.Linear(8, 2)
        self.objective = objective
        self.depth_weight = depth_weight

    def forward(self, x, y):
        h = self.body(x)
        loss = F.cross_entropy(self.head(h), y)
        if self.objective == {compared} and self.depth_weight >= 0.1:
            loss = loss + self.depth_weight * F.cross_entropy(self.depth(h), y)
        return loss
'''

# (name, script with a bug, its correct twin, the rule, the line where the value is decided)
END_TO_END = [
    ("optimizer group lr from a dict.get fallback",
     MODEL.format(compared="Objective.JOINT") + '''
SETTINGS = {"optim": {"lr": 0.1, "body_lr": 0.01}}
settings_steps = 3
model = Net(Objective.JOINT, 0.5)
optim_cfg = SETTINGS["optim"]
optimizer = torch.optim.SGD([{"params": model.body.parameters(), "lr": optim_cfg.get("lr_body", 0.0) * 10},
                             {"params": [*model.head.parameters(), *model.depth.parameters()]}], lr=optim_cfg["lr"])
''' + TRAIN, ("lr_body", "body_lr"), "GL601", 35),
    ("optimizer lr from an argparse default scaled by floor division",
     MODEL.format(compared="Objective.JOINT") + '''
parser = argparse.ArgumentParser()
parser.add_argument("--base-lr", type=float, default=0.1)
parser.add_argument("--batch-size", type=int, default=32)
args = parser.parse_args()
settings_steps = 3
model = Net(Objective.JOINT, 0.5)
optimizer = torch.optim.SGD(model.parameters(), lr=args.base_lr * (args.batch_size // 256))
''' + TRAIN, ("args.batch_size // 256", "args.batch_size / 256"), "GL601", 37),
    ("layer behind a plain enum compared with its string value",
     MODEL.format(compared='"joint"') + '''
settings_steps = 3
model = Net(Objective.JOINT, 0.5)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
''' + TRAIN, ('Net(Objective.JOINT, 0.5)', 'Net("joint", 0.5)'), "GL303", 32),
    ("layer behind a weight whose command-line default is below the threshold",
     MODEL.format(compared="Objective.JOINT") + '''
parser = argparse.ArgumentParser()
parser.add_argument("--depth-weight", type=float, default=0.05)
args = parser.parse_args()
settings_steps = 3
model = Net(Objective.JOINT, args.depth_weight)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
''' + TRAIN, ("default=0.05", "default=0.5"), "GL303", 32),
]

END_TO_END.append((
    "optimizer step gated on an epoch the run never reaches",
    MODEL.format(compared="Objective.JOINT") + '''
def get_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--frozen-epochs", type=int, default=4)
    return parser.parse_args()


args = get_args()
model = Net(Objective.JOINT, 0.5)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(args.epochs):
    for _ in range(2):
        loss = model(torch.randn(4, 8), torch.randint(0, 2, (4,)))
        optimizer.zero_grad()
        loss.backward()
        if epoch >= args.frozen_epochs:
            optimizer.step()
''', ("default=4", "default=1"), "GL205", 34))


def test_a_condition_over_a_known_range_is_decided_on_every_iteration():
    source = ARGPARSE + "for epoch in range(args.epochs):\n    probe = epoch + 1 >= args.warmup_epochs\n"
    module = ModuleAnalysis(source, "probe.py")
    analysis = Analysis(module, AnalysisOptions(), ProjectIndex())
    test = next(a.value for a in module.all(cst.Assign) if module.code(a.targets[0].target) == "probe")
    values, bounds = analysis.constants.over_loop(test, module)
    assert [v.value for v in values] == [False, False, False] and [b.value for b in bounds] == [3]
    reassigned = source + "    epoch = 9\n"
    module = ModuleAnalysis(reassigned, "probe.py")
    test = next(a.value for a in module.all(cst.Assign) if module.code(a.targets[0].target) == "probe")
    assert Analysis(module, AnalysisOptions(), ProjectIndex()).constants.over_loop(test, module) is None


def run_graphlint(tmp_path: Path, scripts: dict[str, str]) -> dict[str, list[dict]]:
    for name, text in scripts.items():
        (tmp_path / name).write_text(text)
    result = subprocess.run([sys.executable, "-m", "graphlint", "--format", "json", "--no-cache", str(tmp_path)],
                            capture_output=True, text=True, check=False)
    report = json.loads(result.stdout)
    found: dict[str, list[dict]] = {name: [] for name in scripts}
    for finding in report["findings"]:
        found[Path(finding["path"]).name].append(finding)
    return found


def test_rules_decide_on_values_set_elsewhere_and_name_the_place(tmp_path):
    scripts = {}
    for i, (_, buggy, (bug, fix), _, _) in enumerate(END_TO_END):
        assert bug in buggy
        scripts[f"case{i}_bug.py"], scripts[f"case{i}_fixed.py"] = buggy, buggy.replace(bug, fix)
    found = run_graphlint(tmp_path, scripts)
    for i, (name, _, _, rule, decided_line) in enumerate(END_TO_END):
        assert found[f"case{i}_fixed.py"] == [], name
        bug = found[f"case{i}_bug.py"]
        assert [f["rule"] for f in bug] == [rule], name
        assert decided_line in [r["line"] for r in bug[0].get("related", [])], name
