"""Contract run: schemathesis, every check and every phase, against a live studio API.

Run against the local stack (``.venv/bin/filmstudio stack up`` first)::

    .venv/bin/python bench/contract.py
    .venv/bin/python bench/contract.py --max-examples 200 --seed 1 --keep-report out/contract

It starts the API, relay and projections in their own topic prefix and database (removed at the
end), with the tests' local OpenAI-compatible server as the language model; registers a creator
with credits and a scripted project, and runs ``st run --checks all`` (examples, coverage,
fuzzing and stateful phases) with the creator's token, and the admin's on ``/v1/admin``. It
prints the number of generated test cases and of failures, and exits 1 when there are failures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.integration.contract import (  # noqa: E402
    Contract,
    config_toml,
    contract_studio,
)

ST = Path(sys.executable).parent / "st"


def run(contract: Contract, args: argparse.Namespace, report_dir: Path) -> tuple[int, int, int]:
    """Runs `st run`; returns (generated cases, failures, exit code)."""
    config = report_dir / "schemathesis.toml"
    config.write_text(config_toml(contract))
    argv = [
        str(ST), "--config-file", str(config), "run", f"{contract.base_url}/openapi.json",
        "--checks", "all", "--max-examples", str(args.max_examples),
        "--phases", args.phases, "--workers", str(args.workers),
        "--report", "ndjson", "--report-dir", str(report_dir),
        "--request-timeout", "30", "--no-color",
    ]  # fmt: skip
    if args.seed is not None:
        argv += ["--seed", str(args.seed)]
    completed = subprocess.run(argv, check=False)
    generated, failures = count(report_dir)
    return generated, failures, completed.returncode


def count(report_dir: Path) -> tuple[int, int]:
    """Test cases generated and unique failures, from the ndjson event stream."""
    generated = failures = 0
    for path in report_dir.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            for name, body in event.items():
                if name == "ScenarioFinished":
                    generated += len(body.get("recorder", {}).get("cases", {}))
                    for checks in body.get("recorder", {}).get("checks", {}).values():
                        failures += sum(check.get("status") == "failure" for check in checks)
    return generated, failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--workers", default="1")  # hypothesis is not thread-safe
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--keep-report", type=Path, help="folder for the ndjson report and the processes' logs"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        report_dir = args.keep_report or Path(scratch)
        report_dir.mkdir(parents=True, exist_ok=True)
        with contract_studio(report_dir) as contract:
            generated, failures, code = run(contract, args, report_dir)
    print(f"contract: {generated} test cases generated, {failures} failing checks (st exit {code})")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
