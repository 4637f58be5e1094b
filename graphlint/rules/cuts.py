"""Rules for values cut from the graph on their way into the loss.

All five share one mechanism (``LossFlow.cut_paths``): a trainable layer reaches a loss
only through a cut. They differ in the kind of cut, hence in category and advice.
"""
from __future__ import annotations

from typing import ClassVar, Iterator

from graphlint.rules import Related, Report, Rule, register


class CutInLossRule(Rule):
    """Base for the cut rules: report each cut of the rule's category that disconnects trainable layers."""

    advice: ClassVar[str]

    def check(self, analysis) -> Iterator[Report]:
        for cut_path in analysis.losses.cut_paths + analysis.losses.instance_cut_paths:
            cut = cut_path.cut
            if cut.category != self.category:
                continue
            owners = ", ".join(f"`{o}`" for o in cut_path.owners[:3]) + (" …" if len(cut_path.owners) > 3 else "")
            sink_line = cut_path.sink_module.line(cut_path.sink_site)
            route = " → ".join(f"`{p}`" for p in cut_path.path)
            message = (f"{cut.what} at line {cut.module.line(cut.node)} cuts {owners} from the loss"
                       + (f": it reaches the loss through {route}" if route else "")
                       + f" (backward at line {sink_line}), so {'they get' if len(cut_path.owners) > 1 else 'it gets'}"
                       f" no gradient. {self.advice}")
            yield Report(cut.node, message, (Related(cut_path.sink_site, "the loss that gradients flow from",
                                                     cut_path.sink_module),), module=cut.module)
        if analysis.losses.training_sink_nodes:
            yield from self._hook_cuts(analysis)

    def _hook_cuts(self, analysis) -> Iterator[Report]:
        """A forward hook that returns its output cut: the return value replaces the hooked module's output."""
        for hook in analysis.hooks.forward_cuts:
            cut = hook.cut
            if cut.category != self.category:
                continue
            name = getattr(hook.hook, "name", None)
            returned = hook.hook_module.line(hook.returned)
            yield Report(hook.register, f"the forward hook{f' `{name.value}`' if name else ''} registered here returns "
                         f"{cut.what} (line {returned}), and a forward hook's return value replaces the module's "
                         "output: every layer before the hooked module is cut from the loss and gets no gradient. "
                         f"{self.advice} A hook that only records should return None.",
                         (Related(hook.returned, "the hook hands back the cut output", hook.hook_module),
                          Related(cut.node, "where the output is cut", cut.module)), module=hook.module)


@register
class DetachedValueInLoss(CutInLossRule):
    code = "GL101"
    advice = "Use the value without `.detach()`/`.data` on the loss path."


@register
class ScalarEscapeInLoss(CutInLossRule):
    code = "GL102"
    advice = "Keep the computation in tensors; call `.item()` only for logging."


@register
class RewrappedTensorInLoss(CutInLossRule):
    code = "GL103"
    advice = "Use `torch.stack`/`torch.cat` or the tensor itself instead of building a new tensor."


@register
class LossUnderNoGrad(CutInLossRule):
    code = "GL104"
    advice = "Move the computation out of the no-grad region (or freeze those layers explicitly if that is the intent)."


@register
class NonDifferentiableLoss(CutInLossRule):
    code = "GL105"
    advice = "Use a differentiable surrogate (logits with cross-entropy, a soft rounding, probabilities)."
