"""What library entry points do to autograd, as data: the tables in this folder (schema in README.md).

The static pass never imports the libraries it reads about, so everything it knows about
`torch.no_grad`, `.detach()`, a diffusers pipeline's `__call__` or `accelerator.prepare`
comes from these TOML tables, one per library, in the spirit of typeshed's stubs. A project
adds entries for its own libraries under `[tool.graphlint.knowledge]` in the same schema.

Each table maps ``section.behaviour`` to entries. An entry is a qualified name
(`torch.argmax`, matched against what the file's imports resolve a call to), or a method
name with a leading dot (`.detach`, any object's method); both may use shell-style
wildcards (`diffusers.*Pipeline*.__call__`, `.register_*hook`). A method of an object made
by a library class is named `Class.method` (`accelerate.Accelerator.prepare`), and calling
such an object is `Class.__call__`.
"""
from __future__ import annotations

import tomllib
from fnmatch import fnmatchcase
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Iterable, Mapping

TABLES = Path(__file__).parent

# Every behaviour a table may name: what the engine consults, and what an entry there means.
BEHAVIOURS = {
    "grad-off.contexts": "`with X():` / `@X()` switch grad mode off",
    "grad-off.switches": "`with X(False):` switches grad mode off",
    "grad-off.calls": "calling X runs without grad: its result carries no graph",
    "grad-off.hooks": "`Base.method`: a framework runs this method of a subclass without grad",
    "cuts.detach": "the result is the tensor cut out of the graph",
    "cuts.scalar": "the result is a Python or NumPy value made from a tensor",
    "cuts.non-differentiable": "the result has no gradient (indices, comparisons, rounding)",
    "cuts.rewrap": "a fresh leaf tensor copied from the argument's values",
    "cuts.rewrap-lists": "a fresh leaf when the argument is a list or tuple",
    "returns.non-tensor": "the result is never a tensor (sizes, strings, images, handles)",
    "returns.fresh": "a new tensor without history, whatever the arguments",
    "returns.parts": "the result holds parts of the receiver (parameters, submodules, state dicts)",
    "returns.same-object": "the result is the receiver or first argument, or a wrapper sharing its parameters",
    "returns.arguments": "the result is the arguments themselves, in order (one, or a tuple of them)",
    "returns.computed": "the result is computed from the receiver and arguments, history kept",
    "returns.regrouped": "the result regroups the objects it is given; nothing is computed",
    "returns.copy": "a new object with parameters of its own; no gradient flows back",
    "attributes.metadata": "the attribute describes the value (shape, dtype, .grad), not a value on the graph",
    "updates.load": "overwrites the receiver's values outside autograd",
    "updates.in-place": "`x.add_(y)`: the arguments' history joins the receiver's (an in-place operation on the graph)",
    "gradients.sinks": "the first argument (or the receiver) is a loss that gradients flow from",
    "gradients.loss-terms": "the result is a loss term, computed to be back-propagated (`F.mse_loss`, `criterion(...)`)",
    "gradients.clear": "clears the gradients of the receiver's parameters",
    "gradients.clip": "clips gradients in place",
    "optimizers.constructors": "builds an optimizer (classes only; schedulers excluded)",
    "optimizers.step": "applies the gradients (`optimizer.step()`, `scaler.step(optimizer)`)",
    "optimizers.grad-scalers": "a gradient scaler for mixed precision",
    "optimizers.lambda-schedulers": "a scheduler whose factor is a user function of the step",
    "modules.parameterized": "a constructor that creates parameters",
    "modules.parameters": "a leaf parameter: it carries no history, whatever it is built from",
    "modules.containers": "a module container (Sequential, ModuleList, ...)",
    "modules.bases": "a module base class",
    "modules.lightning-bases": "a LightningModule base class: `training_step` returns the loss",
}


class KnowledgeError(ValueError):
    """A table that does not follow the schema; the message names the table and the key."""


class Knowledge:
    """The loaded tables: which entries each behaviour lists, and whether a call or name matches one."""

    def __init__(self, entries: Mapping[str, frozenset[str]]) -> None:
        self.entries = {key: frozenset(entries.get(key, ())) for key in BEHAVIOURS}

    def extended(self, extra: Iterable[tuple[str, Iterable[str]]]) -> "Knowledge":
        """These tables plus more entries (a project's `[tool.graphlint.knowledge]`)."""
        merged = dict(self.entries)
        for key, names in extra:
            merged[key] = merged[key] | frozenset(names)
        return Knowledge(merged)

    def functions(self, key: str) -> frozenset[str]:
        """The qualified names a behaviour lists (wildcards included)."""
        return self._split[key][0]

    def methods(self, key: str) -> frozenset[str]:
        """The method names a behaviour lists, without their dot (wildcards included)."""
        return self._split[key][1]

    def matches(self, key: str, qualified: Iterable[str] = (), method: str | None = None) -> bool:
        """A call or name with these qualified names (and this method name, for `obj.m(...)`) is listed."""
        functions, methods = self._split[key]
        exact_f, globs_f = _partition(functions)
        exact_m, globs_m = _partition(methods)
        qualified = set(qualified)
        if qualified & exact_f or any(fnmatchcase(q, g) for q in qualified for g in globs_f):
            return True
        return method is not None and (method in exact_m or any(fnmatchcase(method, g) for g in globs_m))

    @cached_property
    def _split(self) -> dict[str, tuple[frozenset[str], frozenset[str]]]:
        return {key: (frozenset(e for e in names if not e.startswith(".")),
                      frozenset(e[1:] for e in names if e.startswith(".")))
                for key, names in self.entries.items()}


@lru_cache(maxsize=64)
def _partition(names: frozenset[str]) -> tuple[frozenset[str], tuple[str, ...]]:
    globs = tuple(sorted(n for n in names if any(c in n for c in "*?[")))
    return names.difference(globs), globs


def parse_table(table: Mapping, where: str) -> list[tuple[str, tuple[str, ...]]]:
    """``section.behaviour`` -> entries of one table in the schema; ``where`` names it in errors."""
    found = []
    if not isinstance(table, Mapping):
        raise KnowledgeError(f"{where}: must be a table of sections")
    for section, behaviours in table.items():
        if not isinstance(behaviours, Mapping):
            raise KnowledgeError(f"{where}: `{section}` must be a table (known: {', '.join(sorted(BEHAVIOURS))})")
        for behaviour, names in behaviours.items():
            key = f"{section}.{behaviour}"
            if key not in BEHAVIOURS:
                raise KnowledgeError(f"{where}: unknown behaviour `{key}` (known: {', '.join(sorted(BEHAVIOURS))})")
            if not isinstance(names, list) or not all(isinstance(n, str) and n.strip(".") for n in names):
                raise KnowledgeError(f"{where}: `{key}` must be a list of names")
            found.append((key, tuple(names)))
    return found


@lru_cache(maxsize=1)
def bundled() -> Knowledge:
    """The tables shipped with graphlint."""
    entries: dict[str, set[str]] = {}
    for path in sorted(TABLES.glob("*.toml")):
        for key, names in parse_table(tomllib.loads(path.read_text(encoding="utf-8")), path.name):
            entries.setdefault(key, set()).update(names)
    return Knowledge({k: frozenset(v) for k, v in entries.items()})


@lru_cache(maxsize=8)
def with_extra(extra: tuple[tuple[str, tuple[str, ...]], ...]) -> Knowledge:
    """The bundled tables plus a project's entries (cached: every file of a run asks for the same)."""
    return bundled().extended(extra) if extra else bundled()
