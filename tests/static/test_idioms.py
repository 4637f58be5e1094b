"""Correct training code that looks like a bug to a naive linter must stay completely silent.

Each idiom is a small but complete program (model class, optimizer, backward) so the
engine sees everything it needs to decide; a finding on any of them is a false positive.
"""
from __future__ import annotations

import textwrap

import pytest

from graphlint.engine import AnalysisOptions, ProjectIndex, analyze_source

MLP = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self, n_in=16, n_out=4):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, 32), nn.ReLU(), nn.Linear(32, n_out))

    def forward(self, x):
        return self.body(x)

"""

IDIOMS = {
    "gan_fake_detached_for_discriminator": """
G, D = MLP(8, 16), MLP(16, 1)
opt_g = torch.optim.Adam(G.parameters(), lr=2e-4)
opt_d = torch.optim.Adam(D.parameters(), lr=2e-4)
bce = nn.BCEWithLogitsLoss()
for step in range(100):
    real, z = torch.randn(32, 16), torch.randn(32, 8)
    fake = G(z)
    opt_d.zero_grad()
    d_loss = bce(D(real), torch.ones(32, 1)) + bce(D(fake.detach()), torch.zeros(32, 1))
    d_loss.backward()
    opt_d.step()
    opt_g.zero_grad()
    g_loss = bce(D(fake), torch.ones(32, 1))
    g_loss.backward()
    opt_g.step()
""",
    "dqn_target_network": """
