"""Reporters turn a finished run into text for people or machines; they never analyse."""
