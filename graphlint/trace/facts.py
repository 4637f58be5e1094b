"""The tracer's facts as plain data (JSON-ready, no torch objects), the input of explain.build_report.

`param_names` is the one place that decides what a parameter is called in the report.
"""
from __future__ import annotations

from graphlint.trace import frameworks, naming


def param_names(tracer) -> tuple[dict, dict]:
    """({id(parameter): naming.ParamName}, {unit path: module}) for every parameter a root or optimizer
    holds: named after the user's own outermost module that owns it (naming.py)."""
    units = [r["module"] for r in tracer.roots.tops()]
    optimizers = [(o.cls, o.ref()) for o in tracer.optimizers.values() if o.ref() is not None]
    return naming.parameter_names(units, set(tracer.params), optimizers, tracer.lineage)


def gather(tracer, final: bool = True) -> dict:
    """Everything explain.py needs; `final` re-reads every parameter's value, otherwise only the still ones."""
    tracer.params.update_moved(recheck=final)
    names, units = param_names(tracer)
    cuts = tracer.cuts
    return {
        "script": tracer.script,
        "backward_calls": tracer.backward_calls,
        "step_attempts": tracer.step_attempts,
        "leaf_rooted_backwards": tracer.leaf_rooted_backwards,
        "graph_nodes": tracer.graph_nodes[-50:],
        "walk_truncated": tracer.walk_truncated,
        "alive_graphs": tracer.alive_graphs[-200:],
        "stop_reason": tracer.stop_reason,
        "roots": [{"class": unit.split(".", 1)[0], "unit": unit, "source": frameworks.user_source(module)}
                  for unit, module in units.items()],
        "optimizers": [{"class": o.cls, "path": o.path, "line": o.line, "step_calls": o.step_calls,
                        "steps_ran": o.steps_ran, "scaler_skips": o.scaler_skips,
                        "stale_grad_steps": o.stale_grad_steps,
                        "step_site": list(o.step_site) if o.step_site else None,
                        "scaler_site": list(o.scaler_site) if o.scaler_site else None,
                        "lrs": {str(k): list(v) for k, v in o.lrs_seen.items()}}
                       for o in tracer.optimizers.values()],
        "sites": [{"id": s.id, "kind": s.kind, "op": s.op, "path": s.path, "line": s.line, "hits": s.hits,
                   "sources": sorted(s.sources), "other_sources": s.other_sources,
                   "tainted_losses": s.tainted_losses, "preceded_backward": s.preceded_backward,
                   "grad_off_from": list(s.grad_off_from) if s.grad_off_from else None}
                  for s in cuts.site_by_id],
        "unregistered": list(tracer.roots.unregistered.values()),
        "retention_sites": [{"path": r["path"], "line": r["line"], "hits": r["hits"],
                             "backwards": len(r["backwards"])} for r in cuts.retention_sites.values()],
        "mutation_sites": [{"path": k[0], "line": k[1], "hits": v} for k, v in cuts.mutation_sites.items()],
        "zero_grad_sites": [{"path": k[0], "line": k[1], "hits": v} for k, v in tracer.zero_grad_sites.items()],
        "backward_sites": [{"path": k[0], "line": k[1], "hits": v} for k, v in tracer.backward_sites.items()],
        "internal_errors": tracer.internal_errors,
        "params": _param_facts(tracer, names),
    }


def _param_facts(tracer, names) -> list[dict]:
    opt_of: dict[int, list] = {}
    group_lr: dict[int, list] = {}
    for oi, ost in enumerate(tracer.optimizers.values()):
        opt = ost.ref()
        if opt is None:
            continue
        for gi, g in enumerate(opt.param_groups):
            for p in g["params"]:
                opt_of.setdefault(id(p), []).append(oi)
                group_lr.setdefault(id(p), []).append(list(ost.lrs_seen.get(gi, (g.get("lr"), g.get("lr")))))
    out = []
    for pid, st in sorted(tracer.params.items(), key=lambda kv: kv[1].order):
        if pid not in names:
            continue
        name, root, unit = names[pid]
        p = st.tensor
        out.append({
            "id": pid, "name": name, "root": root, "unit": unit, "shape": list(p.shape),
            "requires_grad": p.requires_grad,
            "optimizers": opt_of.get(pid, []), "lrs": group_lr.get(pid, []),
            "reach_count": st.reach_count, "flat_reach_count": st.flat_reach_count,
            "backward_with_grad": st.backward_with_grad, "backward_nonfinite": st.backward_nonfinite,
            "grad_norm": _num(st.grad_norm), "grad_norm_at_step": _num(st.grad_norm_at_step),
            "steps_ran": st.steps_ran, "steps_with_grad": st.steps_with_grad,
            "steps_lr_nonzero": st.steps_lr_nonzero,
            "zeroed_by_zero_grad": st.zeroed_by_zero_grad, "zeroed_other": st.zeroed_other,
            "grad_hooks_zeroing": [[*site, n] for site, n in tracer.grad_hooks_zeroing.get(pid, {}).items()],
            "clears_before_step": [[*site, n] for site, n in st.clears_before_step.items() if site],
            "moved": st.moved,
        })
    return out


def _num(x):
    if x is None:
        return None
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf"
    return x
