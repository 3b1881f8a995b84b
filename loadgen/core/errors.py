"""User-facing errors of every command (`loadgen`, `python -m whisperlive`, `python -m stack`), and the
one table of exit codes they return.

Each error carries a one-line message naming the thing and what to do; the command prints it and exits
with the error's `exit_code`. The commands' docs (README, docs/RAMP.md, docs/REPORT.md) say which codes
each command can return; the numbers are defined here only.
"""

from __future__ import annotations

EXIT_OK = 0  # done: every session ok, a capacity found, every window passed, the server ready
EXIT_FAILED = 1  # it ran but failed: sessions failed, no capacity, a server not ready, a stack action
EXIT_USAGE = 2  # a bad flag or argument value
EXIT_SETUP = 3  # unusable input or environment: no usable audio, a damaged run directory, a missing model
EXIT_UNREACHABLE = 4  # the server, the balancer, the control API or the Docker engine did not answer
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT): what was measured so far is kept


class UserError(Exception):
    """A bad input or an unusable environment; the CLI prints `str(self)` on one line and exits."""

    exit_code = EXIT_USAGE


class UsageError(UserError):
    """A bad flag or argument value."""

    exit_code = EXIT_USAGE


class CorpusError(UserError):
    """No usable audio (or transcript) in the given directory."""

    exit_code = EXIT_SETUP


class SetupError(UserError):
    """An unusable environment: a missing package or model, a port in use."""

    exit_code = EXIT_SETUP


class ServerUnreachable(UserError):
    """The WebSocket endpoint refused the connection or did not answer."""

    exit_code = EXIT_UNREACHABLE


class NotReadyError(UserError):
    """A server that did not answer SERVER_READY in time, or whose process exited first."""

    exit_code = EXIT_FAILED
