"""Speaking profiles from a small TOML file (`--profiles @FILE`): one `[[profile]]` table each.

```toml
[[profile]]
name = "listener"
share = 0.7          # of the clients (or "70%")
speech_ratio = 0.2
```
"""

from __future__ import annotations

from pathlib import Path

import tomllib

from loadgen.core.errors import UsageError
from loadgen.core.speech import SpeakingProfile, checked_profiles, parse_profile


def load_speaking_profiles(path: Path) -> tuple[SpeakingProfile, ...]:
    """The `[[profile]]` tables of `path`, validated."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--profiles {path}: cannot read it ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"--profiles {path}: not valid TOML ({exc})") from exc
    tables = data.get("profile")
    if not isinstance(tables, list) or not tables:
        raise UsageError(f"--profiles {path}: no [[profile]] table")
    profiles = []
    for table in tables:
        if not isinstance(table, dict) or not {"name", "share", "speech_ratio"} <= table.keys():
            raise UsageError(f"--profiles {path}: each [[profile]] needs name, share and speech_ratio")
        profiles.append(parse_profile(f"{table['name']}:{table['share']}@{table['speech_ratio']}"))
    return checked_profiles(profiles)