import copy
q_net = MLP(8, 4)
target_net = copy.deepcopy(q_net)
optimizer = torch.optim.Adam(q_net.parameters(), lr=1e-3)
for step in range(1000):
    s, a, r, s2 = torch.randn(32, 8), torch.randint(0, 4, (32,)), torch.randn(32), torch.randn(32, 8)
    q = q_net(s).gather(1, a.unsqueeze(1)).squeeze(1)
    with torch.no_grad():
        best_next = target_net(s2).max(dim=1).values
    target = r + 0.99 * best_next
    loss = F.smooth_l1_loss(q, target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if step % 100 == 0:
        target_net.load_state_dict(q_net.state_dict())
""",
    "dqn_target_detached": """
q_net, target_net = MLP(8, 4), MLP(8, 4)
target_net.load_state_dict(q_net.state_dict())
optimizer = torch.optim.RMSprop(q_net.parameters(), lr=1e-4)
for step in range(1000):
    s, r, s2 = torch.randn(32, 8), torch.randn(32), torch.randn(32, 8)
    target = r + 0.99 * target_net(s2).max(dim=1).values.detach()
    loss = F.mse_loss(q_net(s).max(dim=1).values, target)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
""",
    "ema_teacher_under_no_grad": """
student, teacher = MLP(), MLP()
teacher.load_state_dict(student.state_dict())
for p in teacher.parameters():
    p.requires_grad_(False)
optimizer = torch.optim.SGD(student.parameters(), lr=0.05)
for step in range(200):
    x = torch.randn(32, 16)
    with torch.no_grad():
        soft_targets = F.softmax(teacher(x), dim=-1)
    loss = F.kl_div(F.log_softmax(student(x), dim=-1), soft_targets, reduction="batchmean")
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
        for pt, ps in zip(teacher.parameters(), student.parameters()):
            pt.mul_(0.999).add_(ps, alpha=0.001)
""",
    "item_logging_and_eval_loop": """
model = MLP()
optimizer = torch.optim.Adam(model.parameters())
history = []
for epoch in range(3):
    model.train()
    total = 0.0
    for step in range(100):
        x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item()
        history.append(loss.detach())
    model.eval()
    with torch.no_grad():
        val_loss = F.cross_entropy(model(torch.randn(64, 16)), torch.randint(0, 4, (64,)))
    with torch.inference_mode():
        accuracy = (model(torch.randn(64, 16)).argmax(dim=1) == torch.randint(0, 4, (64,))).float().mean()
    print(epoch, total / 100, val_loss.item(), float(accuracy))
""",
    "gradient_accumulation": """
model = MLP()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
accum = 8
optimizer.zero_grad()
for i in range(400):
    x, y = torch.randn(8, 16), torch.randint(0, 4, (8,))
    loss = F.cross_entropy(model(x), y) / accum
    loss.backward()
    if (i + 1) % accum == 0:
        optimizer.step()
        optimizer.zero_grad()
""",
    "amp_grad_scaler_with_clipping": """
model = MLP()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
scaler = torch.amp.GradScaler("cuda")
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast("cuda", dtype=torch.float16):
        loss = F.cross_entropy(model(x), y)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(optimizer)
    scaler.update()
""",
    "nan_to_num_on_inputs_and_argmax_metric": """
model = MLP()
optimizer = torch.optim.Adam(model.parameters())
for step in range(100):
    x = torch.nan_to_num(torch.randn(32, 16), nan=0.0)
    y = torch.randint(0, 4, (32,))
    optimizer.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    optimizer.step()
    correct = (logits.argmax(dim=-1) == y).sum().item()
    print(f"acc {correct / 32:.2f}")
""",
    "straight_through_estimator": """
class Quantizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(16, 8)
        self.decoder = nn.Linear(8, 16)

    def forward(self, x):
        z = self.encoder(x)
        q = torch.round(z)
        z_q = z + (q - z).detach()
        return self.decoder(z_q)


model = Quantizer()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(100):
    x = torch.randn(32, 16)
    optimizer.zero_grad()
    loss = F.mse_loss(model(x), x)
    loss.backward()
    optimizer.step()
""",
    "gate_with_logged_skip": """
model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    if torch.isfinite(norm):
        optimizer.step()
    else:
        print(f"step {step}: skipped, gradient norm {norm}")
""",
    "frozen_backbone_fine_tuning": """
class FineTuner(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = MLP(16, 32)
        self.head = nn.Linear(32, 3)

    def forward(self, x):
        with torch.no_grad():
            features = self.backbone(x)
        return self.head(features.detach())


model = FineTuner()
for p in model.backbone.parameters():
    p.requires_grad = False
optimizer = torch.optim.Adam(model.head.parameters(), lr=1e-3)
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 3, (32,))
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
""",
    "lightning_training_step": """
import pytorch_lightning as pl


class LitClassifier(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = MLP()

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.log("train_loss", loss.item())
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        acc = (self(x).argmax(dim=1) == y).float().mean()
        self.log("val_acc", acc)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)
""",
    "lbfgs_closure": """
model = MLP()
optimizer = torch.optim.LBFGS(model.parameters())
x, y = torch.randn(64, 16), torch.randint(0, 4, (64,))


def closure():
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return loss


for it in range(10):
    optimizer.step(closure)
""",
    "scaled_gradients_and_loss_gate": """
model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    if not torch.isfinite(loss):
        continue
    loss.backward()
    for p in model.parameters():
        p.grad.mul_(0.5)
    optimizer.step()
""",
    "trainer_keeps_models_and_optimizers_in_lists": """
from torch.distributed.checkpoint.state_dict import get_model_state_dict


class Trainer:
    def __init__(self):
        self.models, self.optimizers, self.frozen_names, self.snapshots = [], [], [], []

    def prepare(self, model, lr):
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        self.models.append(torch.compile(model))
        self.optimizers.append(optimizer)
        for name, module in model.named_modules():
            if isinstance(module, nn.LayerNorm):
                self.frozen_names.append(", ".join([name, module.__class__.__name__]))
        return model, optimizer

    def fit(self, model, optimizer, steps):
        for step in range(steps):
            x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            if step % 50 == 0:
                self.snapshots.append(get_model_state_dict(model))


trainer = Trainer()
model, optimizer = trainer.prepare(MLP(), 0.1)
trainer.fit(model, optimizer, 100)
""",
    "stand_in_optimizer_with_zero_lr": """
weight = torch.zeros(1, requires_grad=True)
dummy = torch.optim.SGD([weight], lr=0.0)
scheduler = torch.optim.lr_scheduler.StepLR(dummy, step_size=2)
model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    scheduler.step()
""",
    "learning_rate_set_by_hand": """
model = MLP()
optimizer = torch.optim.AdamW(model.parameters(), lr=0)
for step in range(1000):
    for group in optimizer.param_groups:
        group["lr"] = 1e-3 * min(1.0, (step + 1) / 100)
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
""",
    "forward_mode_chosen_by_the_caller": """
from typing import Literal


class TwoStems(nn.Module):
    def __init__(self):
        super().__init__()
        self.rgb = nn.Linear(3, 16)
        self.multispectral = nn.Linear(12, 16)
        self.head = nn.Linear(16, 4)

    def forward(self, x, mode: Literal["rgb", "multispectral"] = "rgb"):
        if mode == "rgb":
            h = self.rgb(x)
        elif mode == "multispectral":
            h = self.multispectral(x)
        return self.head(h)


def encode(stem, x, mode: Literal["rgb", "multispectral"] = "rgb"):
    if mode == "multispectral":
        return stem.multispectral(x)
    return stem.rgb(x)
""",
    "setup_registers_a_wrapped_model_once": """
class Launcher:
    def __init__(self, strategy):
        self.strategy = strategy
        self.registered = []
        self.history = []

    def setup(self, model):
        self.strategy.engine = model
        wrapped = self.strategy.wrap(model)
        self.registered.append(wrapped)
        return wrapped, torch.optim.SGD(model.parameters(), lr=0.1)

    def train_step(self, model, optimizer, x, y):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        self.history.append(loss.item())
""",
    "gradients_set_by_hand_in_an_optimizer_test": """
def test_step_with_zero_gradients_stays_finite():
    params = [nn.Parameter(torch.ones(4, 4)), nn.Parameter(torch.ones(4, 4))]
    opt = torch.optim.Adam(params, lr=1e-2)
    loss = sum(p.sum() for p in params)
    for p in params:
        p.grad = torch.zeros_like(p)
    opt.step()
    assert all(torch.isfinite(p).all() for p in params)
""",
    "ema_update_in_chunks_without_grad": """
import copy


def lerp_in_chunks(ema_values, model_values, weight, chunk=4):
    chunk_ema, chunk_model = [], []
    for ema_v, model_v in zip(ema_values, model_values):
        if len(chunk_ema) == chunk:
            torch._foreach_lerp_(chunk_ema, chunk_model, weight)
            chunk_ema, chunk_model = [], []
        chunk_ema.append(ema_v)
        chunk_model.append(model_v)
    if chunk_ema:
        torch._foreach_lerp_(chunk_ema, chunk_model, weight)


class Ema:
    def __init__(self, model):
        self.shadow = copy.deepcopy(model)

    @torch.no_grad()
    def update(self, model):
        lerp_in_chunks(list(self.shadow.parameters()), [p * 1.0 for p in model.parameters()], 0.001)


model = MLP()
ema = Ema(model)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    ema.update(model)
""",
    "nan_skip_clears_and_continues": """
model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    if not torch.isfinite(loss):
        print(f"step {step}: non-finite loss, batch skipped")
        optimizer.zero_grad()
        continue
    optimizer.step()
    optimizer.zero_grad()
""",
    "nan_skip_drops_gradients_and_returns": """
class Trainer:
    def __init__(self, model):
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        self.skipped = 0

    def train_step(self, x, y):
        loss = F.cross_entropy(self.model(x), y)
        loss.backward()
        if not torch.isfinite(loss):
            for p in self.model.parameters():
                p.grad = None
            self.skipped += 1
            return None
        self.optimizer.step()
        self.optimizer.zero_grad()
        return loss.item()


trainer = Trainer(MLP())
for step in range(100):
    trainer.train_step(torch.randn(32, 16), torch.randint(0, 4, (32,)))
print("skipped", trainer.skipped)
""",
    "gradients_cleared_by_own_helper": """
def zero_grads(model):
    for p in model.parameters():
        if p.grad is not None:
            p.grad.detach_()
            p.grad.zero_()


class Trainer:
    def __init__(self, model, lr):
        self.model = model
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr)

    def _reset_grads(self):
        zero_grads(self.model)

    def train_step(self, x, y):
        loss = F.cross_entropy(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        self._reset_grads()

    def fit(self, steps):
        for step in range(steps):
            self.train_step(torch.randn(32, 16), torch.randint(0, 4, (32,)))


Trainer(MLP(), 0.1).fit(100)
""",
    "gradients_overwritten_with_zeros_by_base_class": """
class GradResetMixin:
    def reset_grads(self):
        for p in self.params:
            p.grad = torch.zeros_like(p)


class Trainer(GradResetMixin):
    def __init__(self, model, lr):
        self.model = model
        self.params = list(model.parameters())
        self.optimizer = torch.optim.SGD(self.params, lr=lr)

    def fit(self, steps):
        for step in range(steps):
            x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
            loss = F.cross_entropy(self.model(x), y)
            loss.backward()
            self.optimizer.step()
            self.reset_grads()


Trainer(MLP(), 0.1).fit(100)
""",
    "new_model_and_optimizer_per_trial": """
results = []
for trial in range(10):
    model = MLP()
    optimizer = torch.optim.Adam(model.parameters(), lr=10 ** -(trial % 4 + 1))
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    results.append(F.cross_entropy(model(x), y).item())
""",
    "zero_grad_in_finally": """
model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(100):
    try:
        x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    finally:
        optimizer.zero_grad()
""",
    "while_loop_until_converged": """
model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(64, 16), torch.randint(0, 4, (64,))
step = 0
while True:
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    step += 1
    if loss.item() < 0.05 or step >= 1000:
        break
    optimizer.zero_grad()
""",
    "amp_skip_on_overflow_then_clear": """
model = MLP()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
scaler = torch.amp.GradScaler("cuda")
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    with torch.autocast("cuda", dtype=torch.float16):
        loss = F.cross_entropy(model(x), y)
    scaler.scale(loss).backward()
    if not torch.isfinite(loss):
        optimizer.zero_grad(set_to_none=True)
        scaler.update()
        continue
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
""",
    "hinge_loss_skips_batches_with_nothing_to_learn": """
model = MLP(16, 8)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(100):
    anchor, positive, negative = model(torch.randn(32, 16)), model(torch.randn(32, 16)), model(torch.randn(32, 16))
    loss = F.triplet_margin_loss(anchor, positive, negative, margin=0.2)
    if loss.item() > 0:
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
""",
    "loss_spike_guard_counts_skips": """
model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
max_loss, skipped = 8.0, 0
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    if loss.item() > max_loss:
        skipped += 1
    else:
        optimizer.step()
print(f"{skipped} updates skipped as loss spikes")
""",
    "out_of_memory_batch_skipped": """
model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    try:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    except torch.cuda.OutOfMemoryError:
        print(f"step {step}: out of memory, batch skipped")
        optimizer.zero_grad()
    optimizer.step()
    optimizer.zero_grad()
""",
    "micro_batches_left_early": """
model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
groups = [[(torch.randn(8, 16), torch.randint(0, 4, (8,))) for _ in range(4)] for _ in range(25)]
for group in groups:
    optimizer.zero_grad()
    outputs = []
    for x, y in group:
        if x.isnan().any():
            break
        loss = F.cross_entropy(model(x), y) / len(group)
        loss.backward()
        outputs.append(loss.item())
    if not outputs:
        continue
    optimizer.step()
""",
    "heads_warm_up_before_the_shared_trunk": """
class ActorCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(16, 32)
        self.actor = nn.Linear(32, 4)
        self.critic = nn.Linear(32, 1)

    def forward(self, x):
        h = torch.relu(self.trunk(x))
        return self.actor(h), self.critic(h)


model = ActorCritic()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
warmup = 20
for step in range(100):
    x, actions, returns = torch.randn(32, 16), torch.randint(0, 4, (32,)), torch.randn(32)
    logits, values = model(x)
    loss = F.cross_entropy(logits, actions) + F.mse_loss(values.squeeze(-1), returns)
    optimizer.zero_grad()
    loss.backward()
    if step < warmup:
        for p in model.trunk.parameters():
            p.grad = None
    optimizer.step()
""",
    "a2c_advantage_uses_detached_values": """
class ActorCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(16, 32)
        self.actor = nn.Linear(32, 4)
        self.critic = nn.Linear(32, 1)

    def forward(self, x):
        h = torch.tanh(self.trunk(x))
        return self.actor(h), self.critic(h).squeeze(-1)


model = ActorCritic()
optimizer = torch.optim.RMSprop(model.parameters(), lr=7e-4)
for update in range(100):
    obs, actions, returns = torch.randn(32, 16), torch.randint(0, 4, (32,)), torch.randn(32)
    logits, values = model(obs)
    log_probs = torch.log_softmax(logits, -1).gather(1, actions[:, None]).squeeze(1)
    advantages = returns - values.detach()
    policy_loss = -(log_probs * advantages).mean()
    value_loss = F.mse_loss(values, returns)
    loss = policy_loss + 0.5 * value_loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(update, policy_loss.item(), value_loss.item())
""",
    "loss_terms_returned_to_the_caller_of_a_library_step": """
model = MLP()
aux = nn.Linear(16, 1)


def compute_losses(x, y, z):
    cls_loss = F.cross_entropy(model(x), y)
    aux_loss = F.mse_loss(aux(x).squeeze(-1), z)
    return cls_loss, aux_loss


optimizer = torch.optim.SGD(list(model.parameters()) + list(aux.parameters()), lr=0.1)
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    cls_loss = F.cross_entropy(model(x), y)
    optimizer.zero_grad()
    cls_loss.backward()
    optimizer.step()
""",
    "auxiliary_loss_kept_on_the_learner_for_a_second_backward": """
class Learner:
    def __init__(self):
        self.model = MLP()
        self.aux = nn.Linear(16, 1)
        self.optimizer = torch.optim.SGD(list(self.model.parameters()) + list(self.aux.parameters()), lr=0.1)

    def update(self, x, y, z):
        main = F.cross_entropy(self.model(x), y)
        self.aux_loss = F.mse_loss(self.aux(x).squeeze(-1), z)
        self.optimizer.zero_grad()
        main.backward()
        self.optimizer.step()


learner = Learner()
for step in range(100):
    learner.update(torch.randn(32, 16), torch.randint(0, 4, (32,)), torch.randn(32))
""",
    "detection_total_back_propagated_and_parts_logged": """
class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(16, 32)
        self.cls_head = nn.Linear(32, 3)
        self.box_head = nn.Linear(32, 4)

    def forward(self, x):
        h = torch.relu(self.body(x))
        return self.cls_head(h), self.box_head(h)


model = Detector()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
box_criterion = nn.SmoothL1Loss()
for step in range(100):
    x, y, boxes = torch.randn(32, 16), torch.randint(0, 3, (32,)), torch.randn(32, 4)
    logits, box_pred = model(x)
    cls_loss = F.cross_entropy(logits, y)
    box_loss = box_criterion(box_pred, boxes)
    total = cls_loss + 2.0 * box_loss
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    print(f"{total.item():.3f} cls {cls_loss.item():.3f} box {box_loss.item():.3f}")
""",
    "loss_terms_collected_in_a_list_and_summed_in_a_step_function": """
class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(16, 32)
        self.main_head = nn.Linear(32, 4)
        self.aux_head = nn.Linear(32, 1)

    def forward(self, x):
        h = torch.relu(self.body(x))
        return self.main_head(h), self.aux_head(h).squeeze(-1)


model = TwoHeads()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
aux_criterion = nn.MSELoss()


def train_step(x, y, z):
    logits, aux_out = model(x)
    main_loss = F.cross_entropy(logits, y)
    aux_loss = aux_criterion(aux_out, z)
    terms = [main_loss]
    terms.append(0.1 * aux_loss)
    total = sum(terms)
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    return total.item()


for step in range(100):
    train_step(torch.randn(32, 16), torch.randint(0, 4, (32,)), torch.randn(32))
""",
    "one_optimizer_per_parameter_stepped_when_it_has_a_gradient": """
model = MLP()
optimizers = {p: torch.optim.SGD([p], lr=0.1) for p in model.parameters()}
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    F.cross_entropy(model(x), y).backward()
    for p, opt in optimizers.items():
        if p.grad is not None:
            opt.step()
            opt.zero_grad()
""",
    "pipeline_samples_kept_for_logging": """
from diffusers import StableDiffusionPipeline

model = MLP()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
pipeline = StableDiffusionPipeline.from_pretrained("runwayml/stable-diffusion-v1-5")
pipeline.unet = model
pipeline = pipeline.to("cpu")
samples = []
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    optimizer.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    if step % 50 == 0:
        images = pipeline("a photo of a cat", num_inference_steps=20).images
        samples.append(images[0])
""",
    "sampler_of_the_project_runs_without_grad": """
class Sampler:
    def __init__(self, denoiser, steps=10):
        self.denoiser, self.steps = denoiser, steps

    @torch.no_grad()
    def __call__(self, n):
        x = torch.randn(n, 16)
        for _ in range(self.steps):
            x = x - 0.1 * self.denoiser(x)[:, :1]
        return x.clamp(-1, 1)


model = MLP()
sampler = Sampler(model)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
gallery = []
for step in range(100):
    x = torch.randn(32, 16)
    optimizer.zero_grad()
    loss = F.mse_loss(model(x), torch.zeros(32, 4))
    loss.backward()
    optimizer.step()
    if step % 25 == 0:
        gallery.append(sampler(4))
""",
    "captions_and_eval_table_rows": """
from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("gpt2")
model = MLP(16, 50)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
captions, table = [], []
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 50, (32,))
    optimizer.zero_grad()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    optimizer.step()
    if step % 20 == 0:
        ids = torch.multinomial(logits.softmax(-1), 1)
        captions.extend(tokenizer.batch_decode(ids))
        table.append(("train", "%.4f" % loss, tokenizer.decode(ids[0])))
