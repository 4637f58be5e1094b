"""`graphlint trace`: run a training script in a traced child process and report why parameters do not train.

The parent never imports torch: it starts `python -m graphlint.trace.child`, waits, reads the
last facts the child streamed, and writes the report even when the child raised, exited early
or was killed.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from graphlint.findings import FileError
from graphlint.trace import distributed
from graphlint.trace.explain import build_report

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="graphlint trace",
        description="Run a training script for a few optimizer steps under autograd instrumentation and "
                    "explain, per parameter, why it does not train.",
        usage="graphlint trace [--steps N] [--json PATH] [--svg PATH] [--sarif PATH] [--html PATH] "
              "[--nproc-per-node N] (SCRIPT | -m MODULE) [-- ARGS...]",
    )
    p.add_argument("--steps", type=int, default=3,
                   help="stop after N optimizer-step attempts (default 3; 0 = run to the end)")
    p.add_argument("--json", type=Path, metavar="PATH", help="write the report as JSON (CONTRACT.md)")
    p.add_argument("--svg", type=Path, metavar="PATH",
                   help="picture of the disconnected graph (default graphlint-trace.svg; the .dot is written beside it)")
    p.add_argument("--sarif", type=Path, metavar="PATH", help="write runtime findings as SARIF 2.1.0")
    p.add_argument("--html", type=Path, metavar="PATH", help="write a self-contained HTML report")
    p.add_argument("-m", dest="module", metavar="MODULE", help="run a module, like python -m MODULE")
    p.add_argument("--nproc-per-node", "--nproc_per_node", type=int, metavar="N",
                   help="run N processes through torch.distributed.run (as torchrun --nproc-per-node=N "
                        "would); rank 0 writes one report from every rank's facts")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the summary lines")
    p.add_argument("script", nargs="?", help="the training script")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script (after --)")
    return p


def _raise_stack_limit() -> None:
    """Runs in the child before exec: room to free walked deep graphs (see graphwalk.py)."""
    from graphlint.trace.graphwalk import ensure_stack_room

    ensure_stack_room()


def run_child(script: str | None, module: str | None, args: list[str], steps: int, facts_path: str) -> int:
    cmd = [sys.executable, "-m", "graphlint.trace.child", "--facts", facts_path, "--steps", str(steps),
           "--display", module or script or ""]
    cmd += ["--module", module] if module else [script]
    cmd += ["--", *args]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([PACKAGE_PARENT, *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.Popen(cmd, env=env, preexec_fn=_raise_stack_limit if os.name == "posix" else None)
    try:
        _import_reporters()
        return proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        return proc.wait()


def _import_reporters() -> None:
    """Import what writing the report needs (networkx for the picture) while the script runs, so
    that the parent's imports add no wall time to the traced run."""
    from graphlint.report import graph_render, trace_text  # noqa: F401


def read_records(path: str) -> list[dict]:
    records = []
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return records
    for line in text.splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut short by a kill; everything before it is complete
    return records


def peak_memory_mb() -> float | None:
    try:
        import resource
    except ImportError:
        return None
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)  # Linux: KiB


def describe_end(rc: int, last: dict | None) -> tuple[str | None, str]:
    """(error for the report or None, one line saying how the run ended)."""
    final = last if last and last.get("final") else None
    if rc < 0:
        sig = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
        mem = peak_memory_mb()
        hint = " (SIGKILL usually means the out-of-memory killer)" if sig == "SIGKILL" else ""
        return (f"the script was killed by {sig}{hint}; peak memory {mem} MB; facts up to the last "
                f"completed step are reported", f"killed by {sig}")
    if final is None:
        return (f"the traced process ended (status {rc}) without a final report; facts up to the last "
                "completed step are reported", f"ended with status {rc}")
    if final.get("error"):
        return final["error"], "raised " + final["error"].split(":")[0]
    how = final.get("how")
    code = final.get("exit_code")
    if how in ("sys.exit", "os._exit") and code not in (None, 0):
        msg = final.get("exit_message") or f"status {code}"
        return f"the script exited early via {how}({code}): {msg}", f"exited via {how}({code})"
    if how == "os._exit":
        return None, "exited via os._exit(0)"
    if how == "stopped":
        return None, (final.get("facts") or {}).get("stop_reason") or "stopped"
    if how == "sys.exit":
        return None, "exited via sys.exit(0)"
    return None, "ran to the end"


