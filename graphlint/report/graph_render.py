"""The runtime pass's picture: the disconnected part of the autograd graph, as DOT and (with Graphviz) SVG.

Built from the report dict, not from torch: unreachable or unmoved parameters are grouped in
clusters by module path, each cut is a node labelled with its op and source line, edges run
parameters -> cut -> loss, and everything that trains is condensed to one node per top-level
submodule (numbered children folded: `blocks.*`), so a 100-layer model stays readable.
"""
from __future__ import annotations

import linecache
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

MAX_PARAMS_PER_CLUSTER = 8
MAX_CLUSTERS_UNFOLDED = 12  # beyond this many module paths, numbered children are folded (blocks.*)
CAUSE_COLOURS = {
    "detach": "#d62728", "scalar-escape": "#d62728", "rewrap": "#d62728", "no-grad": "#d62728",
    "non-differentiable": "#d62728", "unused-param": "#8c564b", "backward-missing": "#8c564b",
    "grad-mutation": "#ff7f0e", "zero-grad-order": "#ff7f0e", "step-gate": "#9467bd", "lr-zero": "#9467bd",
    "optimizer-coverage": "#e377c2", "frozen": "#7f7f7f",
}
INSTALL_HINT = ("no Graphviz renderer (`dot`) found, so no SVG was drawn; install one (apt-get install graphviz, "
                "brew install graphviz, or conda install graphviz) and render it with: dot -Tsvg {dot} -o {svg}")


@dataclass
class Picture:
    artifacts: dict = field(default_factory=dict)
    svg_text: str | None = None
    note: str = ""


def module_path(param: str) -> tuple[str, str]:
    """('Net.encoder.0', 'weight') from 'Net.encoder.0.weight'."""
    head, _, leaf = param.rpartition(".")
    return head, leaf


def fold(path: str) -> str:
    """Fold numbered children: 'Net.blocks.17.attn' -> 'Net.blocks.*.attn'."""
    return re.sub(r"\.\d+(?=\.|$)", ".*", path)


def top_child(name: str) -> str:
    parts = name.split(".")
    return fold(".".join(parts[:2])) if len(parts) > 2 else parts[0]


def build_graph(doc: dict) -> nx.DiGraph:
    """The condensed picture as a networkx graph (nodes carry 'kind', 'label', 'cluster')."""
    g = nx.DiGraph()
    steps = doc.get("steps", {})
    still = [p for p in doc.get("parameters", []) if p["moved"] is False]
    paths = {module_path(p["name"])[0] for p in still}
    folding = len(paths) > MAX_CLUSTERS_UNFOLDED
    g.add_node("loss", kind="loss", label=f"loss\\nbackward() x{steps.get('backward', 0)}, "
                                          f"step() ran x{steps.get('optimizer_steps_ran', 0)}")
    cuts = {c["id"]: c for c in doc.get("cuts", [])}
    for cid, c in cuts.items():
        code = linecache.getline(c["path"], c["line"]).strip() if c.get("path") else ""
        code = code if len(code) <= 60 else code[:57] + "..."
        g.add_node(f"cut{cid}", kind="cut", label=f"{c['op']}  [{c['kind']}]\\n{c['path']}:{c['line']}"
                                                 + (f"\\n{code}" if code else ""))
        g.add_edge(f"cut{cid}", "loss", kind="flows", label="flows into")
    trained: dict[str, list] = {}
    for p in doc.get("parameters", []):
        if p["moved"] is None:
            continue  # held only by an optimizer, used by nothing
        if p["moved"]:
            trained.setdefault(top_child(p["name"]), []).append(p)
            continue
        path = module_path(p["name"])[0]
        cluster = fold(path) if folding else path
        label = p["name"][len(cluster.split(".*")[0]) + 1:]  # folded: keep the indices (blocks.*: "7.0.weight")
        node = f"p:{p['name']}"
        g.add_node(node, kind="param", label=label, cluster=cluster,
                   cause=p.get("cause"), full=p["name"])
        cut = p.get("cut")
        if cut is not None:
            g.add_edge(node, f"cut{cut['site']}", kind="cut")
        elif p.get("reachable"):
            g.add_edge(node, "loss", kind="reached", label=p.get("cause") or "")
        else:
            g.add_edge(node, "loss", kind="missing", label=p.get("cause") or "")
    for child, members in trained.items():
        g.add_node(f"t:{child}", kind="trained", label=f"{child}\\n{len(members)} tensors train")
        g.add_edge(f"t:{child}", "loss", kind="reached")
    return g


