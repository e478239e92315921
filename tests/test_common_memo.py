"""Memo tables forget everything when full, so a long-running server's caches stay bounded."""

from __future__ import annotations

from ml_expert_mcp.tools.common.memo import Memo


def test_a_full_memo_starts_again_and_keeps_the_new_entry() -> None:
    memo = Memo(limit=3)
    for i in range(3):
        memo[(i,)] = i
    assert len(memo) == 3
    memo[(3,)] = 3
    assert memo == {(3,): 3}
    assert memo.get((0,)) is None
