"""Errors of the inference engine."""

from __future__ import annotations


class InferenceError(RuntimeError):
    """A model or device problem, with a message meant for the user (one line, names the cause)."""
