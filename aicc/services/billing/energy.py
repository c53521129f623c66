"""The site's energy profile read from disk (`site.energy_profile`, docs/billing.md).

The YAML and the CSV files it names (relative to the YAML's folder) are read here; parsing and
lookups are `core/energy.py`'s. A profile that cannot be used raises `ProfileError` naming the
file and the line or field to fix; the server then refuses to start rather than meter with it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from aicc.core.energy import EnergyProfile, ProfileError, parse_profile


def load_profile(path: Path) -> EnergyProfile:
    """The profile at `path`. ProfileError (naming the file, and the line or field) when it
    is missing, is not YAML, or does not describe a profile."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ProfileError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ProfileError(f"{path}{where}: not YAML: {err.problem}") from None
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: not YAML: {err}") from None

    def read(name: str) -> str:
        csv = Path(name).expanduser()
        csv = csv if csv.is_absolute() else path.parent / csv
        try:
            return csv.read_text(encoding="utf-8")
        except OSError as err:
            raise ProfileError(f"cannot read {csv}: {err.strerror or err}") from None

    try:
        return parse_profile(doc, read=read)
    except ProfileError as err:
        raise ProfileError(f"{path}: {err}") from None
