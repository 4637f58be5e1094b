"""`graphlint trace` under torchrun: every rank traces itself; rank 0 writes one report from every rank's facts.

The hand-over is by files, never by a collective, so that it also works when the script destroyed
its process group, crashed, or left a peer waiting: each rank's traced child streams its facts to
`<run dir>/rank-<r>.jsonl` (as a single run streams them to a temporary file) and each rank's
graphlint process adds `rank-<r>.end` once it knows how its child ended. Rank 0 waits for the
others, bounded (it gives up once no missing rank has written anything for `RANK_WAIT_S` seconds),
merges, and names the ranks it never heard from. Ranks other than 0 exit 0 once they have handed
over, so torchrun never tears a run down because of a finding.

The run directory is `GRAPHLINT_TRACE_RUN_DIR` when set (a folder every rank can write to: a shared
one for several nodes), else a temporary folder keyed by torchrun's environment: the run id,
MASTER_ADDR:PORT, the elastic agent's pid (the parent of every local worker) and the restart count.

Nothing here imports torch: the helpers the tracer and child call duck-type DTensor, FSDP2 and DDP.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from graphlint.findings import Finding, Severity
from graphlint.trace.explain import RULES, rel

RUN_DIR_ENV = "GRAPHLINT_TRACE_RUN_DIR"
VERDICT_ENV = "GRAPHLINT_TRACE_VERDICT"  # set by `--nproc-per-node`: rank 0 writes its status there, exits 0
WAIT_ENV = "GRAPHLINT_TRACE_RANK_WAIT"
RANK_WAIT_S = 60.0
DDP_UNREDUCED = re.compile(r"did not receive grad for rank (\d+): ([\d ]+)")
DDP_REDUCTION_ERROR = "Expected to have finished reduction in the prior iteration"


# ---------------------------------------------------------------------- in the traced process (torch side)
def local_shard(t):
    """A DTensor's own shard, any other tensor itself: the tracer must never start a collective,
    or a rank that reads a value its peers do not read waits for them forever."""
    to_local = getattr(t, "to_local", None)
    return to_local() if to_local is not None and hasattr(t, "placements") else t


def sharded_aliases(module):
    """(unsharded, sharded) parameter pairs of the FSDP2 (`fully_shard`) modules under `module`.

    FSDP2 computes with an unsharded copy of each sharded parameter, so the loss's graph reaches
    the copy; the tracer counts that as reaching the sharded parameter that the optimizer holds.
    """
    for m in module.modules():
        state = getattr(m, "_get_fsdp_state", None)
        if state is None:
            continue
        for group in getattr(state(), "_fsdp_param_groups", ()):
            for fp in group.fsdp_params:
                unsharded = getattr(fp, "_unsharded_param", None)
                if unsharded is not None:
                    yield unsharded, fp.sharded_param


def _reducer_order(ddp) -> list:
    """The parameters in the order of DDP's reducer indices (DistributedDataParallel._build_params_for_reducer)."""
    ignore = getattr(ddp, "parameters_to_ignore", set())
    seen, order = set(), []
    for mname, m in ddp.module.named_modules():
        for pname, p in m.named_parameters(recurse=False):
            if p.requires_grad and f"{mname}.{pname}" not in ignore and id(p) not in seen:
                seen.add(id(p))
                order.append(p)
    return order


def crash_facts(tracer, exc: BaseException) -> dict:
    """For DDP's "Expected to have finished reduction" error: the ids of the parameters it says got no gradient."""
    message = str(exc)
    if DDP_REDUCTION_ERROR not in message:
        return {}
    ddps = [r["module"] for r in tracer.roots.roots.values() if hasattr(r["module"], "reducer")]
    unreduced: dict[str, list[int]] = {}
    for rank, indices in DDP_UNREDUCED.findall(message):
        for ddp in ddps:
            order = _reducer_order(ddp)
            unreduced.setdefault(rank, []).extend(id(order[int(i)]) for i in indices.split() if int(i) < len(order))
    return {"ddp_unreduced": unreduced}


