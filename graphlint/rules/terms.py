"""Rules about which loss terms reach the tensor that backward() is called on.

GL206 and GL304 share one mechanism (``LossFlow.dropped_terms``): a loss term (`F.mse_loss(...)`,
`criterion(...)`), or a part of what a function returns (`forward()[1]`), reaches no backward(),
and some layer of a model that is being trained reaches a loss only through it. When the term
went into a total that also holds a back-propagated term, backward() was called on a part of
the total (GL206); otherwise the term was left out of the loss altogether (GL304), reported at
the key filter that left it out when the keys of a constant dict decided it. GL305 is the loop
over heads whose body replaces the loss instead of adding to it.
"""
from __future__ import annotations

from typing import Iterator

import libcst as cst

from graphlint.rules import Related, Report, Rule, register


def _owners_text(losses, dropped) -> str:
    labels = losses.outermost_labels(list(dropped.owners))
    names = ", ".join(f"`{o}`" for o in labels[:3]) + (" …" if len(labels) > 3 else "")
    return names + (" reach the loss only through it, so they never get" if len(labels) > 1
                    else " reaches the loss only through it, so it never gets")


def _site(flow, node):
    data = flow.graph.nodes[node]
    return data.get("site") or data.get("defined_at"), data.get("module")


def _related(analysis, dropped, sink) -> tuple[Related, ...]:
    term_site, term_module = _site(analysis.flow, dropped.term)
    what = "the return whose part reaches no backward()" if dropped.output else "the loss term that reaches no backward()"
    return (Related(term_site, what, term_module),
            Related(sink.site, "the backward() that is called", sink.module))


def _left_out_by_keys(analysis, dropped, term) -> Report:
    """A term a key filter leaves out, reported where the keys are read, naming the dict that decides them."""
    selection, losses = dropped.selection, analysis.losses
    keys = ", ".join(repr(k) for k in sorted(selection.keys))
    where = f"line {selection.origin_module.line(selection.origin)}"
    stored = sorted({n[-1] for n in losses.clean_descendants(dropped.term) if isinstance(n[-1], str) and
                     n[-1].startswith("[") and n[-1][2:-2] not in selection.keys})
    under = f"under the key {stored[0][1:-1]}" if len(stored) == 1 else "under another key"
    listed = "in the dict" if isinstance(selection.origin, cst.Dict) else "listed"
    return Report(selection.site, f"The loss sums only the entries whose keys are {listed} at {where} ({keys}); "
                  f"`{term}` is stored {under}, so it is left out: {_owners_text(losses, dropped)} a "
                  "gradient. Make the keys agree.",
                  (Related(selection.origin, "the keys that decide which terms are summed", selection.origin_module),
                   *_related(analysis, dropped, analysis.flow.sinks[0])), module=selection.module)


@register
class BackwardOnPartOfTotal(Rule):
    code = "GL206"

    def check(self, analysis) -> Iterator[Report]:
        losses, flow = analysis.losses, analysis.flow
        for dropped in losses.dropped_terms:
            if dropped.total is None:
                continue
            total = flow.label(dropped.total)
            term = losses.owner_label(dropped.term)
            sink = dropped.sink
            loss = sink.module.code(sink.loss) if sink.loss is not None else "the loss"
            total_site, total_module = _site(flow, dropped.total)
            related = _related(analysis, dropped, sink)
            if total_site is not None:
                related += (Related(total_site, f"`{total}`, the total that is not back-propagated", total_module),)
            yield Report(sink.site, f"backward() is called on `{loss}`, but `{total}` also holds `{term}`, which "
                         f"reaches no backward(): {_owners_text(losses, dropped)} a "
                         f"gradient. Call backward() on `{total}`.", related, module=sink.module)


@register
class LossTermNeverBackpropagated(Rule):
    code = "GL304"

    def check(self, analysis) -> Iterator[Report]:
        losses, flow = analysis.losses, analysis.flow
        selections = set()
        for dropped in losses.dropped_terms:
            if dropped.total is not None:
                continue
            term = losses.owner_label(dropped.term)
            if dropped.selection is not None:
                if dropped.selection.site not in selections:
                    selections.add(dropped.selection.site)
                    yield _left_out_by_keys(analysis, dropped, term)
                continue
            for owner in dropped.owners:
                site, module = _site(flow, owner)
                if site is None or owner in {m for o in dropped.owners if o != owner for m in flow.members(o)}:
                    continue
                if dropped.output:
                    message = (f"`{losses.owner_label(owner)}` reaches the loss only through `{term}`, a part of the "
                               "returned value that no loss reads while the other parts reach backward(), so it never "
                               "gets a gradient. Use that output in the loss.")
                else:
                    message = (f"`{losses.owner_label(owner)}` reaches the loss only through `{term}`, which is computed "
                               "but never added to the loss that backward() is called on, so it never gets a gradient. "
                               "Add the term to the total.")
                yield Report(site, message, _related(analysis, dropped, flow.sinks[0]), module=module)


@register
class LossOverwrittenInLoop(Rule):
    code = "GL305"

    def check(self, analysis) -> Iterator[Report]:
        for found in analysis.losses.overwritten_losses:
            mod, sink = found.sink.module, found.sink
            name = found.assignment.targets[0].target.value
            yield Report(found.assignment, f"`{name}` is assigned anew on every iteration of the loop over "
                         f"`{mod.code(found.loop.iter)}`, whose items layers compute, and backward() after the loop "
                         f"sees only the last iteration's value: layers that only the earlier items come from get no "
                         f"gradient. Accumulate it (`{name} = {name} + ...`, starting from 0).",
                         (Related(found.loop, "the loop whose iterations replace the loss", mod),
                          Related(sink.site, "the backward() after the loop", mod)), module=mod)