def main(argv: list[str]) -> int:
    parser = build_parser()
    if "--" in argv:
        cut = argv.index("--")
        own, extra = argv[:cut], argv[cut + 1:]
    else:
        own, extra = argv, []
    ns = parser.parse_args(own)
    script_args = list(ns.args) + extra
    if bool(ns.script) == bool(ns.module):
        if ns.module and ns.script:
            script_args = [ns.script] + script_args
        else:
            parser.print_usage(sys.stderr)
            print("graphlint trace: error: give a SCRIPT or -m MODULE", file=sys.stderr)
            return EXIT_ERROR
    if ns.script and not Path(ns.script).is_file():
        print(f"graphlint trace: error: {ns.script}: no such file", file=sys.stderr)
        return EXIT_ERROR
    rank = distributed.Rank.from_environ()
    if rank is None and ns.nproc_per_node and ns.nproc_per_node > 1:
        return distributed.launch(argv, ns.nproc_per_node, PACKAGE_PARENT)
    if rank is None:
        fd, facts_path = tempfile.mkstemp(prefix="graphlint-trace-", suffix=".jsonl")
        os.close(fd)
    else:
        facts_path = str(rank.facts_path())
    try:
        rc = run_child(None if ns.module else ns.script, ns.module, script_args, max(0, ns.steps), facts_path)
        records = read_records(facts_path)
    finally:
        if rank is None:
            os.unlink(facts_path)
    last = records[-1] if records else None
    if last and last.get("setup_error"):
        print(f"graphlint trace: error: {last['error']}", file=sys.stderr)
        return EXIT_ERROR
    facts = next((r["facts"] for r in reversed(records) if r.get("facts")), None)
    error, ending = describe_end(rc, last)
    target = ns.module or ns.script
    script_path = None if ns.module else ns.script
    if rank is not None:
        return finish_rank(rank, error, ending, script_path, ns)
    facts = facts or {"script": target, "params": []}
    facts["script_path"] = script_path
    return write_outputs(*build_report(facts), error, ending, ns)


def finish_rank(rank: distributed.Rank, error: str | None, ending: str, script_path: str | None, ns) -> int:
    """Under torchrun: hand this rank's facts over; rank 0 gathers every rank's and writes the one report."""
    rank.hand_over(error, ending)
    if rank.rank != 0:
        print(f"graphlint trace: rank {rank.rank} {ending}; its facts are handed to rank 0", file=sys.stderr)
        return EXIT_CLEAN
    try:
        runs = rank.gather(read_records)
        for run in runs:
            if run.facts:
                run.facts["script_path"] = script_path
        doc, findings, error = distributed.merge(runs, build_report)
        status = write_outputs(doc, findings, error, ending, ns)
    finally:
        rank.clean()
    return distributed.record_verdict(status)


def write_outputs(doc: dict, findings: list, error: str | None, ending: str, ns) -> int:
    from graphlint.report import graph_render, trace_text

    doc["ended"] = ending
    if error:
        doc["error"] = error
    mem = peak_memory_mb()
    if mem is not None:
        doc["peak_memory_mb"] = mem
    svg_path = ns.svg or Path("graphlint-trace.svg")
    picture = graph_render.write(doc, findings, svg_path)
    doc["artifacts"] = picture.artifacts
    doc["findings"] = [f.to_dict() for f in findings]
    if ns.json:
        ns.json.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    if ns.sarif:
        from graphlint.report import sarif

        errors = [FileError(doc["script"], error)] if error else []
        ns.sarif.write_text(sarif.render(findings, errors, automation_id="graphlint/trace"), encoding="utf-8")
    if ns.html:
        from graphlint.report import html

        ns.html.write_text(html.render(doc, picture.svg_text), encoding="utf-8")
    sys.stdout.write(trace_text.render(doc, findings, picture.note, quiet=ns.quiet))
    sys.stdout.flush()
    if error:
        return EXIT_ERROR
    return EXIT_FINDINGS if any(f.severity.is_loud for f in findings) else EXIT_CLEAN
