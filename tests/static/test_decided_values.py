"""Faults decided by a value the file shows away from the line that looks wrong: a clip bound, a freeze, a loss
term's branch. Each case is a small training script with its fix; the bug is reported once, by the expected rule,
naming the line where the value was decided, and the fixed script is silent."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import libcst as cst

import pytest

from graphlint.engine import AnalysisOptions, ProjectIndex, analyze_source
from graphlint.engine.analyze import Analysis
from graphlint.engine.module import ModuleAnalysis

HEADER = '''import argparse
from dataclasses import dataclass
from enum import Enum
from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F
'''

NET = '''

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(8, 8)
        self.blocks = nn.ModuleList(nn.Linear(8, 8) for _ in range(3))
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        h = self.encoder(x)
        for blk in self.blocks:
            h = h + blk(h)
        return self.head(h)
'''

TWO_HEADS = '''

class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.main_head = nn.Linear(8, 2)
        self.side_head = nn.Linear(8, 2)

    def forward(self, x):
        h = torch.relu(self.body(x))
        return self.main_head(h), self.side_head(h)
'''

LOOP = '''
for step in range(4):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
'''

# (name, script with the bug, (text of the bug, text of the fix), rule, the line the value is decided on: a marker)
CASES = [
    # -- a clip bound that the file's values make 0 ------------------------------------------------------------------
    ("clip bound: argparse defaults floor-divided", HEADER + NET + '''
parser = argparse.ArgumentParser()
parser.add_argument("--grad-clip", type=float, default=0.5)
parser.add_argument("--accumulate", type=int, default=2)
opts = parser.parse_args()
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
bound = opts.grad_clip // opts.accumulate  # DECIDED: the division that rounds down
for step in range(4):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    F.cross_entropy(model(x), y).backward()
    if (step + 1) % opts.accumulate == 0:
        nn.utils.clip_grad_norm_(model.parameters(), bound)
        optimizer.step()
        optimizer.zero_grad()
''', ("opts.grad_clip // opts.accumulate", "opts.grad_clip / opts.accumulate"), "GL202"),
    ("clip bound: a dataclass default handed to a helper", HEADER + NET + '''

@dataclass
class Cfg:
    clip_value: float = 0.0  # DECIDED
    lr: float = 0.1


def update(model, optimizer, loss, clip):
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_value_(model.parameters(), clip_value=clip)
    optimizer.step()


cfg = Cfg()
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
for step in range(4):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    update(model, optimizer, F.cross_entropy(model(x), y), cfg.clip_value)
''', ("clip_value: float = 0.0", "clip_value: float = 1.0"), "GL202"),
    ("clip bound: a dict entry divided by the world size", HEADER + NET + '''
TRAIN = {"max_norm": 1, "world_size": 8}
model = Net()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
for step in range(4):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=TRAIN["max_norm"] // TRAIN["world_size"])  # DECIDED
    optimizer.step()
''', ('TRAIN["max_norm"] // TRAIN["world_size"]', 'TRAIN["max_norm"] / TRAIN["world_size"]'), "GL202"),

    # -- layers frozen on the decided run -------------------------------------------------------------------------
    ("frozen: last-N slice with a dataclass default 0", HEADER + NET + '''

@dataclass
class FinetuneConfig:
    keep_trainable: int = 0  # DECIDED
    lr: float = 0.01


def freeze(layers, keep):
    cut = len(layers) - keep
    for layer in layers[:cut]:
        layer.requires_grad_(False)


cfg = FinetuneConfig()
model = Net()
freeze(model.blocks, cfg.keep_trainable)
optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
''' + LOOP, ("keep_trainable: int = 0", "keep_trainable: int = 2"), "GL702"),
    ("frozen: last-N slice through parameters(), argparse default 0", HEADER + NET + '''
parser = argparse.ArgumentParser()
parser.add_argument("--unfrozen", type=int, default=0)  # DECIDED
args = parser.parse_args()
model = Net()
for blk in model.blocks[:len(model.blocks) - args.unfrozen]:
    for p in blk.parameters():
        p.requires_grad = False
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
''' + LOOP, ('default=0)  # DECIDED', 'default=1)  # DECIDED'), "GL702"),
    ("frozen: a slice ending at the configured depth minus a default of 0", HEADER + '''

@dataclass
class Cfg:
    depth: int = 4
    finetune_last: int = 0  # DECIDED


class Stack(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.Sequential(*[nn.Linear(8, 8) for _ in range(cfg.depth)])
        self.out = nn.Linear(8, 2)

    def forward(self, x):
        return self.out(self.layers(x))


cfg = Cfg()
model = Stack(cfg)
for layer in model.layers[:cfg.depth - cfg.finetune_last]:
    layer.requires_grad_(False)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
''' + LOOP, ("finetune_last: int = 0", "finetune_last: int = 2"), "GL702"),
    ("frozen: a module-level prefix tuple through any()", HEADER + NET + '''
TRAINABLE = ("encoders", "head")  # DECIDED
model = Net()
for pname, param in model.named_parameters():
    param.requires_grad = any(pname.startswith(prefix) for prefix in TRAINABLE)
optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
''' + LOOP, ('("encoders", "head")', '("encoder", "blocks", "head")'), "GL702"),
    ("frozen: argparse nargs prefixes", HEADER + NET + '''
parser = argparse.ArgumentParser()
parser.add_argument("--train-prefixes", nargs="+", default=["backbone", "head"])  # DECIDED
args = parser.parse_args()
model = Net()
for n, p in model.named_parameters():
    p.requires_grad_(any(n.startswith(k) for k in args.train_prefixes))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
''' + LOOP, ('["backbone", "head"]', '["encoder", "blocks", "head"]'), "GL702"),
    ("frozen: `if not any(name.startswith(...))` freezes the rest", HEADER + NET + '''
cfg = SimpleNamespace(train_only=("head", "blocks", "enc.layer"))  # DECIDED
model = Net()
for name, p in model.named_parameters():
    if not any(name.startswith(k) for k in cfg.train_only):
        p.requires_grad = False
optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
''' + LOOP, ('"enc.layer"', '"enc"'), "GL702"),
    ("frozen: negated store_true flag", HEADER + NET + '''
parser = argparse.ArgumentParser()
parser.add_argument("--no-encoder-training", dest="train_encoder", action="store_true")  # DECIDED
args = parser.parse_args()
model = Net()
if not args.train_encoder:
    for p in model.encoder.parameters():
        p.requires_grad = False
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
''' + LOOP, ('action="store_true"', 'action="store_false"'), "GL702"),
    ("frozen: requires_grad_ given a negated flag's value", HEADER + NET + '''
parser = argparse.ArgumentParser()
parser.add_argument("--freeze-encoder", "--no-train-encoder", dest="train_encoder", action="store_true")  # DECIDED
args = parser.parse_args()
model = Net()
model.encoder.requires_grad_(args.train_encoder)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
''' + LOOP, ('action="store_true"', 'action="store_false"'), "GL702"),
    ("frozen: a default that freezes a module given its own optimizer group", HEADER + NET + '''

@dataclass
class Options:
    tune_encoder: bool = False  # DECIDED


def build(opts):
    model = Net()
    if opts.tune_encoder is False:
        model.encoder.requires_grad_(False)
    optimizer = torch.optim.Adam([
        {"params": model.encoder.parameters(), "lr": 1e-5},
        {"params": [*model.blocks.parameters(), *model.head.parameters()]},
    ], lr=1e-3)
    return model, optimizer


model, optimizer = build(Options())
''' + LOOP, ("tune_encoder: bool = False", "tune_encoder: bool = True"), "GL702"),

    ("frozen: a loop over a module's parameters that has its own optimizer group", HEADER + NET + '''
FINETUNE = {"encoder_lr": 1e-5, "train_encoder": 0}  # DECIDED


def setup():
    model = Net()
    if FINETUNE["train_encoder"] == 0:
        for p in model.encoder.parameters():
            p.requires_grad = False
    groups = [{"params": model.encoder.parameters(), "lr": FINETUNE["encoder_lr"]},
              {"params": model.head.parameters()}, {"params": model.blocks.parameters()}]
    return model, torch.optim.SGD(groups, lr=0.1)


model, optimizer = setup()
''' + LOOP, ('"train_encoder": 0', '"train_encoder": 1'), "GL702"),
    # -- a head whose loss term sits in a branch the values never run ------------------------------------------
    ("dead term: argparse weight default 0 in a criterion object", HEADER + TWO_HEADS + '''


class Criterion:
    def __init__(self, side_weight):
        self.side_weight = side_weight

    def __call__(self, outputs, y):
        main, side = outputs
        loss = F.cross_entropy(main, y)
        if self.side_weight > 0:
            loss = loss + self.side_weight * F.cross_entropy(side, y)
        return loss


parser = argparse.ArgumentParser()
parser.add_argument("--side-weight", type=float, default=0.0)  # DECIDED
args = parser.parse_args()
model = TwoHeads()
criterion = Criterion(args.side_weight)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(4):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    optimizer.zero_grad()
    criterion(model(x), y).backward()
    optimizer.step()
''', ("default=0.0", "default=0.3"), "GL303"),
    ("dead term: plain enum compared with its string, output indexed", HEADER + TWO_HEADS + '''


class Objective(Enum):
    SINGLE = "single"
    JOINT = "joint"


@dataclass
class Setup:
    objective: Objective = Objective.JOINT  # DECIDED


def total_loss(out, y, setup):
    loss = F.cross_entropy(out[0], y)
    return loss + F.cross_entropy(out[1], y) if setup.objective == "joint" else loss


setup = Setup()
model = TwoHeads()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(4):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    optimizer.zero_grad()
    total_loss(model(x), y, setup).backward()
    optimizer.step()
''', ("class Objective(Enum)", "class Objective(str, Enum)"), "GL303"),
    ("dead term: dict outputs and a SimpleNamespace config", HEADER + '''

class DictNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.cls = nn.Linear(8, 2)
        self.aux = nn.Linear(8, 2)

    def forward(self, x):
        h = torch.relu(self.body(x))
        return {"logits": self.cls(h), "aux": self.aux(h)}


def compute(outputs, y, cfg):
    loss = F.cross_entropy(outputs["logits"], y)
    if cfg.aux_weight >= 0.1:
        loss = loss + cfg.aux_weight * F.cross_entropy(outputs["aux"], y)
    return loss


cfg = SimpleNamespace(aux_weight=0.05, lr=0.1)  # DECIDED
model = DictNet()
optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr)
for step in range(4):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    optimizer.zero_grad()
    compute(model(x), y, cfg).backward()
    optimizer.step()
''', ("aux_weight=0.05", "aux_weight=0.5"), "GL303"),
]

CASES += [
    ("dead term: a head's loss weighted by a default of 0, no branch", HEADER + TWO_HEADS + '''


@dataclass
class Weights:
    main: float = 1.0
    side: float = 0  # DECIDED


def objective(model, x, y, w):
    main_logits, side_logits = model(x)
    return w.main * F.cross_entropy(main_logits, y) + w.side * F.cross_entropy(side_logits, y)


w = Weights()
model = TwoHeads()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(4):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    optimizer.zero_grad()
    objective(model, x, y, w).backward()
    optimizer.step()
''', ("side: float = 0  #", "side: float = 0.2  #"), "GL303"),
]

CASES += [
    ("dead term: an enum-typed option compared with a string in the loop", 'import argparse\nimport enum\n\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\nclass Mode(enum.Enum):\n    SINGLE = "single"\n    JOINT = "joint"\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.trunk = nn.Linear(8, 8)\n        self.cls = nn.Linear(8, 3)\n        self.reg = nn.Linear(8, 1)\n\n    def forward(self, x):\n        h = torch.relu(self.trunk(x))\n        return self.cls(h), self.reg(h).squeeze(-1)\n\n\ndef main():\n    p = argparse.ArgumentParser()\n    p.add_argument("--mode", type=Mode, default=Mode.JOINT, choices=list(Mode))  # DECIDED\n    args = p.parse_args()\n    model = Net()\n    opt = torch.optim.Adam(model.parameters(), lr=1e-3)\n    for step in range(10):\n        x = torch.randn(16, 8)\n        y = torch.randint(0, 3, (16,))\n        t = torch.randn(16)\n        logits, pred = model(x)\n        loss = F.cross_entropy(logits, y)\n        if args.mode == "joint":\n            loss = loss + F.mse_loss(pred, t)\n        opt.zero_grad()\n        loss.backward()\n        opt.step()\n\n\nif __name__ == "__main__":\n    main()\n',
     ("class Mode(enum.Enum)", "class Mode(str, enum.Enum)"), "GL303"),
    ("dead term: a criterion module weighting a dict output by a dict entry of 0", 'import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\nCONFIG = {"lr": 1e-3, "loss_weights": {"ce": 1.0, "depth": 0.0}, "steps": 5}  # DECIDED\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.enc = nn.Conv2d(3, 8, 3, padding=1)\n        self.seg = nn.Conv2d(8, 4, 1)\n        self.depth = nn.Conv2d(8, 1, 1)\n\n    def forward(self, x):\n        f = F.relu(self.enc(x))\n        return {"seg": self.seg(f), "depth": self.depth(f)}\n\n\nclass MultiTaskLoss(nn.Module):\n    def __init__(self, weights):\n        super().__init__()\n        self.weights = weights\n\n    def forward(self, out, seg, depth):\n        return self.weights["ce"] * F.cross_entropy(out["seg"], seg) + \\\n            self.weights["depth"] * F.l1_loss(out["depth"], depth)\n\n\nmodel = Net()\ncriterion = MultiTaskLoss(CONFIG["loss_weights"])\noptimizer = torch.optim.SGD(model.parameters(), lr=CONFIG["lr"])\nfor step in range(CONFIG["steps"]):\n    x = torch.randn(2, 3, 8, 8)\n    seg = torch.randint(0, 4, (2, 8, 8))\n    depth = torch.rand(2, 1, 8, 8)\n    optimizer.zero_grad()\n    loss = criterion(model(x), seg, depth)\n    loss.backward()\n    optimizer.step()\n',
     ('"depth": 0.0', '"depth": 0.5'), "GL303"),
]

CASES += [
    # -- values of loop variables carried into helpers ---------------------------------------------------------
    ("lr set by hand: per-epoch warm-up in a helper, one epoch", HEADER + NET + '''

@dataclass
class Schedule:
    base_lr: float = 0.1
    warmup: int = 3
    epochs: int = 1  # DECIDED


def set_lr(optimizer, epoch, sched):
    if epoch < sched.warmup:
        lr = sched.base_lr * epoch / sched.warmup
    else:
        lr = sched.base_lr
    for g in optimizer.param_groups:
        g["lr"] = lr


sched = Schedule()
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=sched.base_lr)
for epoch in range(sched.epochs):
    set_lr(optimizer, epoch, sched)
''' + LOOP.replace("\n", "\n    "), ("epochs: int = 1", "epochs: int = 4"), "GL601"),
    ("lr set by hand: floor-divided factor over the run's epochs, inline", HEADER + NET + '''
EPOCHS = 3  # DECIDED
RAMP = 5
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(EPOCHS):
    optimizer.param_groups[0]["lr"] = 0.1 * min(1, epoch // RAMP)
''' + LOOP.replace("\n", "\n    "), ("EPOCHS = 3", "EPOCHS = 9"), "GL601"),
    ("step gate: accumulation longer than the loader's batches per epoch", HEADER + NET + '''
from torch.utils.data import DataLoader, TensorDataset


def train_one_epoch(model, loader, optimizer, accum_steps):
    for i, (xb, yb) in enumerate(loader):
        loss = F.cross_entropy(model(xb), yb) / accum_steps
        loss.backward()
        if (i + 1) % accum_steps == 0:
            optimizer.step()
            optimizer.zero_grad()


parser = argparse.ArgumentParser()
parser.add_argument("--batch-size", type=int, default=16)
parser.add_argument("--accum-steps", type=int, default=8)  # DECIDED
args = parser.parse_args()
features = torch.randn(96, 8)
labels = torch.randint(0, 2, (96,))
loader = DataLoader(TensorDataset(features, labels), batch_size=args.batch_size, shuffle=True)
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
optimizer.zero_grad()
for epoch in range(3):
    train_one_epoch(model, loader, optimizer, args.accum_steps)
''', ("default=8)", "default=2)"), "GL205"),
    ("step gate: an epoch handed to a helper never reaches the threshold", HEADER + NET + '''

def train_epoch(model, optimizer, epoch, args):
    for step in range(4):
        x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        if epoch >= args.frozen_epochs:
            optimizer.step()


parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--frozen-epochs", type=int, default=5)  # DECIDED
args = parser.parse_args()
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(args.epochs):
    train_epoch(model, optimizer, epoch, args)
''', ("default=5", "default=1"), "GL205"),
]

# Correct code around the same shapes, silent: the values are unknown, or the code guards them.
SILENT = {
    "clip bound 0 under a guard on the bound": HEADER + NET + '''
parser = argparse.ArgumentParser()
parser.add_argument("--clip", type=float, default=0.0)
args = parser.parse_args()
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(4):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    if args.clip > 0:
        nn.utils.clip_grad_norm_(model.parameters(), args.clip)
    optimizer.step()
''',
    "clip bound from a config file": HEADER + NET + '''
import yaml
cfg = yaml.safe_load(open("train.yaml"))
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(4):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    nn.utils.clip_grad_norm_(model.parameters(), cfg.get("clip", 1.0) // cfg["accum"])
    optimizer.step()
''',
    "an opt-in freeze flag (a deliberate default)": HEADER + NET + '''
parser = argparse.ArgumentParser()
parser.add_argument("--train-encoder", action="store_true")
args = parser.parse_args()
model = Net()
if not args.train_encoder:
    model.encoder.requires_grad_(False)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
''' + LOOP,
    "prefixes of a model from a library": HEADER + '''
from transformers import AutoModel
TRAINABLE = ("pooler", "classifier")
model = AutoModel.from_pretrained("bert-base-uncased")
for name, p in model.named_parameters():
    p.requires_grad = name.startswith(TRAINABLE)
''',
    "prefixes of a model with modules added by add_module": HEADER + '''

class Dyn(nn.Module):
    def __init__(self, names):
        super().__init__()
        self.head = nn.Linear(8, 2)
        for n in names:
            self.add_module(n, nn.Linear(8, 8))


TRAINABLE = ("encoder", "head")
model = Dyn(["encoder", "body"])
for name, p in model.named_parameters():
    p.requires_grad = name.startswith(TRAINABLE)
''',
    "lr set per epoch for an epoch count from a config file": HEADER + NET + '''
import json
settings = json.load(open("run.json"))
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(settings["epochs"]):
    for g in optimizer.param_groups:
        g["lr"] = 0.1 * epoch / 5
''' + LOOP.replace("\n", "\n    "),
    "an AMP scaler step under a default-off flag, a plain step otherwise": HEADER + NET + '''
parser = argparse.ArgumentParser()
parser.add_argument("--amp", action="store_true")
args = parser.parse_args()
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scaler = None
if args.amp:
    scaler = torch.cuda.amp.GradScaler()
for epoch in range(3):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
''',
    "a module frozen in a loop over its parameters when an opt-in flag is off": HEADER + NET + '''
parser = argparse.ArgumentParser()
parser.add_argument("--finetune-encoder", action="store_true")
args = parser.parse_args()
model = Net()
if not args.finetune_encoder:
    for p in model.encoder.parameters():
        p.requires_grad = False
optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
''' + LOOP,
    "an aux term behind an opt-in flag": HEADER + TWO_HEADS + '''
parser = argparse.ArgumentParser()
parser.add_argument("--use-side", action="store_true")
parser.add_argument("--side-weight", type=float, default=0.3)
args = parser.parse_args()
model = TwoHeads()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(4):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    main, side = model(x)
    loss = F.cross_entropy(main, y)
    if args.use_side and args.side_weight > 0:
        loss = loss + args.side_weight * F.cross_entropy(side, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
''',
    "accumulation over a loader of unknown length": HEADER + NET + '''
from torch.utils.data import DataLoader
from datasets import load_dataset

loader = DataLoader(load_dataset("imdb")["train"], batch_size=16)
ACCUM = 64
model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for i, batch in enumerate(loader):
    F.cross_entropy(model(batch["x"]), batch["y"]).backward()
    if (i + 1) % ACCUM == 0:
        optimizer.step()
        optimizer.zero_grad()
''',
    "the side head's output also logged every step": HEADER + TWO_HEADS + '''
AUX_WEIGHT = 0.0
model = TwoHeads()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(4):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    main, side = model(x)
    loss = F.cross_entropy(main, y)
    if AUX_WEIGHT > 0:
        loss = loss + AUX_WEIGHT * F.cross_entropy(side, y)
    print(side.argmax(1))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
''',
    "a weight passed at the constructor call": HEADER + TWO_HEADS + '''


@dataclass
class LossCfg:
    side_weight: float = 0.0


def total(out, y, cfg):
    main, side = out
    loss = F.cross_entropy(main, y)
    if cfg.side_weight > 0:
        loss = loss + cfg.side_weight * F.cross_entropy(side, y)
    return loss


cfg = LossCfg(side_weight=0.5)
model = TwoHeads()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(4):
    x, y = torch.randn(4, 8), torch.randint(0, 2, (4,))
    optimizer.zero_grad()
    total(model(x), y, cfg).backward()
    optimizer.step()
''',
}


def run_graphlint(tmp_path: Path, scripts: dict[str, str]) -> dict[str, list[dict]]:
    for name, text in scripts.items():
        (tmp_path / name).write_text(text)
    result = subprocess.run([sys.executable, "-m", "graphlint", "--format", "json", "--no-cache", str(tmp_path)],
                            capture_output=True, text=True, check=False)
    found: dict[str, list[dict]] = {name: [] for name in scripts}
    for finding in json.loads(result.stdout)["findings"]:
        found[Path(finding["path"]).name].append(finding)
    return found


def test_decided_faults_are_reported_with_where_they_were_decided_and_fixes_are_silent(tmp_path):
    scripts, expected = {}, {}
    for i, (name, buggy, change, rule) in enumerate(CASES):
        if change is None:
            continue
        bug, fix = change
        assert buggy.count(bug) == 1, name
        decided = next(n for n, line in enumerate(buggy.splitlines(), 1) if "# DECIDED" in line)
        scripts[f"case{i}_bug.py"], scripts[f"case{i}_fixed.py"] = buggy, buggy.replace(bug, fix)
        expected[i] = (name, rule, decided)
    for i, text in enumerate(SILENT.values()):
        scripts[f"silent{i}.py"] = text
    found = run_graphlint(tmp_path, scripts)
    for i, (name, rule, decided) in expected.items():
        assert found[f"case{i}_fixed.py"] == [], name
        bug = found[f"case{i}_bug.py"]
        assert [f["rule"] for f in bug] == [rule], (name, bug)
        assert decided in [r["line"] for r in bug[0].get("related", [])], (name, bug[0])
    for i, name in enumerate(SILENT):
        assert found[f"silent{i}.py"] == [], (name, found[f"silent{i}.py"])


def _probe(source: str):
    module = ModuleAnalysis(source, "probe.py")
    analysis = Analysis(module, AnalysisOptions(), ProjectIndex())
    value = [a.value for a in module.all(cst.Assign) if module.code(a.targets[0].target) == "probe"][-1]
    known = analysis.constants.at(value, module)
    return (known.value, module.line(known.origin), known.elsewhere) if known is not None else None


def test_constants_read_tuples_negations_namespaces_and_one_valued_attributes():
    assert _probe('NAMES = ("a", "b")\nprobe = NAMES') == (("a", "b"), 1, True)
    assert _probe('NAMES = ["a"]\nNAMES.append("b")\nprobe = NAMES') is None  # a list changed in place
    assert _probe("import argparse\np = argparse.ArgumentParser()\np.add_argument('--tune', action='store_true')\n"
                  "args = p.parse_args()\nprobe = not args.tune") == (True, 3, True)
    assert _probe("from types import SimpleNamespace\ncfg = SimpleNamespace(w=0.0)\nprobe = cfg.w") == (0.0, 2, True)
    assert _probe("from types import SimpleNamespace\ncfg = SimpleNamespace(**d)\nprobe = cfg.w") is None
    owner = ("class Loss:\n    def __init__(self, w):\n        self.w = w\n\n    def __call__(self):\n"
             "        probe = self.w\n\n\nLoss(0.0)\n")
    assert _probe(owner) == (0.0, 9, True)
    assert _probe(owner + "Loss(1.0)\n") is None


# -- argparse passes a string default through `type=`: `type=bool, default="False"` is True ------------------
TYPE_BOOL = '''
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F


class Tagger(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.head = nn.Linear(16, 5)

    def forward(self, ids):
        return self.head(self.embed(ids).mean(1))


parser = argparse.ArgumentParser()
parser.add_argument("--freeze", type={kind}, default={default})
args = parser.parse_args()
model = Tagger()
{freeze}
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(10):
    ids, y = torch.randint(0, 50, (4, 7)), torch.randint(0, 5, (4,))
    optimizer.zero_grad()
    F.cross_entropy(model(ids), y).backward()
    optimizer.step()
'''
ASSIGNED = "model.embed.weight.requires_grad = not args.freeze"
BRANCH = "if args.freeze:\n    model.embed.requires_grad_(False)"


@pytest.mark.parametrize("default, freeze", [('"False"', ASSIGNED), ("'false'", BRANCH), ('"0"', ASSIGNED)])
def test_a_false_string_default_through_type_bool_freezes(default, freeze):
    source = TYPE_BOOL.format(kind="bool", default=default, freeze=freeze)
    found = [(f.rule, f.line) for f in analyze_source(source, "train.py", AnalysisOptions(), ProjectIndex())]
    line = next(i for i, text in enumerate(source.splitlines(), 1) if "requires_grad" in text)
    assert ("GL702", line) in found, found


@pytest.mark.parametrize("kind, default, freeze", [
    ("bool", "False", ASSIGNED),  # a real bool default is not converted
    ("str2bool", '"False"', ASSIGNED),  # a converter the analysis does not evaluate
    ("bool", '""', BRANCH),  # the empty string is False: nothing is frozen
])
def test_defaults_that_do_not_freeze_are_silent(kind, default, freeze):
    source = TYPE_BOOL.format(kind=kind, default=default, freeze=freeze)
    assert [f.rule for f in analyze_source(source, "train.py", AnalysisOptions(), ProjectIndex())
            if f.rule == "GL702"] == []
