"""Every Kafka topic of the studio, in one place: its name, key, retention and purpose.

`Topics(prefix)` gives an installation's full names (prefix `studio` by default); `CATALOGUE`
is what the bootstrap creates. Draft units go to `work.<stage>`, final-quality units (the model
backends, on GPU machines) to `work.<stage>.final`, so each pool scales on its own lag.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.stages import FINAL_QUALITY_STAGES, STAGES, Quality

AGGREGATES = ("user", "credits", "project", "production", "publication")
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
FOREVER = -1


@dataclass(frozen=True)
class TopicSpec:
    """One topic, named relative to the prefix (``events.user`` -> ``studio.events.user``)."""

    name: str
    key: str
    purpose: str
    retention_ms: int
    partitions: int | None = None  # None: the installation's default
    cleanup_policy: str = "delete"

    def config(self) -> dict[str, str]:
        return {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}


def work_name(stage: str, quality: Quality = "draft") -> str:
    return f"work.{stage}.final" if quality == "final" else f"work.{stage}"


def dead_letter_name(stage: str) -> str:
    return f"work.{stage}.dlq"


CATALOGUE: tuple[TopicSpec, ...] = (
    *(
        TopicSpec(f"events.{agg}", "aggregate id", f"{agg} event envelopes", FOREVER)
        for agg in AGGREGATES
    ),
    *(TopicSpec(work_name(s), "unit id", f"{s} draft work units", 7 * DAY_MS) for s in STAGES),
    *(
        TopicSpec(work_name(s, "final"), "unit id", f"{s} final-quality units", 7 * DAY_MS)
        for s in FINAL_QUALITY_STAGES
    ),
    *(
        TopicSpec(dead_letter_name(s), "unit id", f"{s} units that failed every try", 28 * DAY_MS)
        for s in STAGES
    ),
    TopicSpec("work.results", "production id", "unit outcomes from the workers", 7 * DAY_MS),
    TopicSpec(
        "dead_letters",
        "consumer group",
        "messages a consumer could not handle, with the reason",
        28 * DAY_MS,
    ),
    TopicSpec("progress", "production id", "ephemeral progress ticks for live UIs", 6 * HOUR_MS),
    TopicSpec(
        "relay.position",
        "relay name",
        "the relay's last published notification id",
        FOREVER,
        partitions=1,
        cleanup_policy="compact",
    ),
)


@dataclass(frozen=True)
class Topics:
    """The full topic names of one installation."""

    prefix: str

    def name(self, spec: TopicSpec) -> str:
        return f"{self.prefix}.{spec.name}"

    def events(self, aggregate: str) -> str:
        return f"{self.prefix}.events.{aggregate}"

    @property
    def all_events(self) -> list[str]:
        return [self.events(aggregate) for aggregate in AGGREGATES]

    def work(self, stage: str, quality: Quality = "draft") -> str:
        return f"{self.prefix}.{work_name(stage, quality)}"

    def dead_letters(self, stage: str | None = None) -> str:
        """A stage's units that failed every attempt; without a stage, the messages any
        consumer could not handle (``<prefix>.dead_letters``)."""
        if stage is None:
            return f"{self.prefix}.dead_letters"
        return f"{self.prefix}.{dead_letter_name(stage)}"

    @property
    def results(self) -> str:
        return f"{self.prefix}.work.results"

    @property
    def progress(self) -> str:
        return f"{self.prefix}.progress"

    @property
    def relay_position(self) -> str:
        return f"{self.prefix}.relay.position"

    def group(self, name: str) -> str:
        """A consumer group of this installation, e.g. ``group("saga")`` -> ``studio.saga``."""
        return f"{self.prefix}.{name}"
