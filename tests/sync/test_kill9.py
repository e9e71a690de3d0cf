"""kill -9 of a real server process under write load loses no acknowledged write (bench.kill9)."""

from __future__ import annotations

import pytest

from bench.kill9 import kill_rounds

pytestmark = pytest.mark.slow


def test_sigkill_rounds_keep_every_acknowledged_write():
    result = kill_rounds(rounds=5, writers=2, seed=3, load_seconds=(0.2, 0.6))
    assert result.lost == []
    assert (result.stalled, result.rejected) == (None, [])
    assert result.rounds == 5
    assert result.acked_before_kill[0] > 0  # writes were acknowledged before the first kill
    assert result.acked_before_kill == sorted(result.acked_before_kill)
    assert result.acknowledged > result.acked_before_kill[0]  # and after restarts too
