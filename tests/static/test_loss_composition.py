"""Which loss terms reach the tensor backward() is called on (issue #11, loss composition).

Each mechanism has several variants of the bug, each flagged on the line marked `# HERE`
(where the term was dropped, or the layer that only the dropped term trains), and correct
twins that must stay completely silent. The programs are complete (model, optimizer,
backward), so silence means the engine followed the terms, not that it gave up early.
"""
from __future__ import annotations

import textwrap

import pytest

from graphlint.engine import AnalysisOptions, ProjectIndex, analyze_source

HEADER = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from collections import namedtuple


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(16, 32)
        self.cls_head = nn.Linear(32, 3)
        self.box_head = nn.Linear(32, 4)  # BOX

    def forward(self, x):
        h = torch.relu(self.body(x))
        return self.cls_head(h), self.box_head(h)

"""


def findings(source: str):
    return analyze_source(source, "case.py", AnalysisOptions(), ProjectIndex())


def edited(source: str, *edits: tuple[str, str]) -> str:
    """A correct twin as an edit of its bug: each edit must apply."""
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new)
    return source


def marked_line(source: str, marker: str = "# HERE") -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if line.rstrip().endswith(marker))


# -- backward() on a part of a total that a helper computes beside its terms (GL206) ------------------
HELPER_TOTAL = {
    "tuple_of_terms_and_total": """
def detection_losses(outputs, y, boxes, box_weight):
    logits, box_pred = outputs
    cls_loss = F.cross_entropy(logits, y)
    box_loss = F.smooth_l1_loss(box_pred, boxes)
    total = cls_loss + box_weight * box_loss
    return cls_loss, box_loss, total


model = Detector()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(10):
    x, y, boxes = torch.randn(8, 16), torch.randint(0, 3, (8,)), torch.randn(8, 4)
    cls_loss, box_loss, total = detection_losses(model(x), y, boxes, 2.0)
    optimizer.zero_grad()
    cls_loss.backward()  # HERE
    optimizer.step()
    print(total.item(), box_loss.item())
""",
    "criterion_method_returns_terms_then_total": """
class DetectionCriterion:
    def __init__(self, box_weight=2.0):
        self.box_weight = box_weight

    def __call__(self, outputs, y, boxes):
        cls_loss = F.cross_entropy(outputs[0], y)
        box_loss = F.l1_loss(outputs[1], boxes)
        return cls_loss, cls_loss + self.box_weight * box_loss


def train(model, criterion, optimizer, steps):
    for step in range(steps):
        x, y, boxes = torch.randn(8, 16), torch.randint(0, 3, (8,)), torch.randn(8, 4)
        main_loss, full_loss = criterion(model(x), y, boxes)
        optimizer.zero_grad()
        main_loss.backward()  # HERE
        optimizer.step()
        print(full_loss.item())


net = Detector()
train(net, DetectionCriterion(), torch.optim.Adam(net.parameters(), lr=1e-3), 10)
""",
    "dict_of_terms_with_the_total_from_a_dict_output": """
class DictDetector(Detector):
    def forward(self, x):
        h = torch.relu(self.body(x))
        return {"logits": self.cls_head(h), "boxes": self.box_head(h)}


def compute(out, y, boxes):
    cls_loss = F.cross_entropy(out["logits"], y)
    box_loss = F.l1_loss(out["boxes"], boxes)
    total = cls_loss + box_loss
    return {"cls": cls_loss, "box": box_loss, "total": total}


model = DictDetector()
opt = torch.optim.Adam(model.parameters())
for step in range(10):
    x, y, b = torch.randn(4, 16), torch.randint(0, 3, (4,)), torch.randn(4, 4)
    losses = compute(model(x), y, b)
    opt.zero_grad()
    losses["cls"].backward()  # HERE
    opt.step()
    print({k: v.item() for k, v in losses.items()})
""",
}


@pytest.mark.parametrize("name", sorted(HELPER_TOTAL))
def test_backward_on_a_part_of_a_helpers_total_is_flagged(name):
    source = HEADER + textwrap.dedent(HELPER_TOTAL[name])
    found = [(f.rule, f.line) for f in findings(source)]
    assert ("GL206", marked_line(source)) in found, found


# -- a returned output that the loss helper drops (GL304) -----------------------------------------------
DROPPED_OUTPUT = {
    "namedtuple_in_training_mode_and_isinstance_check": """
