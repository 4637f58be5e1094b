"""Settings the engine takes from the command line and configuration."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AnalysisOptions:
    # Extra gradient sinks, as qualified names or method names: "mylib.Trainer.backward_step"
    # or ".backward_step" (any object's method). The first argument is the loss.
    extra_sinks: tuple[str, ...] = ()
    # Extra optimizer-step calls for custom trainers, same spelling.
    extra_steps: tuple[str, ...] = ()
    # Entries added to the knowledge tables (graphlint/knowledge): ("section.behaviour", names).
    knowledge: tuple[tuple[str, tuple[str, ...]], ...] = ()
