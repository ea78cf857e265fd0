"""The import-linter contracts in pyproject.toml (the package layers) hold for the code."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_import_contracts_are_kept():
    assert LINT_IMPORTS.exists(), "import-linter (the dev extra) is not installed"
    done = subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "1000", "NO_COLOR": "1"},  # one line per contract
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = done.stdout.splitlines()
    broken = [line.removesuffix(" BROKEN") for line in lines if line.endswith(" BROKEN")]
    assert not broken, "broken import contracts:\n  " + "\n  ".join(broken) + "\n\n" + done.stdout
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_architecture_page_draws_the_contracts_layers():
    """docs/architecture.md's layout names every layer of the contract, top to bottom."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [layers] = [c for c in config["contracts"] if c["type"] == "layers"]
    page = (ROOT / "docs" / "architecture.md").read_text()
    drawing = page[page.index("## Layout") :].split("```")[1]
    places = [
        [drawing.index(f"{name.strip()}/") for name in layer.split("|")]
        for layer in layers["layers"]
    ]
    for upper, lower in zip(places, places[1:], strict=False):
        assert max(upper) < min(lower), f"the drawing's order differs from {layers['layers']}"
