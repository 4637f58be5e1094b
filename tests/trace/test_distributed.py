"""`graphlint trace` under torchrun: real 2-process DDP / FSDP2 runs on gloo, one merged report from rank 0."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.trace.conftest import by_name

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():
    pytest.skip("torch.distributed is not available", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]

DDP = """
import sys
import torch, torch.nn as nn, torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 4)
        self.extra = nn.Linear(4, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        h = self.body(x)
        if dist.get_rank() == 0:  # rank-dependent: rank 1 never uses `extra`
            h = h + self.extra(h)
        return self.head(h)

dist.init_process_group("gloo")
torch.manual_seed(0)
model = DistributedDataParallel(Net(), find_unused_parameters=sys.argv[1] == "find-unused")
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(50):
    opt.zero_grad()
    model(torch.randn(8, 4)).pow(2).mean().backward()
    opt.step()
dist.destroy_process_group()
"""

FSDP2 = """
import torch, torch.nn as nn, torch.distributed as dist
from torch.distributed.fsdp import fully_shard

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 8)
        self.aux = nn.Linear(4, 8)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        return self.head(self.body(x).relu() + self.aux(x).detach())

dist.init_process_group("gloo")
torch.manual_seed(0)
model = Net()
fully_shard(model.body)
fully_shard(model)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
try:
    for step in range(50):
        opt.zero_grad()
        model(torch.randn(8, 4)).pow(2).mean().backward()
        opt.step()
finally:
    dist.destroy_process_group()
