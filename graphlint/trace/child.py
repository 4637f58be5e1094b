"""The traced process: `python -m graphlint.trace.child --facts FILE [--steps N] (--module M | SCRIPT) [-- ARGS]`.

Installs the tracer, runs the user's script as `python SCRIPT ARGS` would, and appends the
facts gathered so far to FILE as one JSON line after every optimizer-step attempt and once at
the end. The parent reads the last complete line, so a SIGKILL (say, from the out-of-memory
killer) loses at most the step that was running.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback


class FactsFile:
    def __init__(self, path: str):
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the whole run

    def write(self, record: dict) -> None:
        self.fh.write(json.dumps(record, default=str) + "\n")
        self.fh.flush()


def parse(argv: list[str]):
    ap = argparse.ArgumentParser(prog="graphlint.trace.child")
    ap.add_argument("--facts", required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--module")
    ap.add_argument("--display", default="")
    ap.add_argument("script", nargs="?")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    ns = ap.parse_args(argv)
    if ns.args and ns.args[0] == "--":
        ns.args = ns.args[1:]
    if ns.module and ns.script is not None:  # with -m every positional word belongs to the module
        ns.args, ns.script = [ns.script, *ns.args], None
    return ns


def main(argv: list[str]) -> int:
    ns = parse(argv)
    out = FactsFile(ns.facts)
    try:
        import runpy

        from graphlint.trace.distributed import crash_facts
        from graphlint.trace.tracer import StopTracing, Tracer
    except ImportError as exc:
        out.write({"final": True, "error": f"cannot trace: {exc} (install torch: pip install 'graphlint[trace]')",
                   "setup_error": True})
        return 0

    def snapshot(tracer, **extra) -> None:
        record = {"final": False, "facts": tracer.facts(final=False)}
        record.update(extra)
        out.write(record)

    tracer = Tracer(steps=ns.steps if ns.steps > 0 else None, on_step=snapshot, script=ns.display)
    real_exit = os._exit
    traced_pid = os.getpid()

    def traced_exit(code: int) -> None:
        if os.getpid() != traced_pid:  # a forked DataLoader worker leaving: not the script's end
            real_exit(code)
        try:
            tracer.uninstall()
            snapshot(tracer, final=True, exit_code=code, how="os._exit")
        finally:
            real_exit(code)

    record: dict = {"final": True}
    if ns.module:
        sys.argv = [ns.module] + ns.args
        sys.path[0] = os.getcwd()
    else:
        script = os.path.abspath(ns.script)
        if not os.path.isfile(script):
            out.write({"final": True, "error": f"{ns.script}: no such file", "setup_error": True})
            return 0
        sys.argv = [ns.script] + ns.args
        sys.path[0] = os.path.dirname(script)
    os._exit = traced_exit
    tracer.install()
    try:
        if ns.module:
            runpy.run_module(ns.module, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(script, run_name="__main__")
        record["how"] = "ended"
    except StopTracing:
        record["how"] = "stopped"
    except SystemExit as exc:
        code = exc.code
        record["how"] = "sys.exit"
        if code not in (None, 0):
            record["exit_code"] = code if isinstance(code, int) else 1
            if not isinstance(code, int):
                record["exit_message"] = str(code)
    except BaseException as exc:  # noqa: BLE001 - the script's own failure is part of the report
        record["how"] = "raised"
        record["error"] = f"{type(exc).__name__}: {exc}"
        record.update(crash_facts(tracer, exc))
        traceback.print_exc()
    finally:
        os._exit = real_exit
        tracer.uninstall()
    sys.stdout.flush()
    record["facts"] = tracer.facts()
    out.write(record)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
