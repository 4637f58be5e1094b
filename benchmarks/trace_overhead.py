#!/usr/bin/env python3
"""What tracing costs: wall time and peak memory of a small transformer's training script traced vs.
untraced (startup included, same run), and the Python graph walk on ~1M autograd nodes vs. one
backward pass over the same graph.

    python benchmarks/trace_overhead.py [--steps 30] [--nodes 1000000] [--repeat 3]
"""
from __future__ import annotations

import argparse
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
steps = int(sys.argv[1])
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


model = TinyLM()
opt = torch.optim.AdamW(model.parameters(), lr=3e-4)
data = torch.randint(0, vocab, (steps, 16, seq + 1))
for step in range(steps):
    x, y = data[step, :, :-1], data[step, :, 1:]
    opt.zero_grad()
    loss = F.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1))
    loss.backward()
    opt.step()
    if step % 10 == 0:
        print(f"step {step} loss {loss.item():.3f}")
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
    """(wall seconds, peak RSS MB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        sys.exit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


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
    args = ap.parse_args()
    graphlint = [sys.executable, "-m", "graphlint"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "tiny_lm.py"
        script.write_text(textwrap.dedent(SCRIPT))
        plain = [sys.executable, str(script), str(args.steps)]
        traced = graphlint + ["trace", "--steps", "0", "--json", f"{tmp}/r.json", "--svg", f"{tmp}/p.svg",
                              str(script), "--", str(args.steps)]
        rows = []
        for _ in range(args.repeat):  # interleaved, so machine load hits both alike
            rows.append((timed(plain, env)[0], timed(traced, env)[0]))
        t_plain = min(r[0] for r in rows)
        t_traced = min(r[1] for r in rows)
        m_plain, m_traced = peak_of(plain), peak_of(traced)
        report = json.loads(Path(f"{tmp}/r.json").read_text())
    walk = subprocess.run([sys.executable, "-c", WALK, str(args.nodes)], capture_output=True, text=True, env=env)
    if walk.returncode != 0:
        sys.exit(f"walk benchmark failed: {walk.stderr[-2000:]}")
    t_walk, t_back, t_free, nodes = walk.stdout.split()
    t_walk, t_back = float(t_walk), float(t_back)
    print(f"small transformer ({args.steps} steps, {len(report['parameters'])} parameter tensors, "
          f"startup included, best of {args.repeat}):")
    print(f"  untraced {t_plain:.2f} s   traced {t_traced:.2f} s   ratio {t_traced / t_plain:.2f}x  (target <= 1.3x)")
    print(f"  peak memory untraced {m_plain:.0f} MB   traced {m_traced:.0f} MB   "
          f"ratio {m_traced / m_plain:.2f}x")
    print(f"graph walk on {int(nodes):,} autograd nodes: walk {t_walk:.2f} s   backward {t_back:.2f} s   "
          f"ratio {t_walk / t_back:.3f}  (target <= 0.15); freeing the walked graph took {float(t_free):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
