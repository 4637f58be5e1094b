"""The PyTorch vocabulary of the static pass, as constants read from graphlint/knowledge/*.toml.

Names are matched against what engine/scopes.py resolves through the file's imports, so
`from torch import no_grad as ng` is still `torch.no_grad`. The tables are the source of
truth; these constants keep their old shapes (qualified names, or bare method names) for
code that tests membership. Code that must honour a project's own entries or wildcards asks
a ``Knowledge`` (``graphlint.knowledge``) instead.
"""
from __future__ import annotations

from graphlint.knowledge import bundled

_KB = bundled()


def _builtin_names(key: str) -> frozenset[str]:
    return frozenset(q.removeprefix("builtins.") for q in _KB.functions(key) if q.startswith("builtins."))


NO_GRAD_CONTEXTS = _KB.functions("grad-off.contexts")
SET_GRAD_ENABLED = _KB.functions("grad-off.switches")

DETACH_METHODS = _KB.methods("cuts.detach")
SCALAR_METHODS = _KB.methods("cuts.scalar")
SCALAR_BUILTINS = _KB.functions("cuts.scalar")
NONDIFF_METHODS = _KB.methods("cuts.non-differentiable")
NONDIFF_FUNCTIONS = _KB.functions("cuts.non-differentiable")
REWRAP_FUNCTIONS = _KB.functions("cuts.rewrap")
LIST_REWRAP_FUNCTIONS = _KB.functions("cuts.rewrap-lists")

# Builtins that return tensors when given tensors (sum(losses) keeps the graph), by bare name.
TENSOR_BUILTINS = _builtin_names("returns.computed")
CONTAINER_BUILTINS = _KB.functions("returns.regrouped")
VALUELESS_BUILTINS = frozenset(q for q in _KB.functions("returns.non-tensor") if q.startswith("builtins."))
SHAPE_METHODS = _KB.methods("returns.non-tensor")
PART_METHODS = _KB.methods("returns.parts")
METADATA_ATTRIBUTES = _KB.methods("attributes.metadata")

PARAMETERIZED_NN = _KB.functions("modules.parameterized")
PARAMETER_CONSTRUCTORS = _KB.functions("modules.parameters")
MODULE_CONTAINERS = _KB.functions("modules.containers")
LIGHTNING_BASES = _KB.functions("modules.lightning-bases")
MODULE_BASES = _KB.functions("modules.bases") | LIGHTNING_BASES

FUNCTION_SINKS = _KB.functions("gradients.sinks")
METHOD_SINKS = _KB.methods("gradients.sinks")
ZERO_GRAD_METHODS = _KB.methods("gradients.clear")
CLIP_FUNCTIONS = _KB.functions("gradients.clip")

SAME_OBJECT_FUNCTIONS = _KB.functions("returns.same-object")
SAME_OBJECT_METHODS = _KB.methods("returns.same-object")
COPY_FUNCTIONS = _KB.functions("returns.copy")

OPTIMIZER_PREFIXES = tuple(sorted(g.rstrip("*") for g in _KB.functions("optimizers.constructors")))
STEP_METHODS = _KB.methods("optimizers.step")
GRADSCALER_NAMES = _KB.functions("optimizers.grad-scalers")
LAMBDA_SCHEDULERS = _KB.functions("optimizers.lambda-schedulers")


def is_optimizer(qualified: str) -> bool:
    """An optimizer constructor: torch.optim.Adam, bitsandbytes.optim.AdamW8bit, ...; not schedulers."""
    if "lr_scheduler" in qualified or "swa_utils" in qualified:
        return False
    last = qualified.rsplit(".", 1)[-1]
    return qualified.startswith(OPTIMIZER_PREFIXES) and last[:1].isupper() and last not in ("Optimizer", "GradScaler")
