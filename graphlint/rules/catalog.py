"""Imports every rule module so that each registers its rules."""
from graphlint.rules import cuts  # noqa: F401
from graphlint.rules import order  # noqa: F401
from graphlint.rules import retention  # noqa: F401
from graphlint.rules import structure  # noqa: F401
from graphlint.rules import optimizer  # noqa: F401
from graphlint.rules import terms  # noqa: F401
