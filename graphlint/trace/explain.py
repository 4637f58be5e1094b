"""Turn the tracer's facts (plain data, no torch) into the runtime report: a cause per parameter and findings.

Every cause that holds for a parameter that did not move is gathered (`_Explainer.holding`);
the report gives the first in PRECEDENCE (`_Explainer.cause`), the one place that orders them:

  frozen              requires_grad is False (or: no optimizer holds any parameter of its
                      module and no loss reaches it: a target, teacher or EMA copy, quiet)
  optimizer-coverage  no optimizer holds it, yet it gets gradients or its module's other
                      parameters are optimized
  a cut category      unreachable from every loss, and a recorded cut whose output flowed into
                      a loss has it upstream: `detach`, `scalar-escape`, `rewrap`, `no-grad`,
                      `non-differentiable` (in that order when several flowed)
  backward-missing    backward() never ran; or it never reached any parameter of its module; or
                      the parameter only feeds a value that left the graph as a Python number
                      which never came back into a loss (a loss term logged with .item() but
                      left out of the tensor that backward() ran on)
  zero-grad-order     it had a gradient after backward, and zero_grad() cleared it before step
  grad-mutation       it had a gradient (or NaN) after backward, and something else zeroed,
                      replaced or dropped it before step; or a gradient hook the user
                      registered on it (`p.register_hook`) turned its nonzero gradient into zeros
  unused-param        unreachable and nothing above explains it, or its gradient was always 0
  step-gate           it had a gradient, but optimizer.step() never ran (a condition around
                      it, or a GradScaler that skipped every step for inf/NaN)
  lr-zero             steps ran with its gradient, but its group's learning rate was 0 each time

A flowed cut beats backward-missing: the value was meant to reach the loss and the cut is
what stopped it; backward-missing beats unused-param: the parameter did compute something; a
gradient cleared before step() (zero-grad-order, grad-mutation) beats a gradient that was 0: the
clearing is what the user must fix first, and it hides every other gradient too.
"""
from __future__ import annotations

import os
from collections import defaultdict

from graphlint.findings import Finding, Severity, format_measure

RULES = {
    "detach": ("GLT101", "runtime-detach-cut"),
    "scalar-escape": ("GLT102", "runtime-scalar-escape"),
    "rewrap": ("GLT103", "runtime-rewrap"),
    "no-grad": ("GLT104", "runtime-no-grad"),
    "non-differentiable": ("GLT105", "runtime-non-differentiable"),
    "grad-mutation": ("GLT201", "runtime-grad-mutated-before-step"),
    "zero-grad-order": ("GLT202", "runtime-zero-grad-before-step"),
    "step-gate": ("GLT203", "runtime-step-never-ran"),
    "lr-zero": ("GLT204", "runtime-lr-zero"),
    "backward-missing": ("GLT205", "runtime-backward-missing"),
    "missing-zero-grad": ("GLT206", "runtime-gradients-never-cleared"),
    "optimizer-coverage": ("GLT301", "runtime-not-in-optimizer"),
    "frozen": ("GLT302", "runtime-frozen"),
    "unused-param": ("GLT303", "runtime-unused-parameter"),
    "unregistered-param": ("GLT304", "runtime-unregistered-parameter"),
    "graph-retention": ("GLT401", "runtime-graph-retention"),
}
CUT_KINDS = ("detach", "scalar-escape", "rewrap", "no-grad", "non-differentiable")
UNTAINTABLE = ("rewrap",)  # element-wise conversions inside a tensor constructor: matched by time window
PRECEDENCE = ("frozen", "optimizer-coverage", *CUT_KINDS, "backward-missing", "zero-grad-order", "grad-mutation",
              "unused-param", "step-gate", "lr-zero")
OP_WORDS = {
    "detach": ".detach()", "detach_": ".detach_()", "data": ".data", "item": ".item()", "tolist": ".tolist()",
    "numpy": ".numpy()", "__float__": "float()", "__int__": "int()", "__index__": "an integer conversion",
    "__bool__": "bool()", "tensor": "torch.tensor()", "as_tensor": "torch.as_tensor()",
    "from_numpy": "torch.from_numpy()", "new_tensor": ".new_tensor()",
}
QUIET_FROZEN = "quiet"


