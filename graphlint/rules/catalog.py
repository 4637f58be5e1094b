"""What each rule is (code, name, category, severity, summary, page), without its check.

Selecting rules, listing them and describing them in a report need only this table, so a run
whose every file comes from the cache never imports the engine (libcst, networkx). Each rule
class takes its description from here (``Rule.__init_subclass__``), which also refuses a class
whose own attributes disagree with its entry.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from graphlint.findings import Severity

# Rule pages live in the repository's rules/ folder; wheels carry them as graphlint/rule_pages.
_PACKAGED_PAGES = Path(__file__).resolve().parents[1] / "rule_pages"
RULE_PAGES = _PACKAGED_PAGES if _PACKAGED_PAGES.is_dir() else Path(__file__).resolve().parents[2] / "rules"


@dataclass(frozen=True)
class RuleInfo:
    code: str
    name: str
    category: str
    severity: Severity
    summary: str
    # A preview rule is off unless selected by its code (`--select GL3xx`): its precision on real training code
    # is not yet at the bar every default rule meets (benchmarks/real_code.py).
    preview: bool = False

    def page_path(self) -> Path:
        return RULE_PAGES / f"{self.code}.md"

    def page(self) -> str:
        """The rule's documentation page (``rules/<code>.md``), or its summary if the page is missing."""
        try:
            return self.page_path().read_text(encoding="utf-8")
        except OSError:
            return f"# {self.code} {self.name}\n\n{self.summary}\n"


E, W = Severity.ERROR, Severity.WARNING
RULES: tuple[RuleInfo, ...] = (
    RuleInfo("GL101", "detached-value-in-loss", "detach", E,
             "A value cut by .detach() or .data reaches the loss, so the layers that produced it never train."),
    RuleInfo("GL102", "scalar-escape-in-loss", "scalar-escape", E,
             "A tensor leaves autograd as a Python/NumPy value (.item(), .tolist(), float()) and flows into the loss."),
    RuleInfo("GL103", "rewrapped-tensor-in-loss", "rewrap", E,
             "A graph tensor is copied into a fresh leaf (torch.tensor(t), torch.FloatTensor([...])) that feeds the loss."),
    RuleInfo("GL104", "loss-under-no-grad", "no-grad", E,
             "Computation on the loss path runs with grad mode off (no_grad, inference_mode, set_grad_enabled(False))."),
    RuleInfo("GL105", "non-differentiable-loss", "non-differentiable", E,
             "The loss depends on parameters only through ops with no gradient (argmax, round, comparisons, integer casts)."),
    RuleInfo("GL201", "zero-grad-between-backward-and-step", "zero-grad-order", E,
             "zero_grad() runs after backward() and before step(), so the step sees no gradients."),
    RuleInfo("GL202", "gradients-wiped-before-step", "grad-mutation", E,
             "Gradients are zeroed, sanitised to zero or dropped between backward() and step()."),
    RuleInfo("GL203", "missing-zero-grad", "missing-zero-grad", W,
             "A training loop calls backward() and step() but never clears gradients, so they pile up across steps."),
    RuleInfo("GL204", "backward-not-called", "backward-missing", E,
             "`loss.backward` is referenced but never called, or an optimizer closure never calls backward()."),
    RuleInfo("GL205", "step-gated-on-gradients", "step-gate", W,
             "optimizer.step() only runs when a condition on gradient values (or a cap on the loss) holds, and "
             "nothing reports the skip; or under a condition the file's values never satisfy."),
    RuleInfo("GL206", "backward-on-part-of-total", "backward-missing", E,
             "backward() is called on one term of a summed loss, so the layers only the other terms reach never train."),
    RuleInfo("GL207", "optimizer-never-stepped", "step-gate", E,
             "An optimizer whose parameters the training loss reaches is never stepped: another optimizer is stepped "
             "in its place, it is left out of the list that is stepped, or the class's training loop (often a base "
             "class's) steps other attributes."),
    RuleInfo("GL301", "unregistered-parameter", "unregistered-param", E,
             "Layers in a plain list/dict or a tensor attribute with requires_grad are invisible to model.parameters()."),
    RuleInfo("GL302", "layer-never-used", "unused-param", W,
             "A layer with parameters is built in __init__ but never used anywhere, so it never trains."),
    RuleInfo("GL303", "layer-only-in-dead-branch", "unused-param", W,
             "A layer is used only under a comparison that never holds (a config value spelled differently, or a "
             "default the file decides)."),
    RuleInfo("GL304", "loss-term-never-backpropagated", "unused-param", W,
             "A loss term is computed (and perhaps logged) but left out of the loss that backward() is called on."),
    RuleInfo("GL305", "loss-overwritten-in-loop", "unused-param", W,
             "A loop over heads' outputs assigns the loss anew on each iteration and backward() after the loop sees "
             "only the last one, so the other heads never train."),
    RuleInfo("GL306", "layer-only-in-uncalled-method", "unused-param", W,
             "A layer reaches a loss only through a subclass method that nothing calls: the base class's loop calls "
             "another hook (its own), so the layer never trains."),
    RuleInfo("GL401", "graph-kept-across-iterations", "graph-retention", W,
             "A loss or model output is accumulated across iterations without .item()/.detach(), keeping every graph alive."),
    RuleInfo("GL501", "layers-outside-optimizer", "optimizer-coverage", E,
             "Layers that reach the loss are in no optimizer: built from a subset, or replaced after the optimizer."),
    RuleInfo("GL502", "unfrozen-after-filtered-optimizer", "optimizer-coverage", E,
             "Parameters are unfrozen (often by a callback) after the optimizer was built from the ones that required "
             "grad then, so the unfrozen ones are in no optimizer."),
    RuleInfo("GL601", "learning-rate-stays-zero", "lr-zero", E,
             "A learning rate that is zero on every step: lr=0 (written or decided by a default or fallback), or a "
             "warm-up factor `step // warmup` that stays 0."),
    RuleInfo("GL701", "pretrained-embedding-frozen-by-default", "frozen", E,
             "nn.Embedding.from_pretrained freezes by default, yet the embedding is given to the optimizer to train."),
    RuleInfo("GL702", "layers-frozen-by-decided-value", "frozen", E,
             "Layers frozen on the run the file's values decide, against what the code asks for: a 'last N blocks' "
             "slice that covers them all, trainable-name prefixes that name no module, a negated flag's default."),
    RuleInfo("GL703", "train-mode-does-not-unfreeze", "frozen", E,
             "A module frozen with requires_grad_(False) is 'unfrozen' with .train(), which only switches dropout and "
             "batch norm: its parameters, held by the optimizer, never train."),
)
BY_CODE = {info.code: info for info in RULES}
