"""The fault suite, short: two lanes of productions of a two-scene script (one revised while it
renders, one cancelled once it runs) on a private studio while 10 of its processes are killed
with SIGKILL and its broker restarts.

`make chaos` runs the long version (100 kills, 5 productions, a broker and a PostgreSQL
restart); both use `bench/chaos`.
"""

from __future__ import annotations

import pytest

from adapters.settings import Settings
from bench.chaos import Config, Outcome, run, table

SCRIPT = """INT. KITCHEN - NIGHT

Asha stirs a pot.

ASHA
Dinner is almost ready.

EXT. STREET - NIGHT

Rain falls on the tin roofs.

RAVI
I can hear the storm coming.
"""


@pytest.fixture(scope="module")
def outcome(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """One run; `stack` only ensures the jars and binaries the private stack needs exist."""
    script = tmp_path_factory.mktemp("chaos") / "kitchen.fountain"
    script.write_text(SCRIPT)
    config = Config(
        faults=10,
        productions=2,
        broker_restarts=1,
        postgres_restarts=0,
        seed=10,
        scripts=(script,),  # short, and the lanes share its units: the test stays short
    )
    lines: list[str] = []
    result = run(config, say=lines.append)
    print("\n".join(lines) + table(result))
    return result


def test_every_fault_is_injected_and_recovered(outcome: Outcome) -> None:
    kinds = [f.kind for f in outcome.faults]
    assert (
        sum(k.startswith("kill -9") for k in kinds) == 10
        and kinds.count("kafka broker restart") == 1
    ), kinds
    assert {k.removeprefix("kill -9 ") for k in kinds} >= {
        "relay", "projections", "saga", "workers", "api",
    }  # fmt: skip
    unrecovered = [(f.kind, f.error) for f in outcome.faults if f.recovery is None]
    assert not unrecovered, table(outcome)


@pytest.mark.parametrize(
    "invariant",
    [
        "every fault recovered",
        "productions completed or cancelled as asked",
        "every completed film passes the film checks",
        "credits exact (granted - captured = balance)",
        "no event id twice in Kafka, every stored event published",
        "read models equal a fresh replay",
    ],
)
def test_the_invariant_holds_after_the_faults(outcome: Outcome, invariant: str) -> None:
    check = next((c for c in outcome.checks if c.name == invariant), None)
    assert check is not None, f"{invariant} was never checked:\n{table(outcome)}"
    assert check.held, f"{invariant}: {check.figures}\n{table(outcome)}"


def test_the_productions_were_revised_and_cancelled_on_purpose(outcome: Outcome) -> None:
    kinds = {p.kind: p.expect for p in outcome.productions}
    assert kinds.get("revised") == "completed", kinds
    assert "cancel" in kinds, kinds