""",
    "batch_slices_kept_as_examples": """
from accelerate import Accelerator
from torch.utils.data import DataLoader, TensorDataset

accelerator = Accelerator()
model = MLP()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
loader = DataLoader(TensorDataset(torch.randn(256, 16), torch.randint(0, 4, (256,))), batch_size=32)
model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
examples = []
for epoch in range(3):
    for step, (x, y) in enumerate(loader):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        accelerator.backward(loss)
        optimizer.step()
        if step == 0:
            examples.append((x[:4] + 1) / 2)
""",
    "leaf_parameter_built_once_from_outputs": """
model = MLP(16, 8)
warmup = [torch.randn(32, 16) for _ in range(4)]
prototypes = nn.Parameter(torch.cat([model(xb) for xb in warmup]).mean(0, keepdim=True))
optimizer = torch.optim.SGD([*model.parameters(), prototypes], lr=0.1)
history = []
for step in range(100):
    x = torch.randn(32, 16)
    optimizer.zero_grad()
    loss = torch.cdist(model(x), prototypes).min(dim=1).values.mean()
    loss.backward()
    optimizer.step()
    history.append(prototypes)
""",
    "hook_handles_registered_before_training": """
def train(model, steps):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    activations, handles = {}, []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: activations.update({name: o.detach()})))
    for step in range(steps):
        x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    for handle in handles:
        handle.remove()