def _q(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n") + '"'


def to_dot(g: nx.DiGraph, title: str) -> str:
    lines = ["digraph graphlint_trace {", "  rankdir=LR; compound=true; newrank=true;",
             f"  label={_q(title)}; labelloc=t; fontname=Helvetica; fontsize=16;",
             "  node [fontname=Helvetica fontsize=11]; edge [fontname=Helvetica fontsize=9];"]
    clusters: dict[str, list] = {}
    for n, d in g.nodes(data=True):
        if d["kind"] == "param":
            clusters.setdefault(d["cluster"], []).append(n)
    shown: dict[str, str] = {}  # param node -> the node its edges start from (one per cluster)
    tails: dict[str, str] = {}  # that node -> its cluster's name, for ltail
    for ci, (cluster, members) in enumerate(sorted(clusters.items())):
        causes = sorted({g.nodes[m]["cause"] or "?" for m in members})
        colour = CAUSE_COLOURS.get(causes[0], "#333333")
        lines.append(f"  subgraph cluster_{ci} {{")
        lines.append(f"    label={_q(cluster + '  [' + ', '.join(causes) + ']')}; style=rounded; color={_q(colour)};"
                     f" fontcolor={_q(colour)};")
        for m in members[:MAX_PARAMS_PER_CLUSTER]:
            lines.append(f"    {_q(m)} [label={_q(g.nodes[m]['label'])} shape=box style=filled "
                         f"fillcolor=\"#fbeaea\" color={_q(CAUSE_COLOURS.get(g.nodes[m]['cause'] or '', '#333'))}];")
        if len(members) > MAX_PARAMS_PER_CLUSTER:
            more = f"more:{cluster}"
            lines.append(f"    {_q(more)} [label={_q(f'... {len(members) - MAX_PARAMS_PER_CLUSTER} more')} shape=plaintext];")
        anchor = members[min(len(members), MAX_PARAMS_PER_CLUSTER) // 2]
        tails[anchor] = f"cluster_{ci}"
        for m in members:
            shown[m] = anchor
        lines.append("  }")
    for n, d in g.nodes(data=True):
        if d["kind"] == "loss":
            lines.append(f"  loss [label={_q(d['label'])} shape=doubleoctagon style=filled fillcolor=\"#dfefff\"];")
        elif d["kind"] == "cut":
            lines.append(f"  {_q(n)} [label={_q(d['label'])} shape=octagon style=filled fillcolor=\"#ffd6d6\" "
                         "color=\"#d62728\" penwidth=2];")
        elif d["kind"] == "trained":
            lines.append(f"  {_q(n)} [label={_q(d['label'])} shape=box style=\"rounded,filled\" fillcolor=\"#e6f5e6\" "
                         "color=\"#2ca02c\"];")
    drawn = set()
    for a, b, d in g.edges(data=True):
        src = shown.get(a, a)
        key = (src, b, d.get("kind"))
        if key in drawn:
            continue
        drawn.add(key)
        style = {
            "flows": 'style=dashed color="#d62728" label="flows into loss"',
            "cut": 'color="#d62728" label="cut" arrowhead=tee',
            "reached": 'color="#2ca02c"' + (f' label={_q("reached; " + d["label"])}' if d.get("label") else ""),
            "missing": 'style=dotted color="#8c564b" label=' + _q(d.get("label") or "unreachable"),
        }[d["kind"]]
        tail = f" ltail={tails[src]}" if src in tails else ""
        lines.append(f"  {_q(src)} -> {_q(b)} [{style}{tail}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write(doc: dict, findings, svg_path: Path) -> Picture:
    """Write the .dot beside svg_path always, and the SVG when Graphviz's `dot` is on PATH."""
    g = build_graph(doc)
    not_moving = sum(1 for p in doc.get("parameters", []) if p["moved"] is False)
    title = f"graphlint trace {doc.get('script', '')}: {not_moving} of {len(doc.get('parameters', []))} parameters did not move"
    dot_text = to_dot(g, title)
    svg_path = Path(svg_path)
    dot_path = svg_path.with_suffix(".dot")
    pic = Picture()
    try:
        dot_path.write_text(dot_text, encoding="utf-8")
    except OSError as exc:
        pic.note = f"could not write {dot_path}: {exc}"
        return pic
    pic.artifacts["dot"] = str(dot_path)
    exe = shutil.which("dot")
    if exe is None:
        pic.note = INSTALL_HINT.format(dot=dot_path, svg=svg_path)
        return pic
    try:
        subprocess.run([exe, "-Tsvg", str(dot_path), "-o", str(svg_path)], check=True, capture_output=True,
                       timeout=120)
        pic.svg_text = svg_path.read_text(encoding="utf-8")
        pic.artifacts["svg"] = str(svg_path)
    except (subprocess.SubprocessError, OSError) as exc:
        pic.note = f"Graphviz could not render {dot_path}: {exc}"
    return pic
