"""The runtime pass where training really runs: Lightning, transformers' Trainer, accelerate, torch.compile.

Each script beside this file is a small real training run with one planted fault (`--fault`)
and its correct twin (no flag), traced through the CLI as a user would. The frameworks are
pinned in requirements-dev.txt; a user's machine without one skips its tests, CI fails instead.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def require(package: str) -> None:
    if importlib.util.find_spec(package) is not None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{package} is not installed; CI installs it from requirements-dev.txt")
    pytest.skip(f"{package} is not installed (pip install -r requirements-dev.txt)")


def trace(tmp_path: Path, script: str, *args: str) -> tuple[int, dict]:
    """Run `graphlint trace` on a script beside this file; (exit status, JSON report)."""
    from graphlint.trace.cli import main

    out = tmp_path / "report.json"
    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["--json", str(out), "--svg", str(tmp_path / "pic.svg"), str(HERE / script), "--", *args])
    return rc, json.loads(out.read_text())


def verdicts(report: dict) -> dict:
    """name -> cause for parameters that did not move, "moved" for those that did."""
    return {p["name"]: "moved" if p["moved"] else p["cause"] for p in report["parameters"]}


def line_of(script: str, statement: str) -> int:
    """The first line of the script that holds exactly this statement."""
    lines = (HERE / script).read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.strip() == statement)


def findings(report: dict, category: str) -> list[dict]:
    return [f for f in report["findings"] if f["category"] == category]


LIT_ENCODER = ["encoder.0.weight", "encoder.0.bias"]
LIT_HEAD = ["head.weight", "head.bias"]


@pytest.mark.parametrize("config", [[], ["--accumulate", "2", "--precision", "bf16-mixed"]],
                         ids=["plain", "accumulate-bf16"])
def test_lightning_no_grad_in_training_step(tmp_path, config):
    """training_step runs inside optimizer.step(closure): the no_grad there is still the user's cut."""
    require("lightning")
    rc, report = trace(tmp_path, "lightning_automatic.py", "--fault", *config)
    assert "error" not in report
    assert verdicts(report) == {**{f"LitNet.{n}": "no-grad" for n in LIT_ENCODER},
                                **{f"LitNet.{n}": "moved" for n in LIT_HEAD}}
    [f] = findings(report, "no-grad")
    assert f["path"].endswith("lightning_automatic.py")
    assert f["line"] == line_of("lightning_automatic.py", "with torch.no_grad():")
    assert "LitNet.encoder" in f["message"]
    assert rc == 1
    assert report["roots"] == ["LitNet"]


def test_lightning_accumulation_bf16_twin_trains_everything(tmp_path):
    require("lightning")
    rc, report = trace(tmp_path, "lightning_automatic.py", "--accumulate", "2", "--precision", "bf16-mixed")
    assert verdicts(report) == {f"LitNet.{n}": "moved" for n in LIT_ENCODER + LIT_HEAD}
    assert report["steps"]["backward"] == 2 * report["steps"]["optimizer_step_calls"] == 6
    assert rc == 0


@pytest.mark.parametrize("fault", [True, False], ids=["detach", "twin"])
def test_lightning_manual_optimization(tmp_path, fault):
    require("lightning")
    rc, report = trace(tmp_path, "lightning_manual.py", *(["--fault"] if fault else []))
    cut = "detach" if fault else "moved"
    assert verdicts(report) == {**{f"ManualNet.{n}": cut for n in LIT_ENCODER},
                                **{f"ManualNet.{n}": "moved" for n in LIT_HEAD}}
    if fault:
        [f] = findings(report, "detach")
        assert f["line"] == line_of("lightning_manual.py", "h = h.detach()")
    assert rc == (1 if fault else 0)


@pytest.mark.parametrize("fault", [True, False], ids=["head-only-optimizer", "twin"])
def test_lightning_fabric_module_is_unwrapped(tmp_path, fault):
    require("lightning")
    rc, report = trace(tmp_path, "fabric_loop.py", *(["--fault"] if fault else []))
    body = "optimizer-coverage" if fault else "moved"
    assert verdicts(report) == {"Regressor.body.0.weight": body, "Regressor.body.0.bias": body,
                                "Regressor.head.weight": "moved", "Regressor.head.bias": "moved"}
    assert rc == (1 if fault else 0)


BERT = "BertForSequenceClassification"
WORD_EMBEDDINGS = f"{BERT}.bert.embeddings.word_embeddings.weight"


def bert_names(report) -> list[str]:
    names = [p["name"] for p in report["parameters"]]
    assert all(n.startswith(f"{BERT}.bert.") or n.startswith(f"{BERT}.classifier.") for n in names), names
    assert f"{BERT}.bert.encoder.layer.0.attention.self.query.weight" in names
    return names


def test_hf_trainer_frozen_embeddings(tmp_path):
    require("transformers")
    require("accelerate")
    rc, report = trace(tmp_path, "hf_trainer.py", "--fault", "--optim", "adamw_torch")
    names = bert_names(report)
    assert verdicts(report) == {n: "frozen" if n == WORD_EMBEDDINGS else "moved" for n in names}
    assert report["steps"]["backward"] == 2 * report["steps"]["optimizer_step_calls"] == 6
    assert [f["severity"] for f in findings(report, "frozen")] == ["info"]
    assert rc == 0


def test_hf_trainer_default_optimizer_trains_everything(tmp_path):
    """The Trainer's default optimizer is fused AdamW, whose update does not bump version counters."""
    require("transformers")
    require("accelerate")
    rc, report = trace(tmp_path, "hf_trainer.py")
    assert verdicts(report) == {n: "moved" for n in bert_names(report)}
    assert rc == 0


@pytest.mark.parametrize("fault", [True, False], ids=["zero-grad-before-step", "twin"])
def test_accelerate_accumulate_and_backward(tmp_path, fault):
    require("accelerate")
    rc, report = trace(tmp_path, "accelerate_loop.py", *(["--fault"] if fault else []))
    names = ["body.0.weight", "body.0.bias", "head.weight", "head.bias"]
    assert verdicts(report) == {f"Regressor.{n}": "zero-grad-order" if fault else "moved" for n in names}
    assert report["steps"]["backward"] == 2 * report["steps"]["optimizer_step_calls"] == 6
    if fault:
        [f] = findings(report, "zero-grad-order")
        assert f["line"] == line_of("accelerate_loop.py", "optimizer.zero_grad()")
    assert rc == (1 if fault else 0)


@pytest.mark.parametrize("fault", [True, False], ids=["detach", "twin"])
def test_torch_compile_is_unwrapped(tmp_path, fault):
    rc, report = trace(tmp_path, "compiled.py", *(["--fault"] if fault else []))
    cut = "detach" if fault else "moved"
    assert verdicts(report) == {"Net.body.0.weight": cut, "Net.body.0.bias": cut,
                                "Net.head.weight": "moved", "Net.head.bias": "moved"}
    assert rc == (1 if fault else 0)
