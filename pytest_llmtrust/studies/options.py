"""The options every study takes (its suite keys besides the common ones), as a pydantic base model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class StudyOptions(BaseModel):
    """Options every study takes: ``data`` (None: the packaged items), ``limit`` and ``seed``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str | None = None
    """Items to use instead of the packaged ones: a path (relative to the suite file) in our format or the authors'."""
    limit: int | None = Field(default=None, ge=1)
    """Use at most this many items (a seeded sample when the study samples; else the first ones)."""
    seed: int = 8888
    """Seed of every random choice the study makes (8888, as the survey's authors used)."""