def rel(path: str | None) -> str:
    if not path:
        return ""
    try:
        r = os.path.relpath(path)
    except ValueError:
        return path
    return path if r.startswith("..") else r


def where(path, line) -> str:
    return f"{rel(path)}:{line}" if path else "an unknown line"


def op_words(op: str) -> str:
    return OP_WORDS.get(op, f"{op}()")


class _Explainer:
    def __init__(self, facts: dict):
        self.f = facts
        self.params = facts.get("params", [])
        self.sites = facts.get("sites", [])
        self._unit_members: dict = {}
        self.opts = facts.get("optimizers", [])

    # -------------------------------------------------------------- per parameter
    def reached(self, p) -> bool:
        return p["reach_count"] > 0

    def unit_members(self, unit: str) -> list:
        """The parameters of a unit (a module that ran as one piece): those named under its path."""
        members = self._unit_members.get(unit)
        if members is None:
            prefix = unit + "."
            members = self._unit_members[unit] = [p for p in self.params if p["name"].startswith(prefix)]
        return members

    def cause(self, p) -> tuple[str | None, str, dict | None]:
        """(category, explanation, site) for a parameter that did not move: the first in PRECEDENCE that holds."""
        return min(self.holding(p), key=lambda c: PRECEDENCE.index(c[0]), default=(
            None, "steps ran with a nonzero gradient and learning rate, yet its value is unchanged "
            "(something restores it after the step?)", None))

    def holding(self, p):
        """Every cause that holds for a parameter that did not move, in no particular order."""
        f = self.f
        unit = p.get("unit")
        siblings = self.unit_members(unit) if unit else [p]
        if not p["requires_grad"]:
            yield "frozen", "requires_grad is False, so it is frozen on purpose or by mistake", None
        if not p["optimizers"]:
            if self.reached(p) or p["backward_with_grad"] or any(s["optimizers"] for s in siblings):
                held = " (the optimizer holds other parameters of this module)" if any(
                    s["optimizers"] for s in siblings) else ""
                yield ("optimizer-coverage", "no optimizer holds it" + held +
                       (f"; it did get gradients (norm {format_measure(p['grad_norm'])})" if p["backward_with_grad"] else ""),
                       None)
            else:
                yield ("frozen", f"not trained by this script: no optimizer holds any parameter of {unit or 'it'} "
                       "and no loss reaches it (a target, teacher or EMA network)", QUIET_FROZEN)
            return
        if f.get("backward_calls", 0) == 0:
            yield "backward-missing", "backward() was never called, so it never got a gradient", None
            return
        if not self.reached(p):
            yield from self.unreached(p, siblings)
        else:
            yield from self.reached_but_still(p)

    def unreached(self, p, siblings):
        site = self.cut_for(p)
        if site is not None:
            yield site["kind"], self.cut_sentence(site, p), site
        escape = self.unreturned_escape(p)
        if escape is not None:
            yield ("backward-missing", f"backward() runs on a loss that does not depend on it: it only feeds "
                   f"{op_words(escape['op'])} at {where(escape['path'], escape['line'])}, a Python number that "
                   "never comes back into a loss (a loss term left out of the tensor backward() runs on?)", None)
        if any(self.reached(s) for s in siblings):
            yield ("unused-param", "the loss's autograd graph never reaches it: it took no part in "
                   "computing any loss (module not called, or branch not taken)", None)
        elif self.f.get("leaf_rooted_backwards"):
            yield ("rewrap", "backward() ran on a fresh leaf tensor built from plain values, "
                   "so no parameter is reachable from the loss", None)
        else:
            yield ("backward-missing", f"backward() never reached any parameter of {p.get('unit')}: "
                   "the tensor it ran on does not depend on this module's output", None)

    def reached_but_still(self, p):
        hook = zeroing_hook(p)
        if hook is not None and p["backward_with_grad"] == 0:  # the gradient arrived; the user's hook zeroed it
            yield ("grad-mutation", f"a gradient hook registered at {where(hook[0], hook[1])} turned its nonzero "
                   f"gradient into zeros ({hook[2]} time{'s' if hook[2] != 1 else ''})", None)
            return
        nan = " (NaN/inf)" if p["backward_nonfinite"] and not p["backward_with_grad"] else ""
        no_grad_at_step = p["steps_with_grad"] == 0
        if no_grad_at_step and p["zeroed_by_zero_grad"]:
            yield ("zero-grad-order", f"it had a gradient after backward(){nan}, but zero_grad() "
                   "cleared it before optimizer.step() ran", None)
        if no_grad_at_step and p["zeroed_other"]:
            yield ("grad-mutation", f"it had a gradient after backward(){nan}, but it was zeroed, "
                   "replaced or dropped before optimizer.step() (norm at step: "
                   f"{format_measure(p['grad_norm_at_step'])})", None)
        if p["backward_with_grad"] == 0 and p["backward_nonfinite"] == 0:
            site = self.cut_for(p, kinds=("non-differentiable",))
            if site is not None:
                yield site["kind"], self.cut_sentence(site, p), site
            else:
                yield ("unused-param", "it is in the loss's graph but its gradient was exactly zero "
                       "after every backward()", None)
            return
        if no_grad_at_step:
            opts = [self.opts[i] for i in p["optimizers"] if i < len(self.opts)]
            if any(o["scaler_skips"] for o in opts) and p["steps_ran"] == 0:
                yield ("step-gate", f"it had gradients (norm {format_measure(p['grad_norm'])}), but the GradScaler "
                       "skipped every step because the gradients held inf/NaN", None)
            elif p["steps_ran"] == 0:
                rewritten = ""
                muts = self.f.get("mutation_sites", [])
                if muts:
                    m = max(muts, key=lambda s: s["hits"])
                    rewritten = f", then rewritten at {where(m['path'], m['line'])}"
                norm = ("NaN/inf after backward()" if p["backward_nonfinite"] and not p["backward_with_grad"]
                        else f"norm {format_measure(p['grad_norm'])}")
                yield ("step-gate", f"it had gradients ({norm}{rewritten}) but optimizer.step() never ran: "
                       "the condition around the step was never true", None)
            else:
                yield ("grad-mutation", "optimizer.step() ran, but its gradient was never present at step time",
                       None)
        elif p["steps_lr_nonzero"] == 0:
            yield ("lr-zero", f"steps ran with its gradient, but its group's learning rate was 0 "
                   f"each time (lr range {fmt_lrs(p['lrs'])})", None)

    @staticmethod
    def is_orphan(p) -> bool:
        """A tensor only an optimizer holds, that nothing used: `moved` means nothing for it."""
        return (p["root"] is None and not p["moved"] and p["reach_count"] == 0 and p["flat_reach_count"] == 0
                and p["backward_with_grad"] == 0 and p["backward_nonfinite"] == 0)

    def orphan_finding(self, orphans) -> list[Finding]:
        if not orphans:
            return []
        opt = self.opts[orphans[0]["optimizers"][0]] if orphans[0]["optimizers"] else {"path": None, "line": 0}
        names = ", ".join(o["name"] for o in orphans[:4]) + (" ..." if len(orphans) > 4 else "")
        return [self.finding("optimizer-coverage", Severity.WARNING, opt["path"], opt["line"],
                             f"the optimizer holds {len(orphans)} tensor(s) that belong to no module that ran and "
                             f"that no loss reaches ({names}): was a layer replaced after the optimizer was built?")]

    def cut_for(self, p, kinds=CUT_KINDS) -> dict | None:
        """The recorded cut that disconnects this parameter: one whose output reached a loss first."""
        pid = p["id"]
        exact = [s for s in self.sites if s["kind"] in kinds and s["tainted_losses"] and pid in s["sources"]]
        if exact:
            return min(exact, key=lambda s: (CUT_KINDS.index(s["kind"]), s["id"]))
        windowed = [s for s in self.sites if s["kind"] in kinds and s["kind"] in UNTAINTABLE
                    and s["preceded_backward"] and pid in s["sources"]]
        if windowed:
            return min(windowed, key=lambda s: s["id"])
        return None

    def unreturned_escape(self, p) -> dict | None:
        """A scalar escape upstream of this parameter whose Python value never flowed into a loss."""
        pid = p["id"]
        return min((s for s in self.sites if s["kind"] == "scalar-escape" and not s["tainted_losses"]
                    and pid in s["sources"]), key=lambda s: s["id"], default=None)

    def cut_sentence(self, site, p) -> str:
        loc = where(site["path"], site["line"])
        kind = site["kind"]
        if kind == "no-grad":
            return f"unreachable from the loss: it was used with gradients disabled (torch.no_grad / inference_mode) at {loc}"
        if kind == "non-differentiable":
            return f"unreachable from the loss: {op_words(site['op'])} at {loc} has no gradient, so nothing flows back to it"
        if kind == "scalar-escape":
            return f"unreachable from the loss: {op_words(site['op'])} at {loc} turns its result into a Python number"
        if kind == "rewrap":
            return f"unreachable from the loss: {op_words(site['op'])} at {loc} copies values into a new tensor with no graph"
        return f"unreachable from the loss because of the {op_words(site['op'])} at {loc}"

    # -------------------------------------------------------------- report
    def build(self) -> dict:
        params_out = []
        groups: dict = defaultdict(list)
        orphans = []
        for p in self.params:
            cause, why, site, quiet = None, "it moved", None, False
            moved = p["moved"]
            if self.is_orphan(p):
                moved, why = None, ("held only by an optimizer: it belongs to no module that ran forward and no "
                                    "loss reaches it (a layer replaced after the optimizer was built?)")
                orphans.append(p)
            elif not p["moved"]:
                cause, why, site = self.cause(p)
                quiet = site == QUIET_FROZEN
                if quiet:
                    site = None
                groups[(cause, p.get("unit"), site["id"] if site else None, quiet)].append(p)
            params_out.append({
                "name": p["name"], "shape": p["shape"], "requires_grad": p["requires_grad"],
                "in_optimizer": bool(p["optimizers"]), "reachable": self.reached(p),
                "grad_norm": p["grad_norm"], "grad_norm_at_step": p["grad_norm_at_step"],
                "moved": moved, "cause": cause, "explanation": why, "root": p["root"], "unit": p.get("unit"),
            })
            if site is not None:
                params_out[-1]["cut"] = {"kind": site["kind"], "op": site["op"], "path": rel(site["path"]),
                                         "line": site["line"], "site": site["id"]}
        findings = self.findings(groups) + self.orphan_finding(orphans)
        return {"parameters": params_out, "findings": findings}

    def findings(self, groups) -> list[Finding]:
        out: list[Finding] = []
        script = self.f.get("script_path") or self.f.get("script") or ""
        by_id = {s["id"]: s for s in self.sites}
        for (cause, unit, site_id, quiet), members in groups.items():
            if cause is None:
                continue
            names = ", ".join(m["name"] for m in members[:4]) + (f" and {len(members) - 4} more" if len(members) > 4 else "")
            count = f"{len(members)} parameter{'s' if len(members) != 1 else ''} of {unit or 'no module'}"
            site = by_id.get(site_id)
            if site is not None:
                path, line = site["path"], site["line"]
                msg = (f"{op_words(site['op'])} cuts the graph here: {count} never get a gradient from the loss "
                       f"({names})")
                if cause == "no-grad":
                    msg = f"code run with gradients disabled here feeds the loss: {count} get no gradient ({names})"
            else:
                path, line, msg = self.locate(cause, unit, members, names, count)
            severity = Severity.INFO if cause == "frozen" else Severity.ERROR
            out.append(self.finding(cause, severity, path or script, line, msg))
        out += self.unregistered()
        out += self.retention()
        out += self.stale_grads()
        return sorted(out, key=lambda f: (f.severity != Severity.ERROR, f.sort_key))

    def locate(self, cause, unit, members, names, count) -> tuple:
        f = self.f
        opts = [self.opts[i] for m in members for i in m["optimizers"] if i < len(self.opts)]
        opt = opts[0] if opts else (self.opts[0] if self.opts else None)
        step_site = (opt or {}).get("scaler_site") or (opt or {}).get("step_site")
        backward = max(f.get("backward_sites", []), key=lambda s: s["hits"], default=None)
        if cause == "optimizer-coverage":
            o = self.opts[0] if self.opts else None
            return (o["path"] if o else None, o["line"] if o else 0,
                    f"{count} are in no optimizer, so step() never updates them ({names})")
        if cause == "frozen":
            return None, 0, f"{count} are not trained (requires_grad=False or never optimized): {names}"
        if cause == "backward-missing":
            if f.get("backward_calls", 0) == 0:
                s = step_site or [None, 0]
                return s[0], s[1], (f"optimizer.step() ran {sum(o['step_calls'] for o in self.opts)} times "
                                    f"but backward() was never called: {count} never get a gradient")
            b = backward or {"path": None, "line": 0}
            return b["path"], b["line"], f"backward() here never reaches {count} ({names})"
        if cause == "rewrap":
            b = backward or {"path": None, "line": 0}
            return b["path"], b["line"], f"backward() runs on a fresh leaf tensor with no graph: {count} get no gradient"
        if cause == "unused-param":
            src = next((r.get("source") for r in f.get("roots", []) if r.get("unit") == unit and r.get("source")), None)
            return (src[0] if src else None, src[1] if src else 0,
                    f"{count} take no part in any loss ({names}): built but never used in forward")
        if cause in ("grad-mutation",):
            hook = max(filter(None, map(zeroing_hook, members)), key=lambda h: h[2], default=None)
            if hook is not None:
                return hook[0], hook[1], (f"this gradient hook turns nonzero gradients into zeros: {count} reach "
                                          f"step() with a zero gradient ({names})")
            muts = f.get("mutation_sites", [])
            m = max(muts, key=lambda s: s["hits"], default=None)
            if m:
                return m["path"], m["line"], (f"gradients are zeroed, replaced or sanitised here between backward() "
                                              f"and step(): {count} reach step() with zero/no gradient ({names})")
            s = step_site or [None, 0]
            return s[0], s[1], f"{count} had gradients after backward() but none at this step() ({names})"
        if cause == "zero-grad-order":
            cleared: dict = defaultdict(int)  # the zero_grad() calls that cleared these very parameters
            for m in members:
                for path, line, n in m.get("clears_before_step") or ():
                    cleared[(path, line)] += n
            if cleared:
                path, line = max(cleared, key=cleared.get)
            else:
                z = max(f.get("zero_grad_sites", []), key=lambda s: s["hits"], default={})
                path, line = z.get("path"), z.get("line", 0)
            return (path, line,
                    f"zero_grad() runs between backward() and step(): {count} reach step() with no gradient ({names})")
        if cause == "step-gate":
            if any(o["scaler_skips"] for o in opts):
                s = step_site or [None, 0]
                return s[0], s[1], (f"the GradScaler skipped every step (inf/NaN gradients): {count} had gradients "
                                    f"but never moved ({names})")
            b = backward or {"path": None, "line": 0}
            return b["path"], b["line"], (f"optimizer.step() never ran after this backward() "
                                          f"({f.get('backward_calls', 0)} backward calls, 0 steps): {count} had "
                                          f"gradients but never moved ({names})")
        if cause == "lr-zero":
            o = opt or {"path": None, "line": 0}
            return o["path"], o["line"], f"the learning rate of {count} was 0 at every step that ran ({names})"
        if cause in CUT_KINDS:
            return None, 0, f"{count} are cut from the loss ({names})"
        return None, 0, f"{count} did not move ({names})"

    def finding(self, cause, severity, path, line, msg) -> Finding:
        code, name = RULES[cause]
        line = max(1, int(line or 1))
        return Finding(rule=code, name=name, category=cause, severity=severity, path=rel(path), line=line,
                       column=1, end_line=line, end_column=1, message=msg, pass_="runtime")

    def unregistered(self) -> list[Finding]:
        script = self.f.get("script_path") or ""
        return [self.finding("unregistered-param", Severity.ERROR, u["path"] or script, u["line"],
                             f"{u['where']} is {u['what']}: it is invisible to .parameters(), so no optimizer "
                             "trains it (and .to()/state_dict() miss it)")
                for u in self.f.get("unregistered", [])]

    def retention(self) -> list[Finding]:
        alive = self.f.get("alive_graphs", [])
        sites = self.f.get("retention_sites", [])
        nodes = self.f.get("graph_nodes", [])
        growing = len(alive) >= 3 and alive[-1] >= 2 and alive[-1] > alive[0] and all(
            b >= a for a, b in zip(alive[-3:], alive[-2:]))
        repeated = [s for s in sites if s["backwards"] >= 2]
        # one loss whose graph reaches back into earlier iterations (a carried state never detached)
        deepening = len(nodes) >= 4 and nodes[0] > 0 and nodes[-1] >= 2 * nodes[0] and all(
            b > a for a, b in zip(nodes, nodes[1:]))
        if deepening:  # the more specific account: earlier graphs are alive because the loss still reaches them
            b = max(self.f.get("backward_sites", []), key=lambda s: s["hits"], default={"path": None, "line": 0})
            return [self.finding("graph-retention", Severity.WARNING, b["path"], b["line"],
                                 f"each backward() walks a larger graph ({nodes[0]} -> {nodes[-1]} autograd nodes over "
                                 f"{len(nodes)} calls): the loss still depends on earlier iterations' graphs "
                                 "(a carried state or total that was never detached)")]
        if not growing and not (repeated and alive and alive[-1] >= 1):
            return []
        site = max(sites, key=lambda s: s["hits"], default=None)
        if site is None:
            b = max(self.f.get("backward_sites", []), key=lambda s: s["hits"], default={"path": None, "line": 0})
            site = b
        per = (sum(nodes) // len(nodes)) if nodes else 0
        msg = (f"autograd graphs are kept alive across iterations: at the last backward() the graphs of "
               f"{alive[-1] if alive else '?'} earlier iterations were still alive (growth {alive[:1] + alive[-1:]} "
               f"over {len(alive)} backward calls, ~{per} autograd nodes each); accumulate loss.item() or "
               "loss.detach() instead")
        return [self.finding("graph-retention", Severity.WARNING, site["path"], site["line"], msg)]

    def stale_grads(self) -> list[Finding]:
        out = []
        for o in self.opts:
            if o.get("stale_grad_steps"):
                s = o.get("step_site") or [o["path"], o["line"]]
                out.append(self.finding("missing-zero-grad", Severity.WARNING, s[0], s[1],
                                        f"{o['stale_grad_steps']} of {o['steps_ran']} {o['class']} steps used "
                                        "gradients that still held earlier iterations' gradients: nothing clears "
                                        "them (zero_grad()) between steps"))
        return out


def zeroing_hook(p) -> tuple | None:
    """(path, line, times) of the user's gradient hook on `p` that zeroed its gradient most often, if any."""
    return max(map(tuple, p.get("grad_hooks_zeroing") or ()), key=lambda h: h[2], default=None)


def fmt_lrs(lrs) -> str:
    vals = [v for pair in lrs for v in pair if v is not None]
    if not vals:
        return "unknown"
    return f"{min(vals):.3g}..{max(vals):.3g}"


def build_report(facts: dict) -> tuple[dict, list[Finding]]:
    """(report dict without findings, findings) for the facts of one traced run."""
    built = _Explainer(facts).build()
    names = {p["id"]: p["name"] for p in facts.get("params", [])}
    used = {p["cut"]["site"] for p in built["parameters"] if p.get("cut")}
    steps = {
        "backward": facts.get("backward_calls", 0),
        "optimizer_step_calls": sum(o["step_calls"] for o in facts.get("optimizers", [])),
        "optimizer_steps_skipped": sum(o["scaler_skips"] for o in facts.get("optimizers", [])),
        "optimizer_steps_ran": sum(o["steps_ran"] for o in facts.get("optimizers", [])),
    }
    doc = {"version": 1, "script": facts.get("script", ""), "steps": steps,
           "parameters": built["parameters"], "roots": list(dict.fromkeys(r["class"] for r in facts.get("roots", []))),
           "cuts": [dict(s, path=rel(s["path"]), sources=[names[i] for i in s["sources"] if i in names])
                    for s in facts.get("sites", []) if s["id"] in used],
           "graph": {"nodes_per_backward": facts.get("graph_nodes", []),
                     "earlier_graphs_alive": facts.get("alive_graphs", []),
                     "walks_truncated": facts.get("walk_truncated", 0)}}
    if facts.get("stop_reason"):
        doc["stopped"] = facts["stop_reason"]
    return doc, built["findings"]
