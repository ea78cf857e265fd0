"""The studio's own background processes, as data for the supervisor."""

from __future__ import annotations

import sys

from adapters.settings import Settings
from filmstudio.supervisor import ProcessSpec


def studio_processes(settings: Settings, every: bool = False) -> list[ProcessSpec]:
    """Every process ``filmstudio up`` starts, in start order; ``every`` adds the ones these
    settings leave out (the final-quality workers), so ``down`` stops what an earlier ``up``
    started."""
    cli = [sys.executable, "-m", "filmstudio.cli"]
    return [
        ProcessSpec("relay", [*cli, "relay"], heartbeat=True),
        ProcessSpec("projections", [*cli, "projections"], heartbeat=True),
        ProcessSpec("notifications", [*cli, "notifications"], heartbeat=True),
        ProcessSpec("analytics", [*cli, "projections", "--name", "analytics"], heartbeat=True),
        ProcessSpec("saga", [*cli, "saga"], heartbeat=True),
        ProcessSpec("workers", [*cli, "workers"], heartbeat=True),
        *(
            [ProcessSpec("final-workers", [*cli, "workers", "--quality", "final"], heartbeat=True)]
            if settings.model_backends or every
            else []
        ),
        *(
            [ProcessSpec("publisher", [*cli, "publisher"], heartbeat=True)]
            if settings.youtube_client_id or every
            else []
        ),
        *(
            [ProcessSpec("salesforce", [*cli, "salesforce"], heartbeat=True)]
            if settings.salesforce_client_id or every
            else []
        ),
        ProcessSpec(
            "api",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "filmstudio.bootstrap:api_app",
                "--host",
                settings.api_host,
                "--port",
                str(settings.api_port),
                *(["--workers", str(settings.api_workers)] if settings.api_workers > 1 else []),
            ],
            health_url=f"http://{settings.api_host}:{settings.api_port}/healthz",
        ),
    ]
