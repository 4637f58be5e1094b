"""`graphlint trace` end to end: a real child process per run, the report written however the script ends."""
from __future__ import annotations

from pathlib import Path

from tests.trace.conftest import by_name, run_cli

ROOT = Path(__file__).resolve().parents[2]

LOOP = """
import os, sys
import torch
import torch.nn as nn
import torch.nn.functional as F

class Regressor(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)

    def forward(self, x):
        return self.fc(x)

torch.manual_seed(0)
model = Regressor()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(int(sys.argv[1]) if len(sys.argv) > 1 else 1000000):
    opt.zero_grad()
    F.mse_loss(model(torch.randn(8, 4)), torch.randn(8, 1)).backward()
    opt.step()
    {ending}
"""


def test_incident_first_screen_names_the_detach_line_and_the_gated_step(tmp_path):
    from graphlint.trace.cli import main
    import contextlib, io, json

    out = tmp_path / "r.json"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["--json", str(out), "--svg", str(tmp_path / "p.svg"), "--sarif", str(tmp_path / "r.sarif"),
                   "--html", str(tmp_path / "r.html"), str(ROOT / "examples/incident/train.py")])
    assert rc == 1
    report_text = buf.getvalue()
    start = report_text.index("graphlint trace")
    first_screen = "\n".join(report_text[start:].splitlines()[:12])
    detach_line = next(i for i, l in enumerate((ROOT / "examples/incident/train.py").read_text().splitlines(), 1)
                       if ".detach()" in l)
    assert f"[detach]" in first_screen and f"train.py:{detach_line}" in first_screen
    assert "[step-gate]" in first_screen and "never ran" in first_screen
    doc = json.loads(out.read_text())
    params = by_name(doc)
    assert params["YieldModel.backbone.layers.0.weight"]["cause"] == "detach"
    assert params["YieldModel.head.1.weight"]["cause"] == "step-gate"
    assert params["YieldModel.head.1.weight"]["reachable"] is True
    assert {"version", "script", "steps", "parameters", "findings", "artifacts"} <= set(doc)
    assert Path(doc["artifacts"]["dot"]).is_file()
    sarif = json.loads((tmp_path / "r.sarif").read_text())
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {"GLT101", "GLT203"}
    assert "YieldModel.head.1.weight" in (tmp_path / "r.html").read_text()


def test_stops_after_n_steps_and_reports_cleanly(tmp_path):
    rc, doc, _ = run_cli(tmp_path, LOOP.format(ending="pass"), "--steps", "2")
    assert rc == 0 and "error" not in doc
    assert doc["steps"]["optimizer_step_calls"] == 2
    assert all(p["moved"] for p in doc["parameters"])


def test_script_that_raises_after_two_steps(tmp_path):
    rc, doc, _ = run_cli(tmp_path, LOOP.format(ending="if step == 1: raise ValueError('bad batch')"), "--steps", "5")
    assert rc == 2
    assert doc["error"] == "ValueError: bad batch"
    assert doc["steps"]["optimizer_step_calls"] == 2 and by_name(doc)["Regressor.fc.weight"]["moved"]


def test_sys_exit_and_os_exit(tmp_path):
    rc, doc, _ = run_cli(tmp_path, LOOP.format(ending="if step == 1: sys.exit(3)"), "--steps", "5")
    assert rc == 2 and "sys.exit(3)" in doc["error"]
    rc, doc, _ = run_cli(tmp_path, LOOP.format(ending="if step == 0: os._exit(0)"), "--steps", "5")
    assert rc == 0 and doc["ended"] == "exited via os._exit(0)"
    assert doc["steps"]["optimizer_step_calls"] == 1


def test_sigkill_mid_run_keeps_the_facts_of_completed_steps(tmp_path):
    rc, doc, _ = run_cli(tmp_path, LOOP.format(ending="if step == 1: os.kill(os.getpid(), 9)"), "--steps", "5")
    assert rc == 2
    assert "SIGKILL" in doc["error"] and "out-of-memory" in doc["error"] and "peak memory" in doc["error"]
    assert doc["steps"]["optimizer_step_calls"] == 2
    assert by_name(doc)["Regressor.fc.weight"]["moved"] is True


def test_script_that_never_calls_backward_says_so(tmp_path):
    src = LOOP.replace(".backward()", "").format(ending="pass")
    rc, doc, text = run_cli(tmp_path, src, "--steps", "2")
    assert rc == 1
    assert "backward() was never called" in text
    assert {p["cause"] for p in doc["parameters"]} == {"backward-missing"}


def test_module_mode_and_script_arguments(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "train.py").write_text(LOOP.format(ending="pass"))
    monkeypatch.chdir(tmp_path)
    from graphlint.trace.cli import main
    import contextlib, io, json

    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["--json", "r.json", "--svg", "p.svg", "--steps", "0", "-m", "pkg.train", "--", "3"])
    doc = json.loads((tmp_path / "r.json").read_text())
    assert rc == 0 and doc["steps"]["optimizer_step_calls"] == 3 and doc["ended"] == "ran to the end"


def test_very_deep_graph_is_walked_and_freed(tmp_path):
    src = """
    import torch
    w = torch.nn.Parameter(torch.ones(()))
    opt = torch.optim.SGD([w], lr=1e-9)
    x = w
    for _ in range(300_000):
        x = x * 1.0000001
    x.backward()
    opt.step()
    del x
    print("freed")
    """
    rc, doc, _ = run_cli(tmp_path, src)
    assert "error" not in doc, doc.get("error")
    assert doc["graph"]["nodes_per_backward"][0] >= 300_000
    assert doc["parameters"][0]["reachable"] is True


def test_usage_errors_are_one_clear_line(tmp_path, capsys):
    from graphlint.trace.cli import main

    assert main([]) == 2
    assert "give a SCRIPT or -m MODULE" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.py")]) == 2
    assert "missing.py: no such file" in capsys.readouterr().err
