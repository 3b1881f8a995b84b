"""User-facing errors: each message is one line naming the thing and what to do."""

from __future__ import annotations


class WhisperLiveError(Exception):
    """Base class; the CLI prints `str(self)` and exits with `exit_code`."""

    exit_code = 1


class UsageError(WhisperLiveError):
    """A bad flag or flag value."""

    exit_code = 2


class SetupError(WhisperLiveError):
    """An unusable environment: a missing package or model, a port in use."""

    exit_code = 3


class NotReadyError(WhisperLiveError):
    """A server that did not answer SERVER_READY in time, or whose process exited first."""

    exit_code = 1