train(MLP(), 100)
""",
    "list_made_afresh_each_iteration": """
def train(model, steps):
    optimizer = torch.optim.Adam(model.parameters())
    for step in range(steps):
        chunk_norms = []
        x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        for chunk in x.chunk(4):
            chunk_norms.append(model(chunk).norm())
        print(step, [float(n) for n in chunk_norms])


train(MLP(), 100)
""",
    "short_logging_loop_before_training": """
def train(model, steps):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    fixed = torch.randn(4, 16)
    initial = []
    for i in range(4):
        initial.append(model(fixed[i:i + 1]))
    print("outputs before training", initial)
    for step in range(steps):
        x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()


train(MLP(), 100)
""",
    "step_decay_by_powers_of_a_tenth": """
model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 0.1 ** (epoch // 30))
for epoch in range(90):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    scheduler.step()
""",
    "zero_lr_optimizer_in_a_scheduler_test": """
def make_scheduler(step_size):
    optimizer = torch.optim.SGD(MLP().parameters(), lr=0)
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size)


def test_step_lr_keeps_its_step_size():
    scheduler = make_scheduler(10)
    assert scheduler.step_size == 10
""",
    "parameter_groups_built_for_the_optimizer": """
def build_optimizer(model):
    groups = []
    for name, p in model.named_parameters():
        groups.append({"params": [p], "weight_decay": 0.0 if name.endswith("bias") else 0.01})
    return torch.optim.AdamW(groups, lr=1e-3)


