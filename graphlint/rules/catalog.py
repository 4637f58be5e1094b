"""Imports every rule module so that each registers its rules."""
from graphlint.rules import cuts  # noqa: F401
