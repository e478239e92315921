"""The bases for every tool request (StrictModel) and every tool answer (Plan)."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StrictModel(BaseModel):
    """Unknown fields are refused by name: a misspelt optional argument must not be silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Plan(BaseModel):
    """A tool's answer: the summary an assistant can quote and the caveats come first, then the numbers. A plan
    class writes its summary from its own fields in `headline()` (and may add standing caveats in
    `standing_caveats()`), so no planner can forget them."""

    summary: str = Field(default="", description="The answer in one paragraph, with the key numbers.")
    caveats: list[str] = Field(default_factory=list, description="What this answer does not cover or assumes.")

    def headline(self) -> str:
        return ""

    def standing_caveats(self) -> list[str]:
        return []

    @model_validator(mode="after")
    def _summarize(self) -> Self:
        if not self.summary:
            self.summary = self.headline()
        for caveat in self.standing_caveats():
            if caveat not in self.caveats:
                self.caveats.append(caveat)
        return self


def gib(value: float) -> str:
    return f"{value:,.1f} GiB"
