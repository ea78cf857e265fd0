"""A studio on a three-node Kafka cluster (topics with 3 replicas, 2 in sync): one node is killed
with `kill -9` in the middle of a production and left dead; the production completes with no
event lost or published twice, and two worker processes share each stage's partitions.

Runs `bench.chaos` on a private studio (its own Kafka cluster, PostgreSQL and ports)."""

from __future__ import annotations

import pytest

from adapters.settings import Settings
from bench.chaos import Config, Outcome, run, table
from bench.chaos.faults import NODE_KILL

SCRIPT = """INT. HARBOUR - DAWN

Fishing boats rock against the quay.

MEERA
The nets are dry. We sail before the tide turns.

EXT. LIGHTHOUSE - DAWN

Gulls circle the lamp room.

ARJUN
Then sail. I will keep the lamp until you are home.
"""


@pytest.fixture(scope="module")
def outcome(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """One production on the cluster, a node killed once it runs; `stack` only ensures the jars
    and binaries the private stack needs exist."""
    script = tmp_path_factory.mktemp("multibroker") / "harbour.fountain"
    script.write_text(SCRIPT)
    config = Config(
        faults=0,
        productions=1,
        broker_restarts=0,
        postgres_restarts=0,
        brokers=3,
        node_kills=1,
        extra_workers=1,
        seed=3,
        gap=(4.0, 6.0),  # the production is under way when the node dies
        scripts=(script,),
    )
    lines: list[str] = []
    result = run(config, say=lines.append)
    print("\n".join(lines) + table(result))
    return result


def test_a_node_was_killed_during_a_production(outcome: Outcome) -> None:
    kills = [f for f in outcome.faults if f.kind.startswith(NODE_KILL)]
    assert len(kills) == 1 and kills[0].recovery is not None, table(outcome)
    killed_at = kills[0].injected
    during = [
        p for p in outcome.productions if p.requested_at <= killed_at <= p.requested_at + p.seconds
    ]
    assert during, f"no production ran when the node died:\n{table(outcome)}"


@pytest.mark.parametrize(
    "invariant",
    [
        "every fault recovered",
        "productions completed or cancelled as asked",
        "every completed film passes the film checks",
        "no event id twice in Kafka, every stored event published",
        "read models equal a fresh replay",
        "stage work shared by worker processes",
    ],
)
def test_the_invariant_holds_with_a_node_dead(outcome: Outcome, invariant: str) -> None:
    check = next((c for c in outcome.checks if c.name == invariant), None)
    assert check is not None, f"{invariant} was never checked:\n{table(outcome)}"
    assert check.held, f"{invariant}: {check.figures}\n{table(outcome)}"
