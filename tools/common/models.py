"""The one base for every tool request and plan model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown fields are refused by name: a misspelt optional argument must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")
