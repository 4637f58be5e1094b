"""Every entry of the knowledge tables is loaded and consulted: a tiny program that uses it gets another
verdict (findings, or the kind of value the model gives one expression) when that one entry is removed.

Behaviours whose effect no small program isolates (an entry among synonyms that the engine consults in
the same place) are checked for being loaded and matched by their own spelling.
"""
from __future__ import annotations

import json
import subprocess
import sys

import libcst as cst
import pytest

from graphlint.engine import AnalysisOptions, ProjectIndex
from graphlint.engine.analyze import Analysis
from graphlint.engine.flow import Context
from graphlint.engine.module import ModuleAnalysis
from graphlint.knowledge import BEHAVIOURS, Knowledge, KnowledgeError, bundled, parse_table
from graphlint.rules import all_rules

LOOP = """import torch
import torch.nn as nn
{imports}
layer = nn.Linear(4, 4)
opt = torch.optim.SGD(layer.parameters(), lr=0.1)
for step in range(10):
    x = torch.randn(2, 4)
{body}
    opt.zero_grad()
    loss.backward()
    opt.step()
"""

# behaviour -> the loop body; {use:RECEIVER:ARGS} is where the entry is called
BODIES = {
    "grad-off.contexts": "    with {use::}:\n        h = layer(x)\n    loss = h.sum()",
    "grad-off.switches": "    with {use::False}:\n        h = layer(x)\n    loss = h.sum()",
    "grad-off.calls": "    loss = {use:layer:layer(x)}.sum()",
    "cuts.detach": "    loss = (x * {use:layer(x):}).sum()",
    "cuts.scalar": "    loss = (x * {use:layer(x).sum():layer(x).sum()}).sum()",
    "cuts.non-differentiable": "    loss = (x * {use:layer(x):layer(x)}).sum()",
    "cuts.rewrap": "    loss = (x * {use::layer(x)}).sum()",
    "cuts.rewrap-lists": "    loss = (x * {use::[layer(x).sum()]}).sum()",
    "returns.non-tensor": "    loss = layer(x).sum()\n    probe = {use:layer:layer(x)}",
    "returns.fresh": "    loss = layer(x).sum()\n    probe = {use::layer(x)}",
    "returns.parts": "    loss = layer(x).sum()\n    probe = {use:[layer][0]:layer}",
    "returns.same-object": "    loss = layer(x).sum()\n    probe = {use:layer:layer}",
    "returns.arguments": "    loss = layer(x).sum()\n    probe = {use::layer}",
    "modules.parameterized": "    loss = layer(x).sum()\n    probe = {use::4}",
    "modules.parameters": "    loss = layer(x).sum()\n    probe = {use::layer(x)}",
    "gradients.clear": "    loss = layer(x).sum()\n    {use:opt:}",
    "updates.in-place": "    h = layer(x).detach()\n    {use:h:layer(x), x}\n    loss = h.sum()",
}
GLOB_FILL = "Sample"


def use(entry: str, receiver: str, args: str) -> tuple[str, str]:
    """(import line, expression) calling ``entry``: a method on ``receiver``, a function with ``args``, an
    object made by a library class for `Class.__call__`."""
    name = entry.replace("*", GLOB_FILL).replace("?", "X")
    if name.startswith("."):
        return "", f"{receiver}.{name[1:]}({args})"
    if name.startswith("builtins."):
        return "", f"{name.removeprefix('builtins.')}({args})"
    if "." not in name:
        return "import helpers", f"helpers.{name}({args})"
    owner, _, last = name.rpartition(".")
    if last == "__call__":
        package, _, cls = owner.rpartition(".")
        return f"from {package} import {cls} as Owner\nentry = Owner()", f"entry({args})"
    return f"from {owner} import {last} as entry", f"entry({args})"


def program(key: str, entry: str) -> str:
    before, rest = BODIES[key].split("{use:", 1)
    spec, after = rest.split("}", 1)
    receiver, _, args = spec.partition(":")
    imports, call = use(entry, receiver, args)
    return LOOP.format(imports=imports, body=before + call + after)


def verdict(source: str, knowledge: Knowledge):
    module = ModuleAnalysis(source, "probe.py")
    analysis = Analysis(module, AnalysisOptions(), ProjectIndex())
    analysis.__dict__["knowledge"] = knowledge  # the tables under test instead of the bundled ones
    codes = sorted(r.code for r in all_rules() for _ in r().check(analysis))
    probes = [a.value for a in module.all(cst.Assign)
              if isinstance(a.targets[0].target, cst.Name) and a.targets[0].target.value == "probe"]
    kind = analysis.values.kind(probes[0], Context(module, None, None)) if probes else None
    return codes, kind


def without(knowledge: Knowledge, key: str, entry: str) -> Knowledge:
    return Knowledge({k: v - {entry} if k == key else v for k, v in knowledge.entries.items()})


ENTRIES = sorted((key, entry) for key, entries in bundled().entries.items() for entry in entries)


@pytest.mark.parametrize("key, entry", [e for e in ENTRIES if e[0] in BODIES], ids=lambda v: v)
def test_entry_changes_a_verdict(key, entry):
    source = program(key, entry)
    kb = bundled()
    assert verdict(source, kb) != verdict(source, without(kb, key, entry)), source


@pytest.mark.parametrize("key, entry", [e for e in ENTRIES if e[0] not in BODIES], ids=lambda v: v)
def test_entry_is_loaded_and_matched(key, entry):
    name = entry.replace("*", GLOB_FILL)
    if name.startswith("."):
        assert bundled().matches(key, (), name[1:])
    else:
        assert bundled().matches(key, {name})
    assert not without(bundled(), key, entry).matches(key, {name}) or \
        sum(1 for e in bundled().entries[key] if Knowledge({key: frozenset({e})}).matches(key, {name})) > 1


def test_every_behaviour_is_documented_in_the_readme():
    from graphlint.knowledge import TABLES

    readme = (TABLES / "README.md").read_text(encoding="utf-8")
    assert all(f"`{key.split('.')[1]}`" in readme for key in BEHAVIOURS)


def test_a_project_adds_entries_from_its_configuration(tmp_path):
    """`[tool.graphlint.knowledge]` extends the tables: a sampler of the project's own library runs without grad."""
    (tmp_path / "train.py").write_text(program("grad-off.calls", "mylib.Sampler.__call__"))

    def codes() -> list[str]:
        out = subprocess.run([sys.executable, "-m", "graphlint", "--no-cache", "--format", "json", "train.py"],
                             cwd=tmp_path, capture_output=True, text=True).stdout
        return [f["rule"] for f in json.loads(out)["findings"]]

    assert codes() == []
    (tmp_path / "pyproject.toml").write_text('[tool.graphlint.knowledge]\ngrad-off = { calls = ["mylib.Sampler.__call__"] }\n')
    assert codes() == ["GL104"]


@pytest.mark.parametrize("table, needle", [
    ({"cuts": {"detatch": [".x"]}}, "unknown behaviour `cuts.detatch`"),
    ({"cuts": [".x"]}, "`cuts` must be a table"),
    ({"cuts": {"detach": ".x"}}, "`cuts.detach` must be a list of names"),
])
def test_a_malformed_table_names_the_key(table, needle):
    with pytest.raises(KnowledgeError) as error:
        parse_table(table, "mine.toml")
    assert str(error.value).startswith("mine.toml: ") and needle in str(error.value)