Outputs = namedtuple("Outputs", ["logits", "aux"])


class Inception(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Linear(16, 32)
        self.aux_head = nn.Linear(32, 4)  # HERE
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        h = torch.relu(self.stem(x))
        if self.training:
            return Outputs(self.head(h), self.aux_head(h))
        return self.head(h)


def classification_loss(out, target):
    logits = out[0] if isinstance(out, tuple) else out
    return F.cross_entropy(logits, target)


model = Inception()
optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
for step in range(10):
    x, y = torch.randn(8, 16), torch.randint(0, 4, (8,))
    loss = classification_loss(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
""",
    "plain_tuple_unpacked_in_a_helper_of_another_name": """
def criterion(predictions, labels, boxes):
    scores, _ = predictions
    return F.cross_entropy(scores, labels)


detector = Detector()
opt = torch.optim.SGD(detector.parameters(), lr=0.01)
for epoch in range(3):
    for x, labels, boxes in [(torch.randn(4, 16), torch.randint(0, 3, (4,)), torch.randn(4, 4))]:
        opt.zero_grad()
        criterion(detector(x), labels, boxes).backward()
        opt.step()
""",
    "if_statement_isinstance_check_keeps_only_the_first_output": """
def compute_loss(out, y):
    if isinstance(out, (tuple, list)):
        logits = out[0]
    else:
        logits = out
    return F.cross_entropy(logits, y)


model = Detector()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(10):
    x, y = torch.randn(8, 16), torch.randint(0, 3, (8,))
    loss = compute_loss(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
""",
    "parameter_replaced_by_its_first_element_when_a_tuple": """
class AuxNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(16, 32)
        self.head = nn.Linear(32, 3)
        self.aux = nn.Linear(32, 3)  # HERE

    def forward(self, x):
        h = torch.relu(self.body(x))
        if self.training:
            return self.head(h), self.aux(h)
        return self.head(h)


def loss_fn(outputs, y):
    if isinstance(outputs, tuple):
        outputs = outputs[0]
    return F.cross_entropy(outputs, y)


model = AuxNet()
opt = torch.optim.Adam(model.parameters())
for step in range(10):
    x, y = torch.randn(4, 16), torch.randint(0, 3, (4,))
    loss = loss_fn(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
""",
    "starred_unpacking_keeps_only_the_first_output": """
class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Linear(16, 3)
        self.aux = nn.Linear(16, 3)  # HERE

    def forward(self, h):
        return self.main(h), F.cross_entropy(self.aux(h), torch.zeros(len(h), dtype=torch.long)), h.norm()


class Wrapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.heads = Heads()

    def forward(self, x):
        logits, *_ = self.heads(x)
        return logits


model = Wrapper()
opt = torch.optim.Adam(model.parameters())
for step in range(10):
    x, y = torch.randn(4, 16), torch.randint(0, 3, (4,))
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
""",
}


@pytest.mark.parametrize("name", sorted(DROPPED_OUTPUT))
def test_an_output_the_loss_helper_drops_is_flagged(name):
    source = HEADER + textwrap.dedent(DROPPED_OUTPUT[name])
    marker = "# HERE" if "# HERE" in source else "# BOX"
    found = [(f.rule, f.line, f.category) for f in findings(source)]
    assert ("GL304", marked_line(source, marker), "unused-param") in found, found


# -- a term computed and logged but left out of the total (GL304 on the layer only it trains) ------------
LEFT_OUT = {
    "learner_keeps_a_dict_of_terms_and_backpropagates_one": """
class ActorCritic(nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(8, 32)
        self.pi = nn.Linear(32, 4)
        self.v = nn.Linear(32, 1)  # HERE

    def forward(self, obs):
        h = torch.tanh(self.shared(obs))
        return self.pi(h), self.v(h).squeeze(-1)


def value_loss_fn(values, returns):
    return F.smooth_l1_loss(values, returns)


def policy_loss_fn(logits, actions, adv):
    logp = torch.log_softmax(logits, -1).gather(1, actions[:, None]).squeeze(1)
    return -(logp * adv).mean()


class PPO:
    def __init__(self, cfg):
        self.net = ActorCritic()
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg["lr"])
        self.vf_coef = cfg["vf_coef"]

    def learn(self, obs, actions, returns):
        logits, values = self.net(obs)
        adv = returns - values.detach()
        losses = {"policy": policy_loss_fn(logits, actions, adv), "value": value_loss_fn(values, returns)}
        loss = losses["policy"]
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {k: v.item() for k, v in losses.items()}


agent = PPO({"lr": 3e-4, "vf_coef": 0.5})
for it in range(5):
    print(agent.learn(torch.randn(16, 8), torch.randint(0, 4, (16,)), torch.randn(16)))
""",
}


@pytest.mark.parametrize("name", sorted(LEFT_OUT))
def test_a_term_left_out_of_the_total_is_flagged(name):
    source = HEADER + textwrap.dedent(LEFT_OUT[name])
    found = [(f.rule, f.line, f.category) for f in findings(source)]
    assert ("GL304", marked_line(source), "unused-param") in found, found


# -- terms summed over the keys of a dict that a constant decides (GL304 at the sum) ----------------------
KEY_SELECTED = {
    "config_dict_weights_name_another_key": """
CFG = {"lr": 1e-3, "loss_terms": {"cls": 1.0, "box_regression": 0.5}}


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(16, 32)
        self.cls_head = nn.Linear(32, 3)
        self.box_head = nn.Linear(32, 4)

    def forward(self, x, y, boxes):
        h = torch.relu(self.body(x))
        return {"cls": F.cross_entropy(self.cls_head(h), y), "box": F.l1_loss(self.box_head(h), boxes)}


def weighted_total(losses, weights):
    return sum(w * losses[k] for k, w in weights.items() if k in losses)  # HERE


model = Model()
optimizer = torch.optim.Adam(model.parameters(), lr=CFG["lr"])
for step in range(10):
    x, y, boxes = torch.randn(8, 16), torch.randint(0, 3, (8,)), torch.randn(8, 4)
    losses = model(x, y, boxes)
    loss = weighted_total(losses, CFG["loss_terms"])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
""",
    "weight_dict_given_to_the_criterion_constructor": """
class SetCriterion(nn.Module):
    def __init__(self, weight_dict):
        super().__init__()
        self.weight_dict = weight_dict

    def get_losses(self, outputs, y, boxes):
        return {"loss_ce": F.cross_entropy(outputs[0], y), "loss_bbox": F.l1_loss(outputs[1], boxes)}

    def forward(self, outputs, y, boxes):
        losses = self.get_losses(outputs, y, boxes)
        return sum(losses[k] * self.weight_dict[k] for k in losses.keys() if k in self.weight_dict)  # HERE


model = Detector()
criterion = SetCriterion(weight_dict={"loss_ce": 1.0, "loss_giou": 2.0})
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
for step in range(10):
    x, y, boxes = torch.randn(8, 16), torch.randint(0, 3, (8,)), torch.randn(8, 4)
    loss = criterion(model(x), y, boxes)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
""",
    "module_constant_iterated_directly": """
LOSS_WEIGHTS = {"classification": 1.0, "boxes": 5.0}


def step(model, optimizer, x, y, boxes):
    logits, box_pred = model(x)
    terms = {"classification": F.cross_entropy(logits, y), "bbox": F.mse_loss(box_pred, boxes)}
    loss = sum([LOSS_WEIGHTS[name] * terms[name] for name in LOSS_WEIGHTS])  # HERE
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


model = Detector()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for i in range(10):
    step(model, optimizer, torch.randn(8, 16), torch.randint(0, 3, (8,)), torch.randn(8, 4))
""",
    "tuple_of_loss_names": """
LOSS_NAMES = ("cls", "reconstruction")


class AE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(16, 8)
        self.dec = nn.Linear(8, 16)
        self.cls = nn.Linear(8, 3)

    def forward(self, x, y):
        z = self.enc(x)
        return {"cls": F.cross_entropy(self.cls(z), y), "recon": F.mse_loss(self.dec(z), x)}


model = AE()
opt = torch.optim.Adam(model.parameters())
for step in range(10):
    x, y = torch.randn(4, 16), torch.randint(0, 3, (4,))
    losses = model(x, y)
    loss = sum(losses[name] for name in LOSS_NAMES)  # HERE
    opt.zero_grad()
    loss.backward()
    opt.step()
""",
}


@pytest.mark.parametrize("name", sorted(KEY_SELECTED))
def test_terms_left_out_by_the_keys_of_a_constant_dict_are_flagged(name):
    source = HEADER + textwrap.dedent(KEY_SELECTED[name])
    found = [(f.rule, f.line, f.category) for f in findings(source)]
    assert ("GL304", marked_line(source), "unused-param") in found, found


def test_the_key_report_names_the_dict_that_decides():
    source = HEADER + textwrap.dedent(KEY_SELECTED["weight_dict_given_to_the_criterion_constructor"])
    report = next(f for f in findings(source) if f.rule == "GL304")
    constructor = next(i for i, line in enumerate(source.splitlines(), 1) if "SetCriterion(weight_dict=" in line)
    assert constructor in [r.line for r in report.related]
    assert "'loss_bbox'" in report.message


# -- a loss replaced on each iteration of a loop over heads (GL305) --------------------------------------
OVERWRITTEN = {
    "dict_of_head_outputs": """
class MultiTask(nn.Module):
    def __init__(self, tasks):
        super().__init__()
        self.trunk = nn.Linear(16, 32)
        self.heads = nn.ModuleDict({name: nn.Linear(32, n) for name, n in tasks.items()})

    def forward(self, x):
        h = torch.relu(self.trunk(x))
        return {name: head(h) for name, head in self.heads.items()}


def train_step(model, optimizer, x, targets):
    optimizer.zero_grad()
    for name, logits in model(x).items():
        loss = F.cross_entropy(logits, targets[name])  # HERE
    loss.backward()
    optimizer.step()


model = MultiTask({"a": 3, "b": 5})
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(10):
    train_step(model, optimizer, torch.randn(8, 16), {"a": torch.randint(0, 3, (8,)), "b": torch.randint(0, 5, (8,))})
""",
    "list_of_outputs_zipped_with_targets": """
class DeepSupervision(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(16, 16) for _ in range(3)])
        self.heads = nn.ModuleList([nn.Linear(16, 3) for _ in range(3)])

    def forward(self, x):
        outs = []
        for block, head in zip(self.blocks, self.heads):
            x = torch.relu(block(x))
            outs.append(head(x))
        return outs


net = DeepSupervision()
opt = torch.optim.SGD(net.parameters(), lr=0.1)
for it in range(10):
    x, y = torch.randn(8, 16), torch.randint(0, 3, (8,))
    for logits in net(x):
        total = F.cross_entropy(logits, y)  # HERE
    opt.zero_grad()
    total.backward()
    opt.step()
""",
    "loop_over_the_heads_themselves": """
class Ensemble(nn.Module):
    def __init__(self):
        super().__init__()
        self.members = nn.ModuleList([nn.Linear(16, 3) for _ in range(4)])


model = Ensemble()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(10):
    x, y = torch.randn(8, 16), torch.randint(0, 3, (8,))
    optimizer.zero_grad()
    for member in model.members:
        loss = F.cross_entropy(member(x), y)  # HERE
    loss.backward()
    optimizer.step()
""",
    "heads_indexed_by_the_loop_counter": """
class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Linear(16, 32)
        self.heads = nn.ModuleList([nn.Linear(32, 3), nn.Linear(32, 3)])

    def forward(self, x):
        h = torch.relu(self.trunk(x))
        return [head(h) for head in self.heads]


model = TwoHeads()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(10):
    x, targets = torch.randn(8, 16), [torch.randint(0, 3, (8,)) for _ in range(2)]
    outputs = model(x)
    for i in range(len(outputs)):
        loss = F.cross_entropy(outputs[i], targets[i])  # HERE
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
""",
}


@pytest.mark.parametrize("name", sorted(OVERWRITTEN))
def test_a_loss_overwritten_in_a_loop_over_heads_is_flagged(name):
    source = HEADER + textwrap.dedent(OVERWRITTEN[name])
    found = [(f.rule, f.line, f.category) for f in findings(source)]
    assert ("GL305", marked_line(source), "unused-param") in found, found


# -- correct twins: silent -----------------------------------------------------------------------------
CORRECT = {
    "starred_unpacking_keeps_the_aux_loss_and_adds_it": """
class Heads(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Linear(16, 3)
        self.aux = nn.Linear(16, 3)

    def forward(self, h):
        return self.main(h), F.cross_entropy(self.aux(h), torch.zeros(len(h), dtype=torch.long)), h.norm()


class Wrapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.heads = Heads()

    def forward(self, x):
        logits, aux_loss, *_ = self.heads(x)
        return logits, aux_loss


model = Wrapper()
opt = torch.optim.Adam(model.parameters())
for step in range(10):
    x, y = torch.randn(4, 16), torch.randint(0, 3, (4,))
    logits, aux_loss = model(x)
    loss = F.cross_entropy(logits, y) + 0.1 * aux_loss
    opt.zero_grad()
    loss.backward()
    opt.step()
""",
    "backward_on_the_helpers_total": edited(HELPER_TOTAL["tuple_of_terms_and_total"],
                                            ("cls_loss.backward()  # HERE", "total.backward()")),
    "terms_handed_to_a_static_update_helper": """
class Agent:
    def __init__(self):
        self.model = Detector()
        self.opt_cls = torch.optim.Adam(list(self.model.body.parameters()) + list(self.model.cls_head.parameters()))
        self.opt_box = torch.optim.Adam(self.model.box_head.parameters(), lr=1e-3)

    def update(self, x, y, boxes):
        logits, box_pred = self.model(x)
        cls_loss = F.cross_entropy(logits, y)
        self.optimizer_update(self.opt_cls, cls_loss)
        logits, box_pred = self.model(x)
        box_loss = F.mse_loss(box_pred, boxes)
        self.optimizer_update(self.opt_box, box_loss)
        return cls_loss.item(), box_loss.item()

    @staticmethod
    def optimizer_update(optimizer, objective):
        optimizer.zero_grad()
        objective.backward()
        optimizer.step()


agent = Agent()
for step in range(10):
    agent.update(torch.randn(8, 16), torch.randint(0, 3, (8,)), torch.randn(8, 4))
""",
    "dict_of_losses_summed_over_its_values": """
def compute_losses(model, x, y, boxes):
    logits, box_pred = model(x)
    return {"cls": F.cross_entropy(logits, y), "box": F.l1_loss(box_pred, boxes)}


model = Detector()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(10):
    losses = compute_losses(model, torch.randn(8, 16), torch.randint(0, 3, (8,)), torch.randn(8, 4))
    loss = sum(losses.values())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print({k: v.item() for k, v in losses.items()})
""",
    "weight_dict_covers_every_term": edited(KEY_SELECTED["weight_dict_given_to_the_criterion_constructor"],
                                            ('{"loss_ce": 1.0, "loss_giou": 2.0}', '{"loss_ce": 1.0, "loss_bbox": 5.0}')),
    "config_weights_read_with_a_fallback": edited(KEY_SELECTED["config_dict_weights_name_another_key"], (
        "sum(w * losses[k] for k, w in weights.items() if k in losses)  # HERE",
        "sum(weights.get(k, 1.0) * v for k, v in losses.items())")),
    "weights_filled_in_at_run_time": edited(KEY_SELECTED["module_constant_iterated_directly"],
                                            ("def step(", 'LOSS_WEIGHTS.update({"bbox": 1.0})\n\n\ndef step(')),
    "loss_names_cover_every_term": edited(KEY_SELECTED["tuple_of_loss_names"],
                                          ('LOSS_NAMES = ("cls", "reconstruction")', 'LOSS_NAMES = ("cls", "recon")')),
    "learner_sums_both_terms": edited(LEFT_OUT["learner_keeps_a_dict_of_terms_and_backpropagates_one"], (
        '        loss = losses["policy"]\n', '        loss = losses["policy"] + self.vf_coef * losses["value"]\n')),
    "learner_sums_the_dict_values": edited(LEFT_OUT["learner_keeps_a_dict_of_terms_and_backpropagates_one"], (
        '        loss = losses["policy"]\n', "        loss = sum(losses.values())\n")),
    "metric_term_only_logged_on_purpose": """
model = Detector()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for step in range(10):
    x, y, boxes = torch.randn(8, 16), torch.randint(0, 3, (8,)), torch.randn(8, 4)
    logits, box_pred = model(x)
    box_loss = F.smooth_l1_loss(box_pred, boxes)
    box_l1 = F.l1_loss(box_pred, boxes)
    loss = F.cross_entropy(logits, y) + box_loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(f"l1 {box_l1.item():.3f}")
""",
    "validation_loss_of_a_model_that_trains_elsewhere": """
model = Detector()
model.eval()
with torch.no_grad():
    for step in range(3):
        logits, box_pred = model(torch.randn(8, 16))
        val_loss = F.cross_entropy(logits, torch.randint(0, 3, (8,))) + F.l1_loss(box_pred, torch.randn(8, 4))
        print(val_loss.item())
calibrated = torch.nn.Parameter(torch.ones(1))
opt = torch.optim.SGD([calibrated], lr=0.1)
for step in range(3):
    loss = (calibrated - 2.0).pow(2).sum()
    opt.zero_grad()
    loss.backward()
    opt.step()
""",
    "both_outputs_used_after_the_isinstance_check": edited(DROPPED_OUTPUT["namedtuple_in_training_mode_and_isinstance_check"], (
        "    logits = out[0] if isinstance(out, tuple) else out\n    return F.cross_entropy(logits, target)",
        "    if isinstance(out, tuple):\n        return F.cross_entropy(out[0], target) + 0.4 * F.cross_entropy(out[1], target)\n"
        "    return F.cross_entropy(out, target)")),
    "aux_output_weighted_into_the_loss": edited(DROPPED_OUTPUT["parameter_replaced_by_its_first_element_when_a_tuple"], (
        "        outputs = outputs[0]\n", "        outputs = outputs[0] + 0.4 * outputs[1]\n")),
    "loss_accumulated_over_heads": edited(OVERWRITTEN["dict_of_head_outputs"], (
        "    for name, logits in model(x).items():\n        loss = F.cross_entropy(logits, targets[name])  # HERE",
        "    loss = 0\n    for name, logits in model(x).items():\n        loss = loss + F.cross_entropy(logits, targets[name])")),
    "loss_added_to_a_total_inside_the_loop": edited(OVERWRITTEN["list_of_outputs_zipped_with_targets"], (
        "    for logits in net(x):\n        total = F.cross_entropy(logits, y)  # HERE\n    opt.zero_grad()\n    total.backward()",
        "    total = 0\n    for logits in net(x):\n        loss = F.cross_entropy(logits, y)\n        total += loss\n"
        "    opt.zero_grad()\n    total.backward()")),
    "backward_inside_the_loop_over_heads": edited(OVERWRITTEN["loop_over_the_heads_themselves"], (
        "        loss = F.cross_entropy(member(x), y)  # HERE\n    loss.backward()",
        "        loss = F.cross_entropy(member(x), y)\n        loss.backward()")),
    "indexed_heads_summed": edited(OVERWRITTEN["heads_indexed_by_the_loop_counter"], (
        "    for i in range(len(outputs)):\n        loss = F.cross_entropy(outputs[i], targets[i])  # HERE",
        "    loss = 0\n    for i in range(len(outputs)):\n        loss = loss + F.cross_entropy(outputs[i], targets[i])")),
    "loop_over_batch_indices_backward_inside": """
model = Detector()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
xs, ys = torch.randn(32, 16), torch.randint(0, 3, (32,))
for epoch in range(3):
    for i in range(4):
        logits, box_pred = model(xs[i * 8:(i + 1) * 8])
        loss = F.cross_entropy(logits, ys[i * 8:(i + 1) * 8]) + box_pred.pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
""",
    "loop_over_batches_keeps_the_last_loss_for_logging": """
model = Detector()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
batches = [(torch.randn(8, 16), torch.randint(0, 3, (8,))) for _ in range(4)]
for epoch in range(3):
    for x, y in batches:
        logits, box_pred = model(x)
        loss = F.cross_entropy(logits, y) + F.l1_loss(box_pred, torch.zeros(8, 4))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(epoch, loss.item())
""",
}


@pytest.mark.parametrize("name", sorted(CORRECT))
def test_correct_loss_composition_is_silent(name):
    source = HEADER + textwrap.dedent(CORRECT[name])
    assert [(f.rule, f.line, f.message) for f in findings(source)] == []