model = MLP()
optimizer = build_optimizer(model)
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
""",
    "mask_parameters_collected_from_a_dict": """
class Explainer:
    def __init__(self, model):
        self.model = model
        self.masks = {}

    def fit(self, x, steps=100):
        self.masks["node"] = nn.Parameter(torch.randn(x.size(0), 1) * 0.1)
        self.masks["feature"] = nn.Parameter(torch.randn(1, x.size(1)) * 0.1)
        parameters = []
        for mask in self.masks.values():
            parameters.append(mask)
        optimizer = torch.optim.Adam(parameters, lr=0.01)
        for step in range(steps):
            optimizer.zero_grad()
            out = self.model(x * self.masks["node"].sigmoid() * self.masks["feature"].sigmoid())
            loss = -out.log_softmax(-1).max(-1).values.mean() + self.masks["node"].sigmoid().mean()
            loss.backward()
            optimizer.step()


Explainer(MLP()).fit(torch.randn(32, 16))
""",
    "predictions_list_made_afresh_per_call": """
class Sampler(nn.Module):
    def __init__(self):
        super().__init__()
        self.decoder = MLP(4, 16)
        self.predictions = []

    def predict_step(self, z, num_samples=8):
        self.predictions = []
        for _ in range(num_samples):
            self.predictions.append(self.decoder(z + torch.randn_like(z)))
        return torch.stack(self.predictions).mean(0)


model = Sampler()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(100):
    z, x = torch.randn(32, 4), torch.randn(32, 16)
    optimizer.zero_grad()
    F.mse_loss(model.decoder(z), x).backward()
    optimizer.step()
    model.predict_step(z)
""",
    "validation_hook_of_a_framework_model": """
from nemo.core import ModelPT


class Recognizer(ModelPT):
    def __init__(self):
        super().__init__()
        self.net = MLP()
        self.validation_step_outputs = []

    def forward(self, x):
        return self.net(x)

    def validation_pass(self, batch):
        x, y = batch
        return {"val_loss": F.cross_entropy(self(x), y)}

    def validation_step(self, batch, batch_idx):
        metrics = self.validation_pass(batch)
        self.validation_step_outputs.append(metrics)
        return metrics
""",
    "lightning_validation_outputs_kept_for_epoch_end": """
import pytorch_lightning as pl


class LitClassifier(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = MLP()
        self.val_outputs = []

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self(x), y)
        self.val_outputs.append(loss)
        return loss

    def on_validation_epoch_end(self):
        self.log("val_loss", torch.stack(self.val_outputs).mean())
        self.val_outputs.clear()

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)
""",
    "count_returned_beside_the_loss": """
import flair

model = flair.models.SequenceTagger.load("ner")
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
seen = 0
for batch in range(100):
    optimizer.zero_grad()
    loss, count = model.forward_loss(batch)
    seen += count
    loss.backward()
    optimizer.step()
""",
    "rollout_after_grad_switched_off": """
def collect(policy, observations):
    torch.set_grad_enabled(False)
    trajectory = []
    for obs in observations:
        action = policy(obs)
        trajectory.append((obs, action))
    torch.set_grad_enabled(True)
    return trajectory


policy = MLP()
optimizer = torch.optim.Adam(policy.parameters(), lr=1e-3)
for it in range(10):
    trajectory = collect(policy, torch.randn(8, 16))
    print(f"collected {len(trajectory)} steps")
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    optimizer.zero_grad()
    loss = F.cross_entropy(policy(x), y)
    loss.backward()
    optimizer.step()
""",
    "exponential_decay_with_math_pow": """
import math

