"""The runtime pass: run training code under torch hooks and explain, per parameter, why it does not train.

CLI: `graphlint trace SCRIPT` (see cli.py). In tests and notebooks::

    with graphlint.trace.watch(model, optimizer) as report:
        for x, y in batches:
            ...  # the usual training steps
    report.assert_all_train()

Importing this package does not import torch; `watch()` does.
"""
from __future__ import annotations

from contextlib import contextmanager

from graphlint.trace.report import TraceReport


@contextmanager
def watch(*objects, steps: int | None = None):
    """Trace the training steps run inside the block; fills the yielded TraceReport on exit.

    `objects` (modules, optimizers) are registered up front, which matters for an optimizer
    created before the block whose step() never runs. `steps` stops the block (quietly) after
    that many optimizer-step attempts.
    """
    import torch

    from graphlint.trace.explain import build_report
    from graphlint.trace.tracer import StopTracing, Tracer, user_frame

    report = TraceReport()
    tracer = Tracer(steps=steps, script="<watch>")
    tracer.install()
    for obj in objects:
        if isinstance(obj, torch.nn.Module):
            tracer.add_root(obj)
        elif isinstance(obj, torch.optim.Optimizer):
            tracer.add_optimizer(obj, user_frame())
    try:
        yield report
    except StopTracing:
        pass
    finally:
        tracer.uninstall()
        report.doc, report.findings = build_report(tracer.facts())
