"""Errors every layer may raise. A leaf module: it imports nothing from the project."""

from __future__ import annotations


class CliError(Exception):
    """A problem to report as one line on stderr, with exit status 2."""