model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: math.pow(0.5, epoch // 10))
for epoch in range(50):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    scheduler.step()
""",
    "grad_reenabled_inside_inference_mode": """
model = MLP()
model.requires_grad_(False)
temperature = nn.Parameter(torch.ones(1))
optimizer = torch.optim.LBFGS([temperature], lr=0.01)
with torch.inference_mode():
    logits = model(torch.randn(64, 16)).clone()
labels = torch.randint(0, 4, (64,))
for it in range(50):
    with torch.inference_mode(False):
        optimizer.zero_grad()
        loss = F.cross_entropy(logits / temperature, labels)
        loss.backward()
        optimizer.step(lambda: loss)
""",
    "constant_support_as_a_frozen_parameter": """
class Distributional(nn.Module):
    def __init__(self, atoms=11):
        super().__init__()
        self.net = MLP(16, 4 * atoms)
        self.atoms = atoms
        self.support = nn.Parameter(torch.linspace(-10, 10, atoms), requires_grad=False)

    def forward(self, x):
        return self.net(x).view(-1, 4, self.atoms).softmax(-1)


model = Distributional()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(100):
    s, r, s2 = torch.randn(32, 16), torch.randn(32, 1), torch.randn(32, 16)
    with torch.no_grad():
        target_q = r + 0.99 * (model(s2) * model.support).sum(-1).max(-1).values.unsqueeze(1)
    loss = F.mse_loss(model(s).max(-1).values, target_q.expand(-1, model.atoms))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
""",
    "latent_search_by_gradients_of_the_input": """
encoder, scorer = nn.Sequential(nn.Linear(16, 8), nn.Tanh()), MLP(8, 1)
optimizer = torch.optim.Adam(list(encoder.parameters()) + list(scorer.parameters()), lr=1e-3)
latent = encoder(torch.randn(1, 16)).detach().requires_grad_()
for _ in range(20):
    score = scorer(latent).sum()
    grad, = torch.autograd.grad(score, latent)
    latent = (latent + 0.1 * grad).detach().requires_grad_()
""",
    "augmenting_wrapper_built_beside_the_optimizers_models": """
class Augment(nn.Module):
    def __init__(self, disc):
        super().__init__()
        self.disc = disc

    def forward(self, x):
        return self.disc(x + 0.1 * torch.randn_like(x))


class GanTrainer:
    def __init__(self):
        self.G, self.D = MLP(8, 16), nn.Sequential(nn.Linear(16, 1))
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=2e-4)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=2e-4)
        self.D_aug = Augment(self.D)

    def step(self):
        fake = self.G(torch.randn(32, 8))
        d_loss = F.softplus(self.D_aug(fake.detach())).mean() + F.softplus(-self.D_aug(torch.randn(32, 16))).mean()
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()
        g_loss = F.softplus(-self.D_aug(fake)).mean()
        self.opt_g.zero_grad()
        g_loss.backward()
        self.opt_g.step()


trainer = GanTrainer()
for _ in range(100):
    trainer.step()
""",
    "accumulated_steps_flushed_by_a_helper_and_for_the_tail": """
model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
accumulate = 4


def flush():
    optimizer.step()
    optimizer.zero_grad()


for i in range(100):
    x, y = torch.randn(8, 16), torch.randint(0, 4, (8,))
    (F.cross_entropy(model(x), y) / accumulate).backward()
    if (i + 1) % accumulate == 0:
        flush()
if (i + 1) % accumulate:
    flush()
""",
    "optimizers_over_disjoint_parameters_stepped_in_turn": """
gen, value = MLP(16, 4), MLP(16, 1)
opt_g = torch.optim.Adam(gen.parameters(), lr=1e-3)
opt_v = torch.optim.Adam(value.parameters(), lr=1e-3)
for step in range(100):
    x, y, r = torch.randn(32, 16), torch.randint(0, 4, (32,)), torch.randn(32, 1)
    loss = F.cross_entropy(gen(x), y) + F.mse_loss(value(x), r)
    loss.backward()
    opt_g.step()
    opt_g.zero_grad()
    opt_v.step()
    opt_v.zero_grad()
""",
    "backward_and_step_in_exclusive_mode_arms": """
class Learner:
    def __init__(self, mode):
        self.model = MLP()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.mode = mode

    def _backward(self, loss):
        loss.backward()

    def update(self, x, y):
        if self.mode == "plain":
            self.optimizer.zero_grad()
            F.cross_entropy(self.model(x), y).backward()
            self.optimizer.step()
        elif self.mode == "wrapped":
            self.optimizer.zero_grad()
            self._backward(F.cross_entropy(self.model(x), y))
            self.optimizer.step()


learner = Learner("plain")
for step in range(100):
    learner.update(torch.randn(32, 16), torch.randint(0, 4, (32,)))
""",
    "helper_runs_backward_per_task_after_zero_grad": """
model = MLP(16, 2)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)


def backward_per_task(losses, weights):
    for loss, w in zip(losses, weights):
        (w * loss).backward(retain_graph=True)


for step in range(100):
    x, y1, y2 = torch.randn(32, 16), torch.randn(32), torch.randn(32)
    out = model(x)
    losses = [F.mse_loss(out[:, 0], y1), F.mse_loss(out[:, 1], y2)]
    optimizer.zero_grad()
    backward_per_task(losses, [1.0, 0.5])
    optimizer.step()
""",
    "only_non_finite_gradients_dropped_and_logged": """
import logging
model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
skip_nonfinite = True
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    if skip_nonfinite:
        for name, p in model.named_parameters():
            if p.grad is not None and not torch.isfinite(p.grad).all():
                logging.warning("non-finite gradient in %s: left out of this step", name)
                p.grad = None
    optimizer.step()
""",
    "clears_under_complementary_accumulation_conditions": """
model = MLP()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
accum_count = 1
true_batches = [[(torch.randn(8, 16), torch.randint(0, 4, (8,)))] for _ in range(100)]
for batches in true_batches:
    if accum_count > 1:
        optimizer.zero_grad()
    for x, y in batches:
        if accum_count == 1:
            optimizer.zero_grad()
        (F.cross_entropy(model(x), y) / accum_count).backward()
    optimizer.step()
""",
    "gradients_cleared_by_a_library_zero_grads": """
from pyro.infer.util import zero_grads

model = MLP()
params = list(model.parameters())
optimizer = torch.optim.SGD(params, lr=0.1)
for step in range(100):
    x, y = torch.randn(32, 16), torch.randint(0, 4, (32,))
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
    zero_grads(params)
