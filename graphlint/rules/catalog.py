"""Imports every rule module so that each registers its rules."""
