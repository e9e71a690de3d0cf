"""The fault simulation (bench.faults): random schedules converge, and the two faults it found.

The simulation drives the real engine, stores, outbox, frames and apply path over a simulated
network (bench/faultsim.py); these tests run a CI-sized share of ``python -m bench.faults`` and
replay, as fixed scenarios, the two divergences it found (both fixed in the server).
"""

from __future__ import annotations

import random

import pytest

from bench.faults import Pool, World, mode_of, run_all
from bench.faultsim import APP

pytestmark = pytest.mark.slow


@pytest.fixture
def pool():
    with Pool() as opened:
        yield opened


def test_random_schedules_converge_and_lose_no_acknowledged_write():
    """Every fault, batches sent twice on one connection included; no divergence of any
    kind (missed deletes included)."""
    outcomes, _ = run_all(first=0, count=160, workers=2)  # ~60 s on 2 cores
    assert len(outcomes) == 160
    assert {mode_of(o.seed) for o in outcomes} == {"open", "creator"}
    assert sum(o.accepted for o in outcomes) > 1200 and sum(o.rejected for o in outcomes) > 100
    problems = [(o.seed, line) for o in outcomes
                for line in [*o.lost, *o.leaked, *o.conflicts, *([o.crash] if o.crash else [])]]
    assert problems == []
    assert [(o.seed, d) for o in outcomes for d in o.divergences] == []


def _shown(client, table: str = "todos") -> set[str]:
    return set(client.visible_ids(table))


def test_a_row_deleted_while_a_client_was_away_disappears_there(pool):
    """The fill of a returning subscriber carries the deletes of rows in its query's scope."""
    world = World(pool, seed=0, events=0)  # open policy
    alice, bob, _ = world.clients
    world.heal()
    before = _shown(bob)
    alice.write(random.Random(1), "insert")
    world.heal()
    (row,) = _shown(bob) - before
    bob.drop(0)
    alice.db.delete(APP.todos, row)
    world.heal()
    assert row not in _shown(alice)
    assert row not in _shown(bob)


def test_a_batch_arriving_twice_in_one_engine_turn_gets_one_fate(pool):
    """A late copy from a connection its client gave up, next to the replay on the new one:
    one fate, the batch's."""
    world = World(pool, seed=1, events=0)  # creator policy: projects are never updated
    alice = world.clients[0]
    server = world.server
    world.heal()
    alice.db.insert(APP.projects, {"name": "p"})
    (batch,) = [i.batch_id for i in alice.outbox.pending()]
    alice.send()
    old = alice.link
    alice.drop(0)  # alice gives up on the connection; the server has not noticed yet
    alice.connect()
    alice.send()  # subscriptions, then the batch again with replay: true
    new = alice.link
    server.receive(new, 2)
    server.turn()
    server.receive(old, 1)  # the first copy arrives late, next to the replay
    server.receive(new, 1)
    server.turn()
    world.heal()
    assert world.ledger.fates[batch] == {"accepted"}
    assert _shown(alice, "projects") == _shown(world.clients[1], "projects") != set()
