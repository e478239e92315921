"""A memo table with a ceiling, for results of pure functions that planners keep for the life of a process."""

from __future__ import annotations

from typing import Any


class Memo(dict[tuple[Any, ...], Any]):
    """Forgets everything when full, so what a long-running server keeps stays bounded; a search refills what it
    needs (the values are pure functions of their keys)."""

    def __init__(self, limit: int = 20_000) -> None:
        super().__init__()
        self.limit = limit

    def __setitem__(self, key: tuple[Any, ...], value: Any) -> None:
        if len(self) >= self.limit:
            self.clear()
        super().__setitem__(key, value)