""",
}


@pytest.mark.parametrize("name", sorted(IDIOMS))
def test_idiom_is_silent(name):
    source = MLP + textwrap.dedent(IDIOMS[name])
    found = [(f.rule, f.line, f.message) for f in analyze_source(source, f"{name}.py", AnalysisOptions(), ProjectIndex())]
    assert found == []


# Each idiom's broken twin: one edit that turns the deliberate pattern into the bug, which
# must be flagged. This keeps the silence above meaningful (not silent because unanalysed).
BROKEN_TWINS = [
    # two instances of one module class (G, D = MLP(), MLP()): asked per instance, D's clean path does not hide G's cut
    ("gan_fake_detached_for_discriminator", "bce(D(fake), torch.ones", "bce(D(fake.detach()), torch.ones", "GL101"),
    ("dqn_target_network", "    q = q_net(s)", "    q = q_net(s).detach()", "GL101"),
    ("gradient_accumulation", "        optimizer.zero_grad()\n", "", "GL203"),
    ("gate_with_logged_skip", "    else:\n        print(f\"step {step}: skipped, gradient norm {norm}\")\n", "", "GL205"),
    ("frozen_backbone_fine_tuning", "    p.requires_grad = False\noptimizer = torch.optim.Adam(model.head",
     "    pass\noptimizer = torch.optim.Adam(model", "GL104"),
    ("nan_to_num_on_inputs_and_argmax_metric", "loss.backward()\n", "loss.backward()\n    for p in model.parameters():\n"
     "        p.grad.nan_to_num_(0.0)\n", "GL202"),
    ("item_logging_and_eval_loop", "total += loss.item()", "total += loss", "GL401"),
    ("lbfgs_closure", "    loss.backward()\n", "", "GL204"),
    ("trainer_keeps_models_and_optimizers_in_lists", "loss = F.cross_entropy(model(x), y)\n",
     "loss = F.cross_entropy(model(x), y)\n            self.frozen_names.append(loss)\n", "GL401"),
    ("setup_registers_a_wrapped_model_once", "self.history.append(loss.item())", "self.history.append(loss)", "GL401"),
    ("gradients_set_by_hand_in_an_optimizer_test", "    for p in params:\n        p.grad =",
     "    loss.backward()\n    for p in params:\n        p.grad =", "GL202"),
    ("stand_in_optimizer_with_zero_lr", "model.parameters(), lr=0.1", "model.parameters(), lr=0.0", "GL601"),
    ("learning_rate_set_by_hand", "        group[\"lr\"] = 1e-3 * min(1.0, (step + 1) / 100)\n", "        pass\n", "GL601"),
    ("nan_skip_clears_and_continues", "        continue\n", "", "GL201"),
    ("nan_skip_drops_gradients_and_returns", "            return None\n", "", "GL202"),
    ("gradients_cleared_by_own_helper", "        self._reset_grads()\n", "", "GL203"),
    ("gradients_overwritten_with_zeros_by_base_class", "torch.zeros_like(p)", "p.grad * 0.5", "GL203"),
    ("new_model_and_optimizer_per_trial", "for trial in range(10):\n    model = MLP()\n",
     "model = MLP()\nfor trial in range(10):\n", "GL203"),
    ("zero_grad_in_finally", "    finally:\n        optimizer.zero_grad()\n", "    finally:\n        print(step)\n", "GL203"),
    ("while_loop_until_converged", "        break\n    optimizer.zero_grad()\n",
     "        optimizer.zero_grad()\n        break\n", "GL203"),
    ("amp_skip_on_overflow_then_clear", "        continue\n", "", "GL201"),
    ("hinge_loss_skips_batches_with_nothing_to_learn", "if loss.item() > 0:", "if loss.item() < 5.0:", "GL205"),
    ("out_of_memory_batch_skipped", "        optimizer.zero_grad()\n    optimizer.step()",
     "    optimizer.zero_grad()\n    optimizer.step()", "GL201"),
    ("micro_batches_left_early", "    if not outputs:\n", "    optimizer.zero_grad()\n    if not outputs:\n", "GL201"),
    ("heads_warm_up_before_the_shared_trunk", "in model.trunk.parameters()", "in model.parameters()", "GL202"),
    ("a2c_advantage_uses_detached_values", "loss = policy_loss + 0.5 * value_loss", "loss = policy_loss", "GL304"),
    ("a2c_advantage_uses_detached_values", "    loss.backward()", "    policy_loss.backward()", "GL206"),
    ("loss_terms_returned_to_the_caller_of_a_library_step", "    cls_loss = F.cross_entropy(model(x), y)\n    optimizer",
     "    cls_loss, aux_loss = compute_losses(x, y, torch.randn(32))\n    optimizer", "GL304"),
    ("auxiliary_loss_kept_on_the_learner_for_a_second_backward", "self.aux_loss = F.mse_loss", "aux_loss = F.mse_loss",
     "GL304"),
    ("detection_total_back_propagated_and_parts_logged", "    total.backward()", "    cls_loss.backward()", "GL206"),
    ("detection_total_back_propagated_and_parts_logged", "    total.backward()", "    total = cls_loss\n    total.backward()",
     "GL304"),
    ("loss_terms_collected_in_a_list_and_summed_in_a_step_function", "    terms.append(0.1 * aux_loss)\n", "", "GL304"),
    ("loss_terms_collected_in_a_list_and_summed_in_a_step_function", "    total.backward()", "    main_loss.backward()",
     "GL206"),
    ("one_optimizer_per_parameter_stepped_when_it_has_a_gradient", "if p.grad is not None:",
     "if p.grad.abs().sum() > 0:", "GL205"),
    ("loss_spike_guard_counts_skips", "print(f\"{skipped} updates skipped as loss spikes\")\n", "", "GL205"),
    ("pipeline_samples_kept_for_logging", 'pipeline("a photo of a cat", num_inference_steps=20).images',
     "model(torch.randn(4, 16))", "GL401"),
    ("sampler_of_the_project_runs_without_grad", "    @torch.no_grad()\n    def __call__", "    def __call__", "GL401"),
    ("captions_and_eval_table_rows", "tokenizer.batch_decode(ids)", "logits", "GL401"),
    ("captions_and_eval_table_rows", '"%.4f" % loss', "loss", "GL401"),
    ("batch_slices_kept_as_examples", "(x[:4] + 1) / 2", "(model(x[:4]) + 1) / 2", "GL401"),
    ("leaf_parameter_built_once_from_outputs", "history.append(prototypes)", "history.append(prototypes * 1.0)", "GL401"),
    ("hook_handles_registered_before_training", "handles.append(module.register_forward_hook(",
     "handles.append(model(torch.randn(2, 16)), (", "GL401"),
    ("list_made_afresh_each_iteration", "    for step in range(steps):\n        chunk_norms = []\n",
     "    chunk_norms = []\n    for step in range(steps):\n", "GL401"),
    ("short_logging_loop_before_training", "for i in range(4):\n        initial.append(model(fixed[i:i + 1]))",
     "for xb in fixed.split(1):\n        initial.append(model(xb))", "GL401"),
    ("step_decay_by_powers_of_a_tenth", "lambda epoch: 0.1 ** (epoch // 30)", "lambda epoch: min(1.0, epoch // 5)", "GL601"),
    ("parameter_groups_built_for_the_optimizer", '"weight_decay": 0.0', '"out": model(torch.randn(2, 16)), "weight_decay": 0.0',
     "GL401"),
    ("lightning_validation_outputs_kept_for_epoch_end", "        return F.cross_entropy(self(x), y)\n",
     "        loss = F.cross_entropy(self(x), y)\n        self.val_outputs.append(loss)\n        return loss\n", "GL401"),
    ("count_returned_beside_the_loss", "seen += count", "seen += model(batch).sum()", "GL401"),
    ("validation_hook_of_a_framework_model", "def validation_step(self", "def training_step(self", "GL401"),
    ("mask_parameters_collected_from_a_dict", "            parameters.append(mask)\n",
     "            parameters.append(mask)\n            parameters.append(self.model(x))\n", "GL401"),
    ("predictions_list_made_afresh_per_call", "        self.predictions = []\n        for", "        for", "GL401"),
    ("rollout_after_grad_switched_off", "    torch.set_grad_enabled(False)\n", "", "GL401"),
    ("exponential_decay_with_math_pow", "math.pow(0.5, epoch // 10)", "min(1.0, epoch // 10)", "GL601"),
    ("grad_reenabled_inside_inference_mode", "torch.inference_mode(False)", "torch.inference_mode(True)", "GL104"),
    ("constant_support_as_a_frozen_parameter", ", requires_grad=False)", ")", "GL104"),
    ("zero_lr_optimizer_in_a_scheduler_test", "    return torch.optim.lr_scheduler.StepLR(",
     "    optimizer.step()\n    return torch.optim.lr_scheduler.StepLR(", "GL601"),
    ("latent_search_by_gradients_of_the_input", "torch.autograd.grad(score, latent)",
     "torch.autograd.grad(score, list(encoder.parameters()))", "GL101"),
    ("augmenting_wrapper_built_beside_the_optimizers_models", "        self.D_aug = Augment(self.D)\n",
     "        self.D_aug = Augment(self.D)\n        self.G.body = nn.Sequential(nn.Linear(8, 16))\n", "GL501"),
    ("accumulated_steps_flushed_by_a_helper_and_for_the_tail", "    optimizer.step()\n    optimizer.zero_grad()\n",
     "    optimizer.zero_grad()\n    optimizer.step()\n", "GL201"),
    ("optimizers_over_disjoint_parameters_stepped_in_turn", "    opt_g.step()\n    opt_g.zero_grad()\n",
     "    opt_g.zero_grad()\n    opt_g.step()\n", "GL201"),
    ("backward_and_step_in_exclusive_mode_arms", "backward()\n            self.optimizer.step()\n",
     "backward()\n            self.optimizer.zero_grad()\n            self.optimizer.step()\n", "GL201"),
    ("helper_runs_backward_per_task_after_zero_grad", "    optimizer.zero_grad()\n    backward_per_task(losses, [1.0, 0.5])\n",
     "    backward_per_task(losses, [1.0, 0.5])\n    optimizer.zero_grad()\n", "GL201"),
    ("only_non_finite_gradients_dropped_and_logged",
     "            if p.grad is not None and not torch.isfinite(p.grad).all():\n",
     "            if p.grad is not None:\n", "GL202"),
    ("clears_under_complementary_accumulation_conditions", "    if accum_count > 1:\n        optimizer.zero_grad()\n",
     "", "GL203"),
    ("gradients_cleared_by_a_library_zero_grads", "    zero_grads(params)\n", "", "GL203"),
]


@pytest.mark.parametrize("name, old, new, code", BROKEN_TWINS,
                         ids=[getattr(t, "values", t)[0] for t in BROKEN_TWINS])
def test_broken_twin_is_flagged(name, old, new, code):
    source = MLP + textwrap.dedent(IDIOMS[name])
    assert old in source
    broken = source.replace(old, new, 1)
    assert code in [f.rule for f in analyze_source(broken, f"{name}.py", AnalysisOptions(), ProjectIndex())]


def test_detach_after_local_class_submodule_is_flagged():
    source = MLP + textwrap.dedent("""
        class Wrapper(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = MLP(16, 8)
                self.head = nn.Linear(8, 2)

            def forward(self, x):
                return self.head(self.encoder(x).detach())


        model = Wrapper()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for step in range(10):
            optimizer.zero_grad()
            loss = F.cross_entropy(model(torch.randn(4, 16)), torch.randint(0, 2, (4,)))
            loss.backward()
            optimizer.step()
    """)
    assert "GL101" in [f.rule for f in analyze_source(source, "wrapper.py", AnalysisOptions(), ProjectIndex())]
