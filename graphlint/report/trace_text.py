"""The runtime pass's terminal report: what went wrong first, then a table per root module."""
from __future__ import annotations

from collections import OrderedDict

from graphlint.findings import Finding, Severity, format_measure


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return [line(header), line(["-" * w for w in widths])] + [line(r) for r in rows]


def headline(doc: dict, findings: list[Finding]) -> list[str]:
    params = doc.get("parameters", [])
    still = [p for p in params if p["moved"] is False]
    steps = doc.get("steps", {})
    out = [f"graphlint trace {doc.get('script', '')}: {doc.get('ended', '')}; "
           f"{steps.get('backward', 0)} backward(), {steps.get('optimizer_step_calls', 0)} step() calls "
           f"({steps.get('optimizer_steps_ran', 0)} ran, {steps.get('optimizer_steps_skipped', 0)} skipped by GradScaler)"]
    if doc.get("world_size"):
        out.append(f"{doc['world_size']} ranks, merged (the counts above are one rank's): "
                   + "; ".join(f"rank {r['rank']} {r['ended']}" for r in doc.get("ranks", [])))
    if doc.get("error"):
        out.append(f"ERROR: {doc['error']}")
    if not params:
        out.append("No parameters seen: no nn.Module ran forward and no optimizer was created.")
    elif doc.get("steps", {}).get("backward", 0) == 0:
        out.append("backward() was never called: no parameter got a gradient.")
    out.append(f"{len(still)} of {len(params)} parameters did not move." if still else
               f"All {len(params)} parameters moved.")
    groups: OrderedDict = OrderedDict()
    for p in still:
        groups.setdefault((p.get("root"), p["cause"]), []).append(p)
    for (root, cause), members in groups.items():
        names, why = [m["name"] for m in members], members[0]["explanation"]
        shown = ", ".join(n.split(".", 1)[-1] for n in names[:3]) + (f" (+{len(names) - 3})" if len(names) > 3 else "")
        out.append(f"  * {root or 'optimizer-only'}: {len(names)} [{cause}] {shown}: {why}")
    return out


def render(doc: dict, findings: list[Finding], picture_note: str = "", quiet: bool = False) -> str:
    out = [""] + headline(doc, findings)
    loud = [f for f in findings if f.severity is not Severity.INFO]
    if loud:
        out += ["", "Findings:"]
        out += [f"  {f.path}:{f.line}: {f.severity.value} {f.rule} [{f.category}] {f.message}" for f in loud]
    if quiet:
        return "\n".join(out) + "\n"
    roots: OrderedDict = OrderedDict()
    for p in doc.get("parameters", []):
        roots.setdefault(p.get("root") or "(held only by an optimizer)", []).append(p)
    for root, params in roots.items():
        out += ["", f"{root}:"]
        rows = [[p["name"].split(".", 1)[-1] if p.get("root") else p["name"],
                 "yes" if p["reachable"] else "NO", format_measure(p["grad_norm"], "-"), format_measure(p.get("grad_norm_at_step"), "-"),
                 {True: "yes", False: "NO"}.get(p["moved"], "n/a"), p["cause"] or ""] for p in params]
        out += _table(rows, ["parameter", "reachable", "grad norm", "at step", "moved", "cause"])
    info = [f for f in findings if f.severity is Severity.INFO]
    if info:
        out += ["", "Notes:"] + [f"  {f.path}:{f.line}: {f.message}" for f in info]
    arts = doc.get("artifacts", {})
    if arts:
        out += ["", "Picture: " + ", ".join(f"{k} {v}" for k, v in arts.items())]
    if picture_note:
        out.append(picture_note)
    if doc.get("peak_memory_mb") is not None:
        out.append(f"Peak memory of the traced run: {doc['peak_memory_mb']} MB")
    return "\n".join(out) + "\n"
