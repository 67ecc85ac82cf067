"""Where a study's items come from: the packaged files, or a path next to the suite."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from pytest_llmtrust.errors import ConfigError


def packaged(study: str, name: str) -> Path:
    """The packaged data file ``studies/data/<study>/<name>``."""
    path = Path(str(resources.files("pytest_llmtrust.studies").joinpath("data", study, name)))
    if not path.exists():
        raise ConfigError(f"no packaged data {study}/{name}")
    return path


def resolve(value: str | None, base: Path | None, study: str, default: str) -> Path:
    """``value`` read relative to ``base`` (the suite's folder), or the packaged ``default`` when None."""
    if value is None:
        return packaged(study, default)
    path = Path(value).expanduser()
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.exists():
        raise ConfigError(
            f"{study}: no data at {value!r}"
            + (f" (looked in {base})" if base is not None and not Path(value).is_absolute() else "")
            + "; give a path relative to the suite file, or leave 'data' out to use the packaged items"
        )
    return path
