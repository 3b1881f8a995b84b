"""Named threshold profiles: the shipped `profiles.toml` beside this file, a user's `--config` file, flag
overrides.

Parsing and validation are pure (`parse_profiles`, `select_profile`); `load_profiles` reads the files.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import tomllib

from loadgen.core.errors import UsageError
from loadgen.core.verdict import Thresholds

SHIPPED = "profiles.toml"
DEFAULT_PROFILE = "default"
BUILTIN = Thresholds()  # equal to the shipped `default` profile (a test keeps them equal)
_RATIOS = ("min_connection_success", "max_error_ratio", "wer_tolerance")


@dataclass(frozen=True)
class Profile:
    """A named set of thresholds."""

    name: str
    description: str
    thresholds: Thresholds

    def to_json_dict(self) -> dict[str, Any]:
        """The `profile` object of run.json."""
        return {
            "name": self.name,
            "description": self.description,
            "thresholds": self.thresholds.to_json_dict(),
        }


def _number(source: str, name: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{source}: profile {name!r}: {key} must be a number, got {value!r}")
    if value < 0 or (key in _RATIOS and value > 1):
        bound = "between 0 and 1" if key in _RATIOS else "at least 0"
        raise UsageError(f"{source}: profile {name!r}: {key} must be {bound}, got {value}")
    return float(value)


def thresholds_from(source: str, name: str, table: dict[str, Any], base: Thresholds) -> Thresholds:
    """`base` with the keys of one profile table applied; an unknown key or bad value is a usage error."""
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key == "description":
            continue
        if key not in Thresholds.names():
            known = ", ".join(Thresholds.names())
            raise UsageError(f"{source}: profile {name!r}: unknown key {key!r} (known: {known})")
        number = _number(source, name, key, value)
        values[key] = int(number) if key == "max_refusals" else number
    return replace(base, **values)


def parse_profiles(data: dict[str, Any], source: str, base: Thresholds = BUILTIN) -> dict[str, Profile]:
    """The `[profiles.NAME]` tables of one parsed TOML document; keys left out come from its `default`
    profile (itself on top of `base`)."""
    tables = data.get("profiles")
    if not isinstance(tables, dict) or not tables:
        raise UsageError(f"{source}: no [profiles.NAME] table; see loadgen/data/{SHIPPED} for the format")
    profiles: dict[str, Profile] = {}
    for name in sorted(tables, key=lambda n: n != DEFAULT_PROFILE):  # default first
        table = tables[name]
        if not isinstance(table, dict):
            raise UsageError(f"{source}: profiles.{name} must be a table")
        inherited = profiles[DEFAULT_PROFILE].thresholds if DEFAULT_PROFILE in profiles else base
        description = str(table.get("description", ""))
        profiles[name] = Profile(name, description, thresholds_from(source, name, table, inherited))
    return profiles


def _read(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML ({exc})") from exc


def load_profiles(config: Path | None = None) -> dict[str, Profile]:
    """The shipped profiles, then those of `config` (same name: the user's wins)."""
    shipped = resources.files("loadgen.data").joinpath(SHIPPED)
    profiles = parse_profiles(_read(Path(str(shipped)), shipped.read_text(encoding="utf-8")), SHIPPED)
    if config is None:
        return profiles
    try:
        text = config.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"--config {config}: cannot read it ({exc.strerror})") from exc
    base = profiles[DEFAULT_PROFILE].thresholds
    return {**profiles, **parse_profiles(_read(config, text), str(config), base)}


def select_profile(profiles: dict[str, Profile], name: str, overrides: dict[str, float | None]) -> Profile:
    """Profile `name` with every non-None override applied (flags beat the file)."""
    if name not in profiles:
        raise UsageError(f"--profile {name!r} is not defined (known: {', '.join(sorted(profiles))})")
    profile = profiles[name]
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return profile
    thresholds = thresholds_from("flags", name, given, profile.thresholds)
    return replace(profile, thresholds=thresholds)