# ---------------------------------------------------------------------- in each rank's graphlint process
@dataclass
class RankRun:
    """What rank 0 knows about one rank: its last facts and how it ended (`ended` False: never handed over)."""
    rank: int
    facts: dict | None = None
    error: str | None = None
    ending: str = "handed over no facts"
    ended: bool = False
    unreduced: dict = field(default_factory=dict)  # DDP's report: rank -> ids of parameters without a gradient


@dataclass
class Rank:
    """This process's rank under torchrun, and the run directory where the ranks hand their facts over."""
    rank: int
    world_size: int
    run_dir: Path
    owns_dir: bool  # a folder graphlint keyed itself (removed by rank 0), not one it was given

    @classmethod
    def from_environ(cls, env=os.environ) -> "Rank | None":
        """This process's place in a torchrun launch; None for a single-process run."""
        try:
            rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        except (KeyError, ValueError):
            return None
        if world <= 1:
            return None
        given = env.get(RUN_DIR_ENV)
        if given:
            run_dir, owns = Path(given), False
        else:
            key = "-".join([env.get("TORCHELASTIC_RUN_ID", "none"), env.get("MASTER_ADDR", ""),
                            env.get("MASTER_PORT", ""), str(os.getppid()), env.get("TORCHELASTIC_RESTART_COUNT", "0")])
            run_dir, owns = Path(tempfile.gettempdir()) / ("graphlint-trace-" + re.sub(r"[^\w.-]", "_", key)), True
        run_dir.mkdir(parents=True, exist_ok=True)
        return cls(rank, world, run_dir, owns)

    def facts_path(self, rank: int | None = None) -> Path:
        return self.run_dir / f"rank-{self.rank if rank is None else rank}.jsonl"

    def end_path(self, rank: int | None = None) -> Path:
        return self.run_dir / f"rank-{self.rank if rank is None else rank}.end"

    def hand_over(self, error: str | None, ending: str) -> None:
        """Say how this rank's child ended; its facts are already in its facts file."""
        tmp = self.end_path().with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"error": error, "ending": ending}), encoding="utf-8")
            tmp.replace(self.end_path())
        except OSError:  # rank 0 stopped waiting and removed the run directory
            pass

    def gather(self, read_records, wait_s: float | None = None) -> list[RankRun]:
        """Rank 0: every rank's last facts, after waiting until each has handed over or has gone quiet."""
        wait_s = float(os.environ.get(WAIT_ENV, RANK_WAIT_S)) if wait_s is None else wait_s
        others = [r for r in range(self.world_size) if r != self.rank]
        last_change, seen = time.monotonic(), {}
        while True:
            missing = [r for r in others if not self.end_path(r).is_file()]
            if not missing:
                break
            sizes = {r: _size(self.facts_path(r)) for r in missing}
            if sizes != seen:
                seen, last_change = sizes, time.monotonic()
            elif time.monotonic() - last_change >= wait_s:
                break
            time.sleep(0.2)
        return [self._read(r, read_records) for r in range(self.world_size)]

    def _read(self, rank: int, read_records) -> RankRun:
        records = read_records(str(self.facts_path(rank)))
        run = RankRun(rank, facts=next((r["facts"] for r in reversed(records) if r.get("facts")), None))
        final = records[-1] if records and records[-1].get("final") else {}
        run.unreduced = final.get("ddp_unreduced") or {}
        try:
            end = json.loads(self.end_path(rank).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return run
        run.ended, run.error, run.ending = True, end.get("error"), end.get("ending", "")
        return run

    def clean(self) -> None:
        if self.owns_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def record_verdict(status: int) -> int:
    """Under `--nproc-per-node`, rank 0's status goes to the launcher, and torchrun sees a clean exit."""
    path = os.environ.get(VERDICT_ENV)
    if not path:
        return status
    Path(path).write_text(str(status), encoding="utf-8")
    return 0


def launch(argv: list[str], nproc: int, package_parent: str) -> int:
    """`graphlint trace --nproc-per-node N ...`: the same command under `python -m torch.distributed.run`."""
    run_dir = tempfile.mkdtemp(prefix="graphlint-trace-run-")
    verdict = Path(run_dir) / "verdict"
    env = dict(os.environ, **{RUN_DIR_ENV: run_dir, VERDICT_ENV: str(verdict)})
    env["PYTHONPATH"] = os.pathsep.join([package_parent, *filter(None, [env.get("PYTHONPATH")])])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "graphlint", "trace", *argv]
    try:
        rc = subprocess.call(cmd, env=env)
        try:
            return int(verdict.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            print(f"graphlint trace: error: rank 0 wrote no report (torchrun ended with status {rc})",
                  file=sys.stderr)
            return 2
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


# ---------------------------------------------------------------------- merging (rank 0)
COUNTS = ("reach_count", "flat_reach_count", "backward_with_grad", "backward_nonfinite", "steps_ran", "steps_with_grad",
          "steps_lr_nonzero", "zeroed_by_zero_grad", "zeroed_other")
SITE_COUNTS = ("hits", "other_sources", "tainted_losses", "preceded_backward")


def merge(runs: list[RankRun], build_report) -> tuple[dict, list[Finding], str | None]:
    """(report, findings, error) of the whole run: one explanation of every rank's facts taken together.

    Per parameter (by name) the ranks' counts add up and it moved when it moved on any rank (under
    FSDP a rank may hold an empty or unchanged shard), so a verdict needs evidence from some rank and
    is never the artefact of one rank's shard. Run-wide facts (steps, optimizers, graphs) are those of
    the lowest rank that completed a backward(): a rank stuck in its first one knows nothing yet.
    Where ranks disagree on whether the loss reaches a parameter, it gets `reached_on_ranks`.
    """
    ranked = [run for run in runs if run.facts]
    informed = [run for run in ranked if run.facts.get("backward_calls")] or ranked
    base = informed[0].facts if informed else {"script": "", "params": []}
    doc, findings = build_report(_merge_facts(base, ranked))
    doc["world_size"] = len(runs)
    doc["ranks"] = [_rank_summary(run) for run in runs]
    unreduced = _unreduced_names(runs)
    uneven = _mark_uneven(doc["parameters"], informed, unreduced)
    findings += _uneven_findings(uneven, unreduced, base)
    errors = [f"rank {run.rank}: {run.error}" for run in runs if run.error]
    missing = [run.rank for run in runs if not run.ended]
    if missing:
        errors.append(f"{_ranks(missing)} handed over no final facts "
                      f"(quiet for {os.environ.get(WAIT_ENV, RANK_WAIT_S)} s: crashed, killed, or still waiting "
                      "in a collective); their last streamed facts are used")
        doc["missing_ranks"] = missing
    return doc, findings, "; ".join(errors) or None


def _merge_facts(base: dict, ranked: list[RankRun]) -> dict:
    """The base rank's facts with every rank's per-parameter counts and cut sites added in, keyed by name."""
    merged = dict(base)
    params: dict[str, dict] = {}
    ids: dict[tuple[int, int], int] = {}  # (rank, id in that rank's process) -> id in the merged facts
    for run in sorted(ranked, key=lambda r: r.facts is not base):
        for p in run.facts.get("params", []):
            q = params.get(p["name"])
            if q is None:
                q = params[p["name"]] = dict(p, id=len(params))
            else:
                for k in COUNTS:
                    q[k] += p[k]
                q["moved"] = q["moved"] or p["moved"]
            ids[(run.rank, p["id"])] = q["id"]
    sites: dict[tuple, dict] = {}
    for run in sorted(ranked, key=lambda r: r.facts is not base):
        for site in run.facts.get("sites", []):
            key = (site["kind"], site["op"], site["path"], site["line"])
            sources = {ids[(run.rank, i)] for i in site["sources"] if (run.rank, i) in ids}
            if key not in sites:
                sites[key] = dict(site, id=len(sites), sources=sources)
            else:
                for k in SITE_COUNTS:
                    sites[key][k] += site[k]
                sites[key]["sources"] |= sources
    merged["params"] = list(params.values())
    merged["sites"] = [dict(s, sources=sorted(s["sources"])) for s in sites.values()]
    return merged


def _rank_summary(run: RankRun) -> dict:
    out = {"rank": run.rank, "ended": run.ending}
    if run.facts:
        out["backward"] = run.facts.get("backward_calls", 0)
        out["optimizer_step_calls"] = sum(o["step_calls"] for o in run.facts.get("optimizers", []))
    if run.error:
        out["error"] = run.error
    return out


def _unreduced_names(runs: list[RankRun]) -> dict[str, list[int]]:
    """Parameter name -> the ranks on which DDP's reducer said it got no gradient."""
    out: dict[str, list[int]] = defaultdict(list)
    for run in runs:
        names = {p["id"]: p["name"] for p in (run.facts or {}).get("params", [])}
        for rank, ids in run.unreduced.items():
            for pid in ids:
                if pid in names and int(rank) not in out[names[pid]]:
                    out[names[pid]].append(int(rank))
    return out


def _mark_uneven(params: list[dict], informed: list[RankRun], unreduced: dict) -> list[dict]:
    """Add `reached_on_ranks` and a sentence to each parameter the loss reaches on some ranks only."""
    reached: dict[str, list[int]] = defaultdict(list)
    for run in informed:
        for p in run.facts.get("params", []):
            if p["reach_count"]:
                reached[p["name"]].append(run.rank)
    uneven = []
    for p in params:
        on = sorted(reached.get(p["name"], []))
        never = sorted(set(unreduced.get(p["name"], [])) | ({r.rank for r in informed} - set(on) if on else set()))
        if not never:
            continue
        if on:
            p["reached_on_ranks"] = on
        p["explanation"] = f"{p['explanation']}; {_uneven_sentence(on, never)}"
        p["never_reached_on_ranks"] = never
        uneven.append(p)
    return uneven


def _uneven_sentence(reached: list[int], never: list[int]) -> str:
    fix = (f"makes DDP's reducer fail with \"{DDP_REDUCTION_ERROR}\" (unless find_unused_parameters=True); "
           "use it on every rank, or add 0 * its output to the loss")
    if reached:
        return (f"the loss reaches it on {_ranks(reached)} only, {_ranks(never)} never reached it: a parameter "
                f"used on some ranks only {fix}")
    return f"DDP's reducer got no gradient for it on {_ranks(never)}: a parameter without a gradient {fix}"


def _uneven_findings(uneven: list[dict], unreduced: dict, facts: dict) -> list[Finding]:
    """One finding per module and set of ranks that reached its parameters, at the module's forward().

    An error where DDP's reducer failed on them; otherwise informational (find_unused_parameters=True
    copes, and a parameter that did not move already has its own finding).
    """
    code, rule_name = RULES["unused-param"]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for p in uneven:
        groups[(p.get("root"), tuple(p.get("reached_on_ranks", [])), tuple(p["never_reached_on_ranks"]))].append(p)
    out = []
    for (root, reached, never), members in groups.items():
        names = ", ".join(m["name"] for m in members[:4]) + (f" and {len(members) - 4} more"
                                                             if len(members) > 4 else "")
        failed = any(m["name"] in unreduced for m in members)
        what = "used on some ranks only" if reached else f"without a gradient on {_ranks(never)}"
        msg = (f"{len(members)} parameter{'s' if len(members) != 1 else ''} of {root or 'no module'} "
               f"{'are' if len(members) != 1 else 'is'} {what} ({names}): "
               f"{_uneven_sentence(list(reached), list(never))}")
        if failed:
            msg = f"DDP's reducer failed (\"{DDP_REDUCTION_ERROR}\"): " + msg
        path, line = next((r["source"] for r in facts.get("roots", []) if r["class"] == root and r.get("source")),
                          (facts.get("script_path") or facts.get("script"), 1))
        out.append(Finding(rule=code, name=rule_name, category="unused-param",
                           severity=Severity.ERROR if failed else Severity.INFO, path=rel(path), line=line,
                           column=1, end_line=line, end_column=1, message=msg, pass_="runtime"))
    return out


def _ranks(ranks) -> str:
    return f"rank{'s' if len(ranks) > 1 else ''} " + ", ".join(map(str, ranks))
