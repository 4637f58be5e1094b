"""GL401 follows graph-carrying values into the objects that keep them past the training iteration.

Each program is complete (model, optimizer, backward). A line marked `# kept` is where a graph is kept
(the finding's line); a line marked `# handed` is where the training code hands the value over (the
finding's related location). A program with no mark (or a twin) is correct and must stay silent (no finding
of any rule). Variations per mechanism: other names, other containers, values passed through
`**kwargs`, a dict of meters, a callback list, a layer's forward, a local running value.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from graphlint.engine import AnalysisOptions, ProjectIndex, analyze_source

HEADER = """
import random
from collections import defaultdict, deque

import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self, n_in=16, n_out=4):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, 32), nn.ReLU(), nn.Linear(32, n_out))

    def forward(self, x):
        return self.body(x)

"""

# -- helper objects whose methods keep what they are given ------------------------------------------------
METERS = {
    "average_meter_sums_tensors": """
class AverageMeter:
    def __init__(self):
        self.sum, self.count = 0.0, 0

    def update(self, val, n=1):
        self.sum += val * n  # kept
        self.count += n


model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
meter = AverageMeter()
for step in range(100):
    x, y = torch.randn(8, 16), torch.randint(0, 4, (8,))
    loss = F.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    meter.update(loss, x.size(0))  # handed
print(meter.sum / meter.count)
""",
    "tracker_logs_keyword_arguments_into_deques": """
class Window:
    def __init__(self, size=50):
        self.values = deque(maxlen=size)

    def push(self, v):
        self.values.append(v)  # kept


class Tracker:
    def __init__(self):
        self.windows = defaultdict(Window)

    def log(self, **metrics):
        for key, value in metrics.items():
            self.windows[key].push(value)


def train(model, opt, tracker):
    for step in range(100):
        x, y = torch.randn(8, 16), torch.randint(0, 4, (8,))
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tracker.log(loss=loss, acc=(logits.argmax(-1) == y).float().mean())  # handed


model = Net()
train(model, torch.optim.Adam(model.parameters()), Tracker())
""",
    "history_dict_literal_of_lists": """
class Trainer:
    def __init__(self, model):
        self.model = model
        self.opt = torch.optim.Adam(model.parameters())
        self.history = {"loss": [], "reg": []}

    def record(self, loss, reg):
        self.history["loss"].append(loss.item())
        self.history["reg"].append(reg)  # kept

    def fit(self, steps):
        for step in range(steps):
            x, y = torch.randn(8, 16), torch.randint(0, 4, (8,))
            out = self.model(x)
            reg = out.pow(2).mean()
            loss = F.cross_entropy(out, y) + 1e-3 * reg
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
            self.record(loss, reg)  # handed


Trainer(Net()).fit(100)
""",
    "meters_in_a_dict_by_name": """
class RunningMean:
    def __init__(self):
        self.total, self.n = 0.0, 0

    def add(self, value):
        self.total = self.total + value  # kept
        self.n += 1


meters = {"loss": RunningMean(), "aux": RunningMean()}
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for x, y in [(torch.randn(8, 16), torch.randint(0, 4, (8,))) for _ in range(50)]:
    out = model(x)
    loss = F.cross_entropy(out, y)
    aux = out.abs().mean()
    opt.zero_grad()
    (loss + 0.1 * aux).backward()
    opt.step()
    meters["loss"].add(loss.detach())
    meters["aux"].add(aux)  # handed
""",
    "smoother_called_like_a_function_keeps_an_ema_chain": """
class Ema:
    def __init__(self, decay=0.99):
        self.decay = decay
        self.value = None

    def __call__(self, x):
        if self.value is None:
            self.value = x
        else:
            self.value = self.decay * self.value + (1 - self.decay) * x  # kept
        return self.value


model = Net()
opt = torch.optim.Adam(model.parameters())
smooth = Ema()
for step in range(100):
    loss = F.cross_entropy(model(torch.randn(8, 16)), torch.randint(0, 4, (8,)))
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(step, float(smooth(loss)))  # handed
""",
    "early_stopping_keeps_validation_losses": """
class Stopper:
    def __init__(self):
        self.seen = []

    def should_stop(self, metric):
        self.seen.append(metric)  # kept
        return len(self.seen) > 3 and metric > min(self.seen[:-1])


