#!/usr/bin/env python3
"""What tracing costs: wall time, CPU time and peak memory of a small transformer's training script
traced vs. untraced (startup included, both measured in this one run), the same for a Hugging Face
`Trainer` run of a tiny BERT built from a config when `transformers` is importable (no downloads),
and the Python graph walk on ~1M autograd nodes vs. one backward pass over the same graph.

CPU time (user + system of the processes) is printed beside wall time because it is what the
tracer adds; wall time on a shared machine mostly measures the neighbours.

    python benchmarks/trace_overhead.py [--steps 30] [--nodes 1000000] [--repeat 3] [--device cuda]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = '''
import sys
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
steps, device = int(sys.argv[1]), sys.argv[2]
vocab, dim, seq = 512, 128, 64


class TinyLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(torch.zeros(seq, dim))
        layer = nn.TransformerEncoderLayer(dim, 4, 4 * dim, dropout=0.1, batch_first=True)
        self.blocks = nn.TransformerEncoder(layer, 2)
        self.out = nn.Linear(dim, vocab)

    def forward(self, x):
        return self.out(self.blocks(self.tok(x) + self.pos))


model = TinyLM().to(device)
opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
data = torch.randint(0, vocab, (steps, 16, seq + 1), device=device)
for step in range(steps):
    x, y = data[step, :, :-1], data[step, :, 1:]
    opt.zero_grad()
    loss = F.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1))
    loss.backward()
    opt.step()
    if step % 10 == 0:
        print(f"step {step} loss {loss.item():.3f}")
'''

HF_TRAINER = '''
import sys
import tempfile

import torch
from torch.utils.data import Dataset
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

torch.manual_seed(0)
steps, device = int(sys.argv[1]), sys.argv[2]


class Sentences(Dataset):
    def __init__(self, n=512, seq=32):
        self.ids = torch.randint(5, 256, (n, seq))
        self.labels = (self.ids[:, 0] > 128).long()

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": torch.ones_like(self.ids[i]), "labels": self.labels[i]}


config = BertConfig(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=128, max_position_embeddings=64, num_labels=2)
model = BertForSequenceClassification(config)
with tempfile.TemporaryDirectory() as out:
    args = TrainingArguments(output_dir=out, max_steps=steps, per_device_train_batch_size=16, learning_rate=1e-3,
                             report_to=[], save_strategy="no", logging_steps=10, use_cpu=device == "cpu",
                             disable_tqdm=True)
    Trainer(model=model, args=args, train_dataset=Sentences()).train()
'''

WALK = '''
import sys, time, torch
from graphlint.trace import graphwalk
graphwalk.ensure_stack_room()
n = int(sys.argv[1])
w = torch.nn.Parameter(torch.randn(64))
x = w
for _ in range(n // 2):
    x = torch.tanh(x) * 1.0001
t = time.perf_counter(); walked = graphwalk.walk(x.grad_fn); t_walk = time.perf_counter() - t
t = time.perf_counter(); x.sum().backward(); t_back = time.perf_counter() - t
t = time.perf_counter(); del x, walked; t_free = time.perf_counter() - t
print(f"{t_walk} {t_back} {t_free} {n}")
'''


def timed(cmd: list[str], env=None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one child process and everything it started."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def compare(script: Path, steps: int, device: str, repeat: int, tmp: str, env) -> dict:
    """Plain and traced runs of one script, interleaved so that machine load hits both alike."""
    plain = [sys.executable, str(script), str(steps), device]
    traced = [sys.executable, "-m", "graphlint", "trace", "--steps", "0", "--json", f"{tmp}/r.json",
              "--svg", f"{tmp}/p.svg", str(script), "--", str(steps), device]
    rows = [(timed(plain, env), timed(traced, env)) for _ in range(repeat)]
    wall = min(r[0][0] for r in rows), min(r[1][0] for r in rows)
    cpu = min(r[0][1] for r in rows), min(r[1][1] for r in rows)
    report = json.loads(Path(f"{tmp}/r.json").read_text())
    return {"wall": wall, "cpu": cpu, "memory": (peak_of(plain), peak_of(traced)), "report": report}


def print_comparison(title: str, r: dict) -> None:
    (w0, w1), (c0, c1), (m0, m1) = r["wall"], r["cpu"], r["memory"]
    moved = sum(1 for p in r["report"]["parameters"] if p["moved"])
    print(f"{title} ({len(r['report']['parameters'])} parameter tensors, {moved} moved):")
    print(f"  CPU time untraced {c0:.2f} s   traced {c1:.2f} s   ratio {c1 / c0:.2f}x  (target <= 1.10x)")
    print(f"  wall time untraced {w0:.2f} s   traced {w1:.2f} s   ratio {w1 / w0:.2f}x")
    print(f"  peak memory untraced {m0:.0f} MB   traced {m1:.0f} MB   ratio {m1 / m0:.2f}x")


def peak_of(cmd: list[str]) -> float:
    """Peak RSS (MB) of a command, measured by a fresh python so earlier children don't mask it."""
    probe = ("import resource,subprocess,sys; subprocess.run(sys.argv[1:], capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True).stdout
    return int(out.strip()) / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="where the two training scripts run (cpu, cuda)")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "tiny_lm.py"
        script.write_text(textwrap.dedent(SCRIPT))
        lm = compare(script, args.steps, args.device, args.repeat, tmp, env)
        hf = None
        if importlib.util.find_spec("transformers") is not None:
            script = Path(tmp) / "tiny_bert_trainer.py"
            script.write_text(textwrap.dedent(HF_TRAINER))
            hf = compare(script, args.steps, args.device, args.repeat, tmp, env)
    walk = subprocess.run([sys.executable, "-c", WALK, str(args.nodes)], capture_output=True, text=True, env=env)
    if walk.returncode != 0:
        sys.exit(f"walk benchmark failed: {walk.stderr[-2000:]}")
    t_walk, t_back, t_free, nodes = walk.stdout.split()
    t_walk, t_back = float(t_walk), float(t_back)
    on = f"on {args.device}, " if args.device != "cpu" else ""
    print_comparison(f"small transformer, {on}{args.steps} steps, startup included, best of {args.repeat}", lm)
    if hf is not None:
        print_comparison(f"Hugging Face Trainer, tiny BERT, {on}{args.steps} steps, fused AdamW, best of {args.repeat}",
                         hf)
    else:
        print("Hugging Face Trainer: skipped (transformers is not installed)")
    print(f"graph walk on {int(nodes):,} autograd nodes: walk {t_walk:.2f} s   backward {t_back:.2f} s   "
          f"ratio {t_walk / t_back:.3f}  (target <= 0.15); freeing the walked graph took {float(t_free):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
