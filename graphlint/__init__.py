"""graphlint: find the places where PyTorch training code silently stops parameters from training."""

__version__ = "0.1.0"
