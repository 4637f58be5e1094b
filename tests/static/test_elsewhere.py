"""Faults decided by code that runs elsewhere: a base class's loop and the hooks it calls, methods nothing calls,
forward and gradient hooks. Each mechanism in several shapes (base class in another file, factory-made hooks,
values from argparse / dataclass / dict), and each next to a correct twin that must stay silent.

Runs the CLI on files written to a temporary folder, as a user would check a project."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))


def findings(folder: Path, *paths: str) -> set[tuple[str, str, int]]:
    done = subprocess.run([sys.executable, "-m", "graphlint", "--no-cache", "--isolated", "--format", "json",
                           *(paths or ["."])], cwd=folder, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return {(f["rule"], Path(f["path"]).name, f["line"]) for f in json.loads(done.stdout)["findings"]}


def rules(found: set[tuple[str, str, int]]) -> set[str]:
    return {r for r, _, _ in found}


# -- a base class's loop: which optimizer it steps (GL207) --------------------------------------------------------

BASE_TRAINER = '''
import torch


class BaseTrainer:
    def __init__(self, model, lr):
        self.model = model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)

    def compute_loss(self, batch):
        raise NotImplementedError

    def train_epoch(self, loader):
        for batch in loader:
            self.optimizer.zero_grad()
            {extra_zero}
            loss = self.compute_loss(batch)
            loss.backward()
            self.optimizer.step()
            {extra_step}
'''

SUBCLASS = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from trainer_base import BaseTrainer


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 4)

    def forward(self, h):
        return self.fc(h)


class ContrastiveTrainer(BaseTrainer):
    def __init__(self, model, lr=1e-3):
        super().__init__(model, lr)
        self.projector = Head()
        self.projector_opt = torch.optim.SGD(self.projector.parameters(), lr=lr)
        {hand_off}

    def compute_loss(self, batch):
        x, y = batch
        return F.cross_entropy(self.projector(self.model(x)), y)


def main():
    trainer = ContrastiveTrainer(nn.Linear(8, 16))
    trainer.train_epoch([(torch.randn(4, 8), torch.randint(0, 4, (4,)))])
'''


def test_optimizer_a_subclass_adds_is_never_stepped_by_the_base_loop_in_another_file(tmp_path):
    write(tmp_path, {"trainer_base.py": BASE_TRAINER.format(extra_zero="", extra_step=""),
                     "train.py": SUBCLASS.format(hand_off="")})
    assert ("GL207", "train.py", 21) in findings(tmp_path)


def test_zeroing_the_extra_optimizer_is_not_stepping_it(tmp_path):
    write(tmp_path, {"trainer_base.py": BASE_TRAINER.format(extra_zero="", extra_step=""),
                     "train.py": SUBCLASS.format(hand_off="").replace(
                         "        x, y = batch\n", "        x, y = batch\n        self.projector_opt.zero_grad()\n")})
    assert ("GL207", "train.py", 21) in findings(tmp_path)


@pytest.mark.parametrize("base, hand_off", [
    # the base loop steps it too
    (BASE_TRAINER.format(extra_zero="", extra_step="self.projector_opt.step()"), ""),
    # handed to a scheduler / a list the loop may step
    (BASE_TRAINER.format(extra_zero="", extra_step=""),
     "self.scheduler = torch.optim.lr_scheduler.StepLR(self.projector_opt, 10)"),
    (BASE_TRAINER.format(extra_zero="", extra_step=""), "self.optimizers = [self.optimizer, self.projector_opt]"),
])
def test_an_optimizer_the_loop_steps_or_hands_on_is_silent(tmp_path, base, hand_off):
    write(tmp_path, {"trainer_base.py": base, "train.py": SUBCLASS.format(hand_off=hand_off)})
    assert "GL207" not in rules(findings(tmp_path))


def test_no_visible_loop_no_finding(tmp_path):
    """A model that builds its own optimizer, stepped by a script we are not given."""
    write(tmp_path, {"model.py": '''
        import torch
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)
                self.opt = torch.optim.SGD(self.fc.parameters(), lr=0.1)

            def forward(self, x):
                return self.fc(x)
        '''})
    assert "GL207" not in rules(findings(tmp_path))


# -- a subclass method the base loop never calls (GL306) -------------------------------------------------------------

MODEL = '''
import torch.nn as nn


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(10, 16)
        self.main_head = nn.Linear(16, 3)
        self.aux_head = nn.Linear(16, 2)

    def forward(self, x):
        f = self.body(x)
        return self.main_head(f), self.aux_head(f)
'''

LOOP = '''
import torch
import torch.nn.functional as F


class Trainer:
    def __init__(self, model, lr=0.1):
        self.model = model
        self.opt = torch.optim.SGD(model.parameters(), lr=lr)

    def get_loss(self, x, y, z):
        logits, _ = self.model(x)
        return F.cross_entropy(logits, y)

    def run(self, loader):
        for x, y, z in loader:
            self.opt.zero_grad()
            loss = self.get_loss(x, y, z)
            loss.backward()
            self.opt.step()
'''

SCRIPT = '''
import torch
import torch.nn.functional as F
from model import TwoHeads
from loop import Trainer


class AuxTrainer(Trainer):
    def {name}(self, x, y, z):
        logits, aux = self.model(x)
        return F.cross_entropy(logits, y) + 0.5 * F.cross_entropy(aux, z)
    {caller}


def main():
    data = [(torch.randn(4, 10), torch.randint(0, 3, (4,)), torch.randint(0, 2, (4,)))]
    AuxTrainer(TwoHeads()).run(data)
'''


def test_subclass_loss_method_with_another_name_than_the_base_hook(tmp_path):
    """Model, base loop and subclass in three files; the tuple the forward returns is followed element by element."""
    write(tmp_path, {"model.py": MODEL, "loop.py": LOOP, "train.py": SCRIPT.format(name="compute_loss", caller="")})
    found = findings(tmp_path)
    assert ("GL306", "model.py", 10) in found


@pytest.mark.parametrize("name, caller", [
    ("get_loss", ""),  # the hook overridden: it runs
    ("compute_loss", "def get_loss(self, x, y, z):\n        return self.compute_loss(x, y, z)"),  # called by it
])
def test_overridden_or_called_method_is_silent(tmp_path, name, caller):
    write(tmp_path, {"model.py": MODEL, "loop.py": LOOP, "train.py": SCRIPT.format(name=name, caller=caller)})
    assert "GL306" not in rules(findings(tmp_path))


def test_a_framework_base_calls_hooks_we_cannot_see(tmp_path):
    write(tmp_path, {"model.py": MODEL, "loop.py": LOOP.replace("class Trainer:", "import lightning as L\n\n\n"
                                                                "class Trainer(L.LightningModule):"),
                     "train.py": SCRIPT.format(name="training_step", caller="")})
    assert "GL306" not in rules(findings(tmp_path))


# -- forward hooks whose return replaces the module's output (GL101) -------------------------------------------------

RECORDER_SCRIPT = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
{import_line}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(self.block(x))


{local}


def main():
    model = Net()
    {attach}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(torch.randn(4, 8)), torch.randint(0, 2, (4,)))
        loss.backward()
        opt.step()
'''

RECORDER_CLASS = '''
class Recorder:
    def __init__(self):
        self.outputs = {}

    def hook_for(self, name):
        def hook(module, inputs, output):
            self.outputs[name] = output.detach()
            return self.outputs[name]
        return hook
'''

SAVE_FUNCTION = '''
FEATURES = []


def save_features(module, inp, out):
    kept = out.detach().cpu()
    FEATURES.append(kept)
    return kept
'''


@pytest.mark.parametrize("files, attach", [
    # a factory method returns the hook
    ({}, "rec = Recorder()\n    model.block.register_forward_hook(rec.hook_for('block'))"),
    # a plain function registered directly, defined in another module
    ({"recording.py": SAVE_FUNCTION}, "model.block.register_forward_hook(save_features)"),
])
def test_forward_hook_that_returns_a_detached_output(tmp_path, files, attach):
    local = RECORDER_CLASS if not files else ""
    import_line = "from recording import save_features" if files else ""
    write(tmp_path, {**files, "train.py": RECORDER_SCRIPT.format(import_line=import_line, local=local, attach=attach)})
    assert any(r == "GL101" and path == "train.py" for r, path, _ in findings(tmp_path, "."))


@pytest.mark.parametrize("hook", [
    "def hook(module, inputs, output):\n    STORE.append(output.detach())",  # returns None: the output is kept
    "def hook(module, inputs, output):\n    STORE.append(output.detach())\n    return output",
    "def hook(module, inputs, output):\n    return output.detach()",  # a deliberate gradient stop, nothing recorded
])
def test_forward_hooks_that_keep_the_output_are_silent(tmp_path, hook):
    local = "STORE = []\n\n\n" + hook
    write(tmp_path, {"train.py": RECORDER_SCRIPT.format(import_line="", local=local,
                                                        attach="model.block.register_forward_hook(hook)")})
    assert "GL101" not in rules(findings(tmp_path))


# -- gradient hooks whose return replaces the gradient (GL202) -------------------------------------------------------

GRAD_HOOK = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
{config}


{install}


def main():
    model = nn.Linear(6, 3)
    install(model, {bound})
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(torch.randn(4, 6)), torch.randint(0, 3, (4,))).backward()
        opt.step()
'''

ARGPARSE = '''import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--grad-clip", type=float, default={value})
args = parser.parse_args()'''

DATACLASS = '''from dataclasses import dataclass


@dataclass
class Cfg:
    grad_scale: float = {value}


cfg = Cfg()'''

DICT = '''CONFIG = {{"clip": {value}}}'''

LAMBDA_CLAMP = '''def install(model, c):
    for p in model.parameters():
        p.register_hook(lambda g: g.clamp(-c, c))'''

DEF_SCALE = '''def install(model, scale):
    def rescale(grad):
        return grad * scale
    for name, p in model.named_parameters():
        p.register_hook(rescale)'''

DEF_CLAMP_MINMAX = '''def install(model, c):
    def clamp(grad):
        return grad.clamp(min=-c, max=c)
    for p in model.parameters():
        p.register_hook(clamp)'''

FUNCTION_CLAMP = '''def install(model, c):
    for p in model.parameters():
        p.register_hook(lambda g: torch.clamp(g, min=-c, max=c))'''

GUARDED = '''def install(model, c):
    if c <= 0:
        return
    for p in model.parameters():
        p.register_hook(lambda g: g.clamp(-c, c))'''


@pytest.mark.parametrize("config, install, bound", [
    (ARGPARSE.format(value="0.0"), LAMBDA_CLAMP, "args.grad_clip"),
    (DATACLASS.format(value=0), DEF_SCALE, "cfg.grad_scale"),
    (DICT.format(value="0.0"), DEF_CLAMP_MINMAX, "CONFIG.get('clip', 1.0)"),
    (DICT.format(value="0"), FUNCTION_CLAMP, "CONFIG['clip']"),
])
def test_gradient_hook_that_zeroes_every_gradient(tmp_path, config, install, bound):
    write(tmp_path, {"train.py": GRAD_HOOK.format(config=config, install=install, bound=bound)})
    assert "GL202" in rules(findings(tmp_path))


@pytest.mark.parametrize("config, install, bound", [
    (ARGPARSE.format(value="1.0"), LAMBDA_CLAMP, "args.grad_clip"),  # a real bound
    (DATACLASS.format(value=0.5), DEF_SCALE, "cfg.grad_scale"),
    (ARGPARSE.format(value="0.0"), GUARDED, "args.grad_clip"),  # installed only when set
    (DICT.format(value="0.0"), LAMBDA_CLAMP, "float(input())"),  # decided at run time
])
def test_gradient_hooks_with_a_real_or_unknown_bound_are_silent(tmp_path, config, install, bound):
    write(tmp_path, {"train.py": GRAD_HOOK.format(config=config, install=install, bound=bound)})
    assert "GL202" not in rules(findings(tmp_path))


# -- what a helper does to a module, applied where it is called: train() never unfreezes (GL703) ---------------------

LOADER = '''
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.ReLU())

    def forward(self, x):
        return self.net(x)


def load_encoder(path=None):
    encoder = Encoder()
    encoder.requires_grad_(False)
    return encoder
'''

FINETUNE = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from loader import load_encoder


class Regressor(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.encoder(x))


class Schedule:
    def __init__(self, model, at=1):
        self.model, self.at = model, at

    def on_epoch(self, epoch):
        if epoch == self.at:
            {unfreeze}


def main():
    model = Regressor(load_encoder())
    schedule = Schedule(model)
    optimizer = torch.optim.Adam({params}, lr=1e-3)
    for epoch in range(3):
        schedule.on_epoch(epoch)
        model.train()
        optimizer.zero_grad()
        F.mse_loss(model(torch.randn(8, 4)), torch.randn(8, 1)).backward()
        optimizer.step()
'''


def test_train_mode_in_a_method_does_not_unfreeze_what_a_loader_in_another_module_froze(tmp_path):
    write(tmp_path, {"loader.py": LOADER, "train.py": FINETUNE.format(
        unfreeze="self.model.encoder.train(True)", params="model.parameters()")})
    assert ("GL703", "train.py", 24) in findings(tmp_path)


@pytest.mark.parametrize("unfreeze, params", [
    ("self.model.encoder.requires_grad_(True)", "model.parameters()"),  # a real unfreeze
    ("self.model.encoder.train(True)", "model.head.parameters()"),  # the optimizer never holds the encoder
    ("self.model.train(True)", "model.parameters()"),  # the whole model: the usual start of an epoch
])
def test_real_unfreeze_or_deliberate_freeze_is_silent(tmp_path, unfreeze, params):
    write(tmp_path, {"loader.py": LOADER, "train.py": FINETUNE.format(unfreeze=unfreeze, params=params)})
    assert "GL703" not in rules(findings(tmp_path))


# -- a base class's no-grad method reused for training, per instance (GL104) ----------------------------------------

TOWERS = '''
import torch
import torch.nn as nn
import torch.nn.functional as F


class Tower(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(12, 8)

    def forward(self, x):
        return F.normalize(self.proj(x), dim=-1)


class Retriever(nn.Module):
    def __init__(self):
        super().__init__()
        self.query_tower = Tower()
        self.doc_tower = Tower()

    {decorator}
    def embed_queries(self, x):
        {body}
'''

CONTRASTIVE = '''
import torch
import torch.nn.functional as F
from towers import Retriever


class Contrastive(Retriever):
    def forward(self, queries, docs):
        q = self.embed_queries(queries)
        d = self.doc_tower(docs)
        return F.cross_entropy(q @ d.t(), torch.arange(len(q)))


def main():
    model = Contrastive()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(3):
        opt.zero_grad()
        loss = model(torch.randn(4, 12), torch.randn(4, 12))
        loss.backward()
        opt.step()
'''


@pytest.mark.parametrize("decorator, body", [
    ("@torch.no_grad()", "return self.query_tower(x)"),
    ("", "with torch.no_grad():\n            return self.query_tower(x)"),
    ("@torch.inference_mode()", "out = self.query_tower(x)\n        return out"),
])
def test_one_instance_of_a_shared_class_only_used_without_grad(tmp_path, decorator, body):
    write(tmp_path, {"towers.py": TOWERS.format(decorator=decorator, body=body), "train.py": CONTRASTIVE})
    assert any(r == "GL104" and path == "towers.py" for r, path, _ in findings(tmp_path))


@pytest.mark.parametrize("decorator, body, script", [
    ("", "return self.query_tower(x)", CONTRASTIVE),  # no no-grad at all
    ("@torch.no_grad()", "return self.query_tower(x)",  # the query tower also trains directly
     CONTRASTIVE.replace("q = self.embed_queries(queries)", "q = self.query_tower(queries)")),
    ("@torch.no_grad()", "return self.query_tower(x)",  # frozen on purpose
     CONTRASTIVE.replace("model = Contrastive()", "model = Contrastive()\n    model.query_tower.requires_grad_(False)")),
])
def test_towers_that_train_or_are_frozen_are_silent(tmp_path, decorator, body, script):
    write(tmp_path, {"towers.py": TOWERS.format(decorator=decorator, body=body), "train.py": script})
    assert not {"GL104", "GL101"} & rules(findings(tmp_path))


# -- what a callback does, run after the optimizer was built from the trainable parameters (GL502) -------------------

CALLBACKS = '''
class GradualUnfreeze:
    def __init__(self, at=1):
        self.at = at

    def on_fit_start(self, trainer):
        trainer.model.encoder.requires_grad_(False)

    def on_epoch_start(self, trainer, epoch):
        if epoch == self.at:
            {unfreeze}
'''

UNFREEZE_TRAINER = '''
import torch
import torch.nn as nn
import torch.nn.functional as F
from callbacks import GradualUnfreeze


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(5, 8), nn.ReLU())
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.encoder(x))


class Trainer:
    def __init__(self, model, callbacks=()):
        self.model = model
        self.callbacks = list(callbacks)

    def call(self, event, *args):
        for callback in self.callbacks:
            method = getattr(callback, event)
            method(self, *args)

    def fit(self, epochs=3):
        {before}
        trainable = {params}
        self.optimizer = torch.optim.AdamW(trainable, lr=1e-3)
        for epoch in range(epochs):
            self.call("on_epoch_start", epoch)
            self.optimizer.zero_grad()
            F.mse_loss(self.model(torch.randn(4, 5)), torch.randn(4, 1)).backward()
            self.optimizer.step()


def main():
    Trainer(Net(), callbacks=[GradualUnfreeze(at=1)]).fit()
'''

FILTERED = "filter(lambda p: p.requires_grad, self.model.parameters())"


@pytest.mark.parametrize("unfreeze", [
    "trainer.model.encoder.requires_grad_(True)",
    "for p in trainer.model.encoder.parameters():\n                p.requires_grad = True",
])
def test_callback_in_another_module_unfreezes_after_a_filtered_optimizer(tmp_path, unfreeze):
    write(tmp_path, {"callbacks.py": CALLBACKS.format(unfreeze=unfreeze),
                     "train.py": UNFREEZE_TRAINER.format(before='self.call("on_fit_start")', params=FILTERED)})
    assert any(r == "GL502" and path == "callbacks.py" for r, path, _ in findings(tmp_path))


@pytest.mark.parametrize("unfreeze, params", [
    ("trainer.model.encoder.requires_grad_(True)", "self.model.parameters()"),  # every parameter is held
    # the unfrozen parameters are handed to the optimizer
    ("trainer.model.encoder.requires_grad_(True)\n"
     "            trainer.optimizer.add_param_group({'params': trainer.model.encoder.parameters()})", FILTERED),
])
def test_unfreeze_of_parameters_the_optimizer_holds_is_silent(tmp_path, unfreeze, params):
    write(tmp_path, {"callbacks.py": CALLBACKS.format(unfreeze=unfreeze),
                     "train.py": UNFREEZE_TRAINER.format(before='self.call("on_fit_start")', params=params)})
    assert "GL502" not in rules(findings(tmp_path))
