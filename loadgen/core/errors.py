"""User-facing errors: each carries a one-line message naming the thing and what to do, and an exit code."""

from __future__ import annotations


class UserError(Exception):
    """A bad input or an unusable environment; the CLI prints `str(self)` on one line and exits."""

    exit_code = 2


class UsageError(UserError):
    """A bad flag or argument value."""

    exit_code = 2


class CorpusError(UserError):
    """No usable audio (or transcript) in the given directory."""

    exit_code = 3


class ServerUnreachable(UserError):
    """The WebSocket endpoint refused the connection or did not answer."""

    exit_code = 4
