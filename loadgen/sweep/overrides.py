"""A replica's `whisperlive serve` arguments with a sweep configuration's settings in place. Pure.

The Compose and Kubernetes targets keep what the deployment already passes (`--metrics-port`,
`--drain-grace`, ...) and replace only the flags that `ServerSettings.serve_args` sets: each managed flag
(and its value) is dropped from the current arguments, then the settings' flags are appended.
"""

from __future__ import annotations

from collections.abc import Sequence

from loadgen.core.matrix import ServerSettings

VALUE_FLAGS = (
    "--model",
    "--compute-type",
    "--omp-threads",
    "--max-clients",
    "--batch-max-size",
    "--batch-max-queue-wait-s",
)
SWITCHES = ("--batch", "--no-batch")  # BooleanOptionalAction: no value


def replica_args(current: Sequence[str], settings: ServerSettings) -> list[str]:
    """`current` less every managed flag (as `--flag value` or `--flag=value`), plus the settings' flags."""
    kept: list[str] = []
    skip_value = False
    for arg in current:
        if skip_value:
            skip_value = False
            continue
        name = arg.split("=", 1)[0]
        if name in SWITCHES or (name in VALUE_FLAGS and "=" in arg):
            continue
        if name in VALUE_FLAGS:
            skip_value = True
            continue
        kept.append(arg)
    return kept + list(settings.serve_args())