"""


def launch(folder: Path, source: str, *command: str, args: tuple = ()) -> tuple[subprocess.CompletedProcess, dict]:
    """Run `python -m <command...> --json ... train.py -- args` in `folder`; (process, report)."""
    (folder / "train.py").write_text(textwrap.dedent(source))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", GRAPHLINT_TRACE_RANK_WAIT="20")
    proc = subprocess.run([sys.executable, "-m", *command, "--json", "report.json", "--sarif", "report.sarif",
                           "--svg", "pic.svg", "--steps", "2", "train.py", "--", *args],
                          cwd=folder, env=env, capture_output=True, text=True, timeout=240)
    report = folder / "report.json"
    assert report.is_file(), proc.stdout + proc.stderr
    return proc, json.loads(report.read_text())


def suffix(params: dict, tail: str) -> dict:
    """The parameter named `<root>.<tail>` (the root's name is the naming helper's business)."""
    (hit,) = [p for name, p in params.items() if name.endswith("." + tail)]
    return hit


@pytest.fixture(scope="module")
def fsdp2_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fsdp2")
    return folder, *launch(folder, FSDP2, "graphlint", "trace", "--nproc-per-node", "2")


@pytest.fixture(scope="module")
def uneven_ddp_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp-uneven")
    return launch(folder, DDP, "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "graphlint",
                  "trace", args=("find-unused",))


@pytest.fixture(scope="module")
def ddp_crash_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp-crash")
    return launch(folder, DDP, "graphlint", "trace", "--nproc-per-node", "2", args=("static",))


def test_fsdp2_every_rank_traced_one_report_from_rank_0(fsdp2_run):
    folder, proc, doc = fsdp2_run
    assert proc.returncode == 1, proc.stderr  # a finding; rank 0's status, passed on by the launcher
    assert doc["world_size"] == 2 and "error" not in doc
    assert [(r["rank"], r["optimizer_step_calls"]) for r in doc["ranks"]] == [(0, 2), (1, 2)]  # --steps 2 on both
    params = by_name(doc)
    for tail in ("aux.weight", "aux.bias"):
        assert suffix(params, tail)["cause"] == "detach" and suffix(params, tail)["moved"] is False
    for tail in ("body.weight", "head.weight", "head.bias"):  # head's rows all live on rank 0's shard
        assert suffix(params, tail)["moved"] is True and suffix(params, tail)["reachable"] is True
    assert not any("reached_on_ranks" in p for p in doc["parameters"])
    assert {f["rule"] for f in doc["findings"] if f["severity"] == "error"} == {"GLT101"}
    # one set of report files, written by rank 0 alone (the SVG only where Graphviz's `dot` is installed)
    pictures = ["pic.dot", "pic.svg"] if shutil.which("dot") else ["pic.dot"]
    assert sorted(p.name for p in folder.iterdir()) == [*pictures, "report.json", "report.sarif", "train.py"]
    assert "rank 1 stopped after 2 optimizer step attempts" in proc.stderr


def test_parameter_used_on_some_ranks_only(uneven_ddp_run):
    proc, doc = uneven_ddp_run
    assert proc.returncode == 0, proc.stderr  # torchrun: every rank exited 0 (the note is informational)
    params = by_name(doc)
    extra = suffix(params, "extra.weight")
    assert extra["reached_on_ranks"] == [0] and extra["moved"] is True
    assert "rank 1 never reached it" in extra["explanation"]
    assert "Expected to have finished reduction in the prior iteration" in extra["explanation"]
    assert "reached_on_ranks" not in suffix(params, "body.weight")
    (note,) = [f for f in doc["findings"] if f["rule"] == "GLT303"]
    assert note["severity"] == "info" and "used on some ranks only" in note["message"]


def test_ddp_parameters_are_named_after_the_users_module(uneven_ddp_run):
    assert "Net.extra.weight" in by_name(uneven_ddp_run[1])


def test_ddp_unused_parameter_crash_still_leaves_the_report(ddp_crash_run):
    proc, doc = ddp_crash_run
    assert proc.returncode == 2
    assert "rank 1: RuntimeError: Expected to have finished reduction" in doc["error"]
    params = by_name(doc)
    for tail in ("extra.weight", "extra.bias"):
        assert suffix(params, tail)["cause"] == "unused-param" and suffix(params, tail)["moved"] is False
        assert "DDP's reducer got no gradient for it on rank 1" in suffix(params, tail)["explanation"]
    (failed,) = [f for f in doc["findings"] if f["message"].startswith("DDP's reducer failed")]
    assert failed["severity"] == "error" and "extra.weight" in failed["message"] and "extra.bias" in failed["message"]
    assert "body.weight" not in failed["message"]


def test_rank_0_names_the_ranks_it_never_heard_from(tmp_path):
    """A rank that never hands over (killed, or stuck in a collective) costs a bounded wait, then is named."""
    from graphlint.trace import distributed
    from graphlint.trace.cli import read_records
    from graphlint.trace.explain import build_report
    from graphlint.trace.tracer import Tracer

    tracer = Tracer(script="train.py").install()
    try:
        model = torch.nn.Linear(2, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        model(torch.ones(1, 2)).sum().backward()
        opt.step()
    finally:
        tracer.uninstall()
    env = {"RANK": "0", "WORLD_SIZE": "3", distributed.RUN_DIR_ENV: str(tmp_path)}
    rank0 = distributed.Rank.from_environ(env)
    for r in (0, 1):
        rank0.facts_path(r).write_text(json.dumps({"final": True, "facts": tracer.facts()}) + "\n")
    distributed.Rank.from_environ(dict(env, RANK="1")).hand_over(None, "ran to the end")
    rank0.hand_over(None, "ran to the end")
    runs = rank0.gather(read_records, wait_s=0.5)
    doc, _, error = distributed.merge(runs, build_report)
    assert doc["missing_ranks"] == [2] and "rank 2 handed over no final facts" in error
    assert [r["ended"] for r in doc["ranks"]] == ["ran to the end", "ran to the end", "handed over no facts"]
    assert all(p["moved"] for p in doc["parameters"])


def traced_facts(use_extra: bool) -> dict:
    """The facts of one rank's few steps, traced in this process (a stand-in for one rank's hand-over)."""
    from graphlint.trace.tracer import Tracer

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.extra = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)

        def forward(self, x):
            h = self.body(x)
            return h + self.extra(h) if use_extra else h

    tracer = Tracer(script="train.py").install()
    try:
        model = Net()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(2):
            opt.zero_grad()
            model(torch.ones(1, 2)).pow(2).sum().backward()
            opt.step()
    finally:
        tracer.uninstall()
    return tracer.facts()


def test_merge_of_ranks_that_disagree_on_reachability():
    from graphlint.trace.distributed import RankRun, merge
    from graphlint.trace.explain import build_report

    used, unused = traced_facts(True), traced_facts(False)
    runs = [RankRun(0, used, ending="ran to the end", ended=True),
            RankRun(1, unused, ending="ran to the end", ended=True)]
    doc, findings, error = merge(runs, build_report)
    params = by_name(doc)
    assert error is None and doc["world_size"] == 2
    assert params["Net.extra.weight"]["moved"] is True  # moved on rank 0: moved
    assert params["Net.extra.weight"]["reached_on_ranks"] == [0]
    assert params["Net.extra.weight"]["never_reached_on_ranks"] == [1]
    assert "reached_on_ranks" not in params["Net.body.weight"]
    (note,) = [f for f in findings if f.rule == "GLT303"]
    assert note.severity.value == "info" and "Net.extra.bias" in note.message


def test_merge_names_what_ddp_reported_without_a_gradient_on_every_rank():
    from graphlint.trace.distributed import RankRun, merge
    from graphlint.trace.explain import build_report

    runs = []
    for rank in (0, 1):
        facts = traced_facts(False)
        extra = [p["id"] for p in facts["params"] if ".extra." in p["name"]]
        runs.append(RankRun(rank, facts, error="RuntimeError: Expected to have finished reduction ...", ended=True,
                            unreduced={str(rank): extra}))
    doc, findings, error = merge(runs, build_report)
    extra = by_name(doc)["Net.extra.weight"]
    assert extra["cause"] == "unused-param" and "reached_on_ranks" not in extra
    assert "DDP's reducer got no gradient for it on ranks 0, 1" in extra["explanation"]
    (failed,) = [f for f in findings if f.message.startswith("DDP's reducer failed")]
    assert failed.severity.value == "error" and "without a gradient on ranks 0, 1" in failed.message
    assert error.startswith("rank 0: RuntimeError") and "rank 1: RuntimeError" in error