def evaluate(model):
    model.eval()
    out = F.cross_entropy(model(torch.randn(32, 16)), torch.randint(0, 4, (32,)))
    model.train()
    return out


model = Net()
opt = torch.optim.Adam(model.parameters())
stopper = Stopper()
for epoch in range(20):
    for step in range(10):
        loss = F.cross_entropy(model(torch.randn(8, 16)), torch.randint(0, 4, (8,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    if stopper.should_stop(evaluate(model)):  # handed
        break
""",
}

METER_TWINS = {
    "average_meter_given_item": ("average_meter_sums_tensors", "meter.update(loss, x.size(0))",
                                 "meter.update(loss.item(), x.size(0))"),
    "average_meter_converts_tensors_itself": (
        "average_meter_sums_tensors", "        self.sum += val * n",
        "        if isinstance(val, torch.Tensor):\n            val = val.item()\n        self.sum += val * n"),
    "average_meter_converts_with_a_conditional_expression": (
        "average_meter_sums_tensors", "        self.sum += val * n",
        "        val = val.detach() if torch.is_tensor(val) else val\n        self.sum += val * n"),
    "tracker_given_detached_values": ("tracker_logs_keyword_arguments_into_deques",
                                      "tracker.log(loss=loss, acc=", "tracker.log(loss=loss.detach(), acc="),
    "tracker_window_keeps_floats": ("tracker_logs_keyword_arguments_into_deques", "self.values.append(v)",
                                    "self.values.append(float(v))"),
    "history_given_item": ("history_dict_literal_of_lists", 'self.history["reg"].append(reg)',
                           'self.history["reg"].append(reg.item())'),
    "history_emptied_every_step": ("history_dict_literal_of_lists", "            self.record(loss, reg)  # handed\n",
                                   "            self.record(loss, reg)\n            self.history[\"reg\"].clear()\n"),
    "meter_dict_given_detached": ("meters_in_a_dict_by_name", 'meters["aux"].add(aux)', 'meters["aux"].add(aux.detach())'),
    "smoother_given_item": ("smoother_called_like_a_function_keeps_an_ema_chain", "float(smooth(loss))",
                            "float(smooth(loss.item()))"),
    "smoother_carries_a_detached_value": ("smoother_called_like_a_function_keeps_an_ema_chain",
                                          "self.decay * self.value +", "self.decay * self.value.detach() +"),
    "smoother_updated_under_no_grad": (
        "smoother_called_like_a_function_keeps_an_ema_chain", "    print(step, float(smooth(loss)))  # handed",
        "    with torch.no_grad():\n        print(step, float(smooth(loss)))"),
    "validation_without_grad": ("early_stopping_keeps_validation_losses", "def evaluate(model):",
                                "@torch.no_grad()\ndef evaluate(model):"),
}

# -- objects that live for the run: buffers, callbacks, a layer's own lists ----------------------------------
HOLDERS = {
    "replay_buffer_keeps_acting_q_values": """
class Replay:
    def __init__(self, capacity=10000):
        self.storage = deque(maxlen=capacity)

    def add(self, state, value):
        self.storage.append((state, value))  # kept

    def sample(self, k):
        picked = random.sample(list(self.storage), k)
        return torch.stack([s for s, _ in picked])


q_net = Net(16, 2)
opt = torch.optim.Adam(q_net.parameters())
replay = Replay()
state = torch.randn(16)
for t in range(500):
    q = q_net(state)
    replay.add(state, q.max())  # handed
    state = torch.randn(16)
    if t > 32:
        batch = replay.sample(32)
        loss = q_net(batch).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
""",
    "plain_list_buffer_keeps_acting_log_probs": """
policy = Net(16, 3)
opt = torch.optim.Adam(policy.parameters())
memory = []
for t in range(500):
    obs = torch.randn(16)
    dist = torch.distributions.Categorical(logits=policy(obs))
    action = dist.sample()
    memory.append((obs, action, dist.log_prob(action)))  # kept
    if t % 50 == 49:
        batch = random.sample(memory, 16)
        obs_b = torch.stack([o for o, _, _ in batch])
        loss = policy(obs_b).logsumexp(-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
""",
    "callbacks_given_to_a_loop_collect_outputs": """
class Collector:
    def __init__(self):
        self.outputs = []

    def on_batch_end(self, outputs):
        self.outputs.append(outputs)  # kept

    def on_epoch_end(self):
        print(torch.stack([o["loss"] for o in self.outputs]).mean().item())
        self.outputs = []


class Loop:
    def __init__(self, model, callbacks):
        self.model = model
        self.callbacks = callbacks
        self.opt = torch.optim.SGD(model.parameters(), lr=0.1)

    def run(self, epochs):
        for epoch in range(epochs):
            for step in range(20):
                x, y = torch.randn(8, 16), torch.randint(0, 4, (8,))
                logits = self.model(x)
                loss = F.cross_entropy(logits, y)
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()
                for callback in self.callbacks:
                    callback.on_batch_end({"loss": loss, "logits": logits})  # handed
            for callback in self.callbacks:
                callback.on_epoch_end()


Loop(Net(), [Collector()]).run(3)
""",
    "callbacks_passed_to_a_function": """
class LossLog:
    def __init__(self):
        self.losses = []

    def after_step(self, step, loss):
        self.losses.append(loss)  # kept


def fit(model, callbacks, steps=100):
    opt = torch.optim.Adam(model.parameters())
    for step in range(steps):
        loss = F.cross_entropy(model(torch.randn(8, 16)), torch.randint(0, 4, (8,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        for cb in callbacks:
            cb.after_step(step, loss)  # handed


fit(Net(), [LossLog()])
""",
    "layer_keeps_attention_maps": """
class AttnPool(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.score = nn.Linear(dim, 1)
        self.maps = []

    def forward(self, h):
        w = self.score(h).squeeze(-1).softmax(-1)
        self.maps.append(w)  # kept
        return (w.unsqueeze(-1) * h).sum(1)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(16, 16)
        self.pool = AttnPool(16)
        self.out = nn.Linear(16, 2)

    def forward(self, x):
        return self.out(self.pool(self.proj(x)))


model = Classifier()
opt = torch.optim.Adam(model.parameters())
for step in range(100):
    x, y = torch.randn(4, 10, 16), torch.randint(0, 2, (4,))
    loss = F.cross_entropy(model(x), y)  # handed
    opt.zero_grad()
    loss.backward()
    opt.step()
""",
    "layer_sums_its_activations_across_calls": """
class Sparse(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(16, 16)
        self.activation_total = 0.0

    def forward(self, x):
        h = F.relu(self.fc(x))
        self.activation_total += h.abs().mean()  # kept
        return h


model = nn.Sequential(Sparse(), nn.Linear(16, 4))
opt = torch.optim.Adam(model.parameters())
for step in range(100):
    loss = F.cross_entropy(model(torch.randn(8, 16)), torch.randint(0, 4, (8,)))
    opt.zero_grad()
    loss.backward()
    opt.step()
""",
    "layer_running_mean_without_detach": """
class MonitoredLinear(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.feature_mean = torch.zeros(dim)

    def forward(self, x):
        h = self.fc(x)
        if self.training:
            self.feature_mean = 0.9 * self.feature_mean + 0.1 * h.mean(0)  # kept
        return h


model = MonitoredLinear(16)
opt = torch.optim.Adam(model.parameters())
for step in range(100):
    loss = model(torch.randn(8, 16)).pow(2).mean()  # handed
    opt.zero_grad()
    loss.backward()
    opt.step()
""",
    "local_ema_of_the_loss": """
model = Net()
opt = torch.optim.Adam(model.parameters())
ema = None
for step in range(100):
    loss = F.cross_entropy(model(torch.randn(8, 16)), torch.randint(0, 4, (8,)))
    opt.zero_grad()
    loss.backward()
    opt.step()
    ema = loss if ema is None else 0.95 * ema + 0.05 * loss  # kept
    print(f"{ema.item():.3f}")
""",
    "module_level_history_filled_by_a_helper": """
LOSSES = []


def log_loss(value):
    LOSSES.append(value)  # kept


model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(100):
    loss = F.cross_entropy(model(torch.randn(8, 16)), torch.randint(0, 4, (8,)))
    opt.zero_grad()
    loss.backward()
    opt.step()
    log_loss(loss)  # handed
""",
    "closure_over_the_callers_list": """
def main():
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    seen = []

    def remember(out):
        seen.append(out)  # kept

    for step in range(100):
        out = model(torch.randn(8, 16))
        loss = out.pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        remember(out)  # handed


main()
""",
    "stats_dict_of_lists_at_module_level": """
stats = defaultdict(list)
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(100):
    out = model(torch.randn(8, 16))
    parts = {"ce": F.cross_entropy(out, torch.randint(0, 4, (8,))), "l2": out.pow(2).mean()}
    loss = parts["ce"] + 0.01 * parts["l2"]
    opt.zero_grad()
    loss.backward()
    opt.step()
    for name, value in parts.items():
        stats[name].append(value)  # kept
""",
    "running_totals_by_key": """
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
totals = {}
for step in range(100):
    out = model(torch.randn(8, 16))
    parts = {"ce": F.cross_entropy(out, torch.randint(0, 4, (8,))), "l2": out.pow(2).mean()}
    opt.zero_grad()
    sum(parts.values()).backward()
    opt.step()
    for key, value in parts.items():
        totals[key] = totals.get(key, 0.0) + value  # kept
""",
    "list_on_an_object_of_the_loop": """
class State:
    def __init__(self):
        self.losses = []


state = State()
model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(100):
    loss = F.cross_entropy(model(torch.randn(8, 16)), torch.randint(0, 4, (8,)))
    opt.zero_grad()
    loss.backward()
    opt.step()
    state.losses.append(loss)  # kept
""",
    "scores_of_an_evaluation_without_no_grad": """
def score(model, batches):
    scores = []
    for x in batches:
        scores.append(model(x).softmax(-1).max(-1).values)  # kept
    return torch.cat(scores)


model = Net()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(10):
    loss = F.cross_entropy(model(torch.randn(8, 16)), torch.randint(0, 4, (8,)))
    opt.zero_grad()
    loss.backward()
    opt.step()
    print(score(model, torch.randn(64, 16).split(8)).mean().item())
""",
    "helper_given_the_callers_list": """
def record(history, value):
    history.append(value)  # kept


def train(model, opt, steps):
    losses = []
    for step in range(steps):
        loss = F.cross_entropy(model(torch.randn(8, 16)), torch.randint(0, 4, (8,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        record(losses, loss)  # handed
    return losses


model = Net()
print(len(train(model, torch.optim.SGD(model.parameters(), lr=0.1), 100)))
""",
    "reinforce_log_probs_back_propagated_and_emptied_per_episode": """
class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 2)
        self.saved_log_probs = []

    def forward(self, x):
        return self.body(x).softmax(-1)


def select_action(state, policy):
    m = torch.distributions.Categorical(policy(state))
    action = m.sample()
    policy.saved_log_probs.append(m.log_prob(action))
    return action.item()


def finish_episode(policy, optimizer, rewards):
    loss = torch.stack([-lp * r for lp, r in zip(policy.saved_log_probs, rewards)]).sum()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    del policy.saved_log_probs[:]


policy = Policy()
optimizer = torch.optim.Adam(policy.parameters(), lr=1e-2)
for episode in range(100):
    rewards = []
    for t in range(50):
        rewards.append(float(select_action(torch.randn(4), policy)))
    finish_episode(policy, optimizer, rewards)
""",
}

HOLDER_TWINS = {
    "replay_buffer_acts_without_grad": ("replay_buffer_keeps_acting_q_values", "    q = q_net(state)\n",
                                        "    with torch.no_grad():\n        q = q_net(state)\n"),
    "replay_buffer_given_item": ("replay_buffer_keeps_acting_q_values", "replay.add(state, q.max())",
                                 "replay.add(state, q.max().item())"),
    "plain_list_buffer_detached": ("plain_list_buffer_keeps_acting_log_probs", "dist.log_prob(action))",
                                   "dist.log_prob(action).detach())"),
    "callbacks_given_detached_outputs": ("callbacks_given_to_a_loop_collect_outputs", '{"loss": loss, "logits": logits}',
                                         '{"loss": loss.detach(), "logits": logits.detach()}'),
    "callback_keeps_items": ("callbacks_passed_to_a_function", "self.losses.append(loss)",
                             "self.losses.append(loss.item())"),
    "layer_keeps_detached_maps": ("layer_keeps_attention_maps", "self.maps.append(w)", "self.maps.append(w.detach())"),
    "layer_maps_cleared_by_the_trainer": ("layer_keeps_attention_maps", "    opt.step()\n",
                                          "    opt.step()\n    model.pool.maps.clear()\n"),
    "layer_keeps_maps_only_when_asked": ("layer_keeps_attention_maps", "        self.maps.append(w)",
                                         "        if self.keep_maps:\n            self.maps.append(w)"),
    "layer_list_made_afresh_each_forward": ("layer_keeps_attention_maps", "        self.maps.append(w)",
                                            "        self.maps = []\n        self.maps.append(w)"),
    "layer_used_only_without_grad": ("layer_keeps_attention_maps", "    loss = F.cross_entropy(model(x), y)  # handed",
                                     "    with torch.no_grad():\n        print(model(x))\n"
                                     "    loss = F.cross_entropy(model.out(x.mean(1)), y)"),
    "layer_total_reset_by_a_method": ("layer_sums_its_activations_across_calls", "        return h\n",
                                      "        return h\n\n    def reset(self):\n        self.activation_total = 0.0\n"),
    "layer_running_mean_detached": ("layer_running_mean_without_detach", "0.1 * h.mean(0)", "0.1 * h.mean(0).detach()"),
    "layer_running_mean_under_no_grad": (
        "layer_running_mean_without_detach", "        if self.training:\n            self.feature_mean",
        "        with torch.no_grad():\n            self.feature_mean"),
    "local_ema_of_item": ("local_ema_of_the_loss", "    ema = loss if ema is None else 0.95 * ema + 0.05 * loss",
                          "    ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()"),
    "local_ema_made_afresh_each_iteration": ("local_ema_of_the_loss", "    opt.zero_grad()\n",
                                             "    opt.zero_grad()\n    ema = None\n"),
    "recurrent_state_carried_through_a_call": (
        "local_ema_of_the_loss", "    ema = loss if ema is None else 0.95 * ema + 0.05 * loss  # kept\n"
                                 "    print(f\"{ema.item():.3f}\")\n",
        "    ema = model(torch.randn(8, 16)) if ema is None else model(ema.detach()[:, :1].repeat(1, 16))\n"),
    "module_level_history_given_item": ("module_level_history_filled_by_a_helper", "log_loss(loss)",
                                        "log_loss(loss.item())"),
    "helper_list_made_afresh_per_call": ("module_level_history_filled_by_a_helper", "def log_loss(value):\n",
                                         "def log_loss(value):\n    LOSSES = []\n"),
    "closure_given_detached": ("closure_over_the_callers_list", "remember(out)  # handed", "remember(out.detach())"),
    "stats_dict_made_afresh_each_step": ("stats_dict_of_lists_at_module_level", "    opt.zero_grad()\n",
                                         "    opt.zero_grad()\n    stats = defaultdict(list)\n"),
    "stats_dict_of_items": ("stats_dict_of_lists_at_module_level", "stats[name].append(value)",
                            "stats[name].append(value.item())"),
    "running_totals_of_items": ("running_totals_by_key", "totals.get(key, 0.0) + value",
                                "totals.get(key, 0.0) + value.item()"),
    "list_on_an_object_emptied_every_step": ("list_on_an_object_of_the_loop", "    state.losses.append(loss)  # kept\n",
                                             "    state.losses.append(loss)\n    state.losses.clear()\n"),
    "evaluation_under_no_grad": ("scores_of_an_evaluation_without_no_grad", "def score(model, batches):",
                                 "@torch.no_grad()\ndef score(model, batches):"),
    "parameter_groups_regrouped_in_a_setup_loop": (
        "scores_of_an_evaluation_without_no_grad",
        "def score(", "def regroup(model):\n    groups = [{\"params\": [], \"wd\": 0.1}]\n    merged = []\n"
                      "    for group in groups:\n        merged.extend({**group, \"params\": p} for p in model.parameters())\n"
                      "    return merged\n\n\ndef score(",
        "def score(model, batches):", "@torch.no_grad()\ndef score(model, batches):",
        "for epoch in range(10):\n", "print(regroup(model))\nfor epoch in range(10):\n"),
    "helper_given_a_list_made_each_step": ("helper_given_the_callers_list", "        opt.step()\n",
                                           "        opt.step()\n        losses = []\n"),
    "helper_given_item": ("helper_given_the_callers_list", "record(losses, loss)", "record(losses, loss.item())"),
    "reinforce_log_probs_back_propagated_without_emptying": ("reinforce_log_probs_back_propagated_and_emptied_per_episode",
                                             "    del policy.saved_log_probs[:]\n", ""),
}

PROGRAMS = {**METERS, **HOLDERS}
TWINS = {**METER_TWINS, **HOLDER_TWINS}


def marked(source: str, mark: str) -> set[int]:
    return {i for i, line in enumerate(source.splitlines(), 1) if line.rstrip().endswith(f"# {mark}")}


def analyse(source: str, name: str):
    return analyze_source(source, f"{name}.py", AnalysisOptions(), ProjectIndex())


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_graph_kept_by_an_object_is_found_where_it_is_stored(name):
    source = HEADER + textwrap.dedent(PROGRAMS[name])
    found = analyse(source, name)
    assert {f.line for f in found if f.rule == "GL401"} == marked(source, "kept")
    assert [f.rule for f in found if f.rule != "GL401"] == []
    handed = marked(source, "handed")
    for finding in found:
        assert {r.line for r in finding.related} == handed


@pytest.mark.parametrize("twin", sorted(TWINS))
def test_correct_twin_is_silent(twin):
    name, *edits = TWINS[twin]
    source = HEADER + textwrap.dedent(PROGRAMS[name])
    for old, new in zip(edits[::2], edits[1::2]):
        assert old in source
        source = source.replace(old, new, 1)
    assert [(f.rule, f.line) for f in analyse(source, twin)] == []


def test_library_meters_are_left_to_the_library(tmp_path):
    """An object of a class graphlint cannot read (torchmetrics detaches what it is given) keeps nothing we know of."""
    source = HEADER + textwrap.dedent("""
        from torchmetrics import MeanMetric

        model = Net()
        opt = torch.optim.Adam(model.parameters())
        mean_loss = MeanMetric()
        for step in range(100):
            loss = F.cross_entropy(model(torch.randn(8, 16)), torch.randint(0, 4, (8,)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            mean_loss.update(loss)
        print(mean_loss.compute())
    """)
    assert analyse(source, "library_meter") == []


def test_helper_class_in_another_module_is_followed(tmp_path):
    """The meter lives in utils/meters.py; the training script imports it: the finding is on the store in the
    helper's file, with the script's call as the place the value is handed over."""
    (tmp_path / "utils").mkdir()
    (tmp_path / "utils" / "__init__.py").write_text("")
    (tmp_path / "utils" / "meters.py").write_text(textwrap.dedent("""
        class LossHistory:
            def __init__(self):
                self.items = []

            def __call__(self, value):
                self.items.append(value)
    """))
    (tmp_path / "train.py").write_text(HEADER + textwrap.dedent("""
        from utils.meters import LossHistory


        def main():
            model = Net()
            opt = torch.optim.Adam(model.parameters())
            history = LossHistory()
            for step in range(100):
                loss = F.cross_entropy(model(torch.randn(8, 16)), torch.randint(0, 4, (8,)))
                opt.zero_grad()
                loss.backward()
                opt.step()
                history(loss)
    """))
    done = subprocess.run([sys.executable, "-m", "graphlint", "--no-cache", "--isolated", "--format", "json", "."],
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    found = json.loads(done.stdout)["findings"]
    assert [(f["rule"], f["path"], f["line"]) for f in found] == [("GL401", "utils/meters.py", 7)]
    assert [(r["path"], r["line"]) for r in found[0]["related"]] == [("train.py", 31)]


def test_entries_of_one_dict_are_compared_by_their_subscript():
    """`hyp["weight_decay"] *= k` and `hyp["label_smoothing"] = x` (yolov5's train.py): a subscript's slice is a
    sequence of elements; comparing it whole was an internal error on 17 real files."""
    import libcst as cst

    from graphlint.rules.retention import _same

    def expr(code):
        return cst.parse_expression(code)

    assert _same(expr('hyp["weight_decay"]'), expr('hyp["weight_decay"]'))
    assert not _same(expr('hyp["label_smoothing"]'), expr('hyp["weight_decay"]'))
    assert not _same(expr("grid[0, 1]"), expr("grid[0]"))
