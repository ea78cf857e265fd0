"""Convert CustomResourceDefinitions to the JSON schemas kubeconform reads, strict.

    .venv/bin/python deploy/helm/crds-schemas/convert.py CRD.yaml... [--out DIR]

Writes ``<group>/<kind>_<version>.json`` (lower-case kind) for every served version into DIR
(default: this folder), the layout of kubeconform's
``-schema-location '<dir>/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'``.
Like kubeconform's own ``openapi2jsonschema.py``: ``x-kubernetes-int-or-string`` becomes
"integer or string", and every object that lists its properties refuses others (unless it says
``x-kubernetes-preserve-unknown-fields``), so a misspelt field fails validation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


def strict(node: Any) -> Any:
    """The schema with unknown properties refused and int-or-string spelt out, recursively."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict(value) for key, value in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in out
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


def convert(crd_file: Path, out_dir: Path) -> list[Path]:
    """Write the schema of each served version of the CRD in `crd_file`; returns the files."""
    crd = yaml.safe_load(crd_file.read_text())
    group = crd["spec"]["group"]
    kind = crd["spec"]["names"]["kind"].lower()
    written = []
    for version in crd["spec"]["versions"]:
        if not version.get("served", True):
            continue
        schema = strict(version["schema"]["openAPIV3Schema"])
        # apiVersion, kind and metadata are the API server's: allow them at the root
        schema.setdefault("properties", {}).update(
            {
                "apiVersion": {"type": "string", "enum": [f"{group}/{version['name']}"]},
                "kind": {"type": "string", "enum": [crd["spec"]["names"]["kind"]]},
                "metadata": {"type": "object"},
            }
        )
        target = out_dir / group / f"{kind}_{version['name']}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("crds", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args()
    for crd_file in args.crds:
        for path in convert(crd_file, args.out):
            print(path.relative_to(args.out))


if __name__ == "__main__":
    main()
