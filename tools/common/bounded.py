"""Bounded primitive types for tool inputs: every string and number an assistant can send has a ceiling."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

ShortStr = Annotated[str, Field(max_length=256)]
BoundedFloat = Annotated[float, Field(ge=-1e15, le=1e15)]
BoundedInt = Annotated[int, Field(ge=-(10**15), le=10**15)]
