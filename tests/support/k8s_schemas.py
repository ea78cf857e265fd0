"""Kubernetes' own JSON schemas, laid out for kubeconform, from the `kubernetes-validate` package.

The package ships each kind's schema with ``$ref``s into a shared ``_definitions.json`` under an
``https://kubernetes.io/`` id, which kubeconform would fetch from the internet. `write_schemas`
writes standalone copies instead: each kind's file carries the definitions it reaches, so
kubeconform reads them from disk
(``-schema-location '<dir>/{{.ResourceKind}}{{.KindSuffix}}.json'``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate

KUBERNETES_VERSION = "1.37.0"
SOURCE = (
    Path(kubernetes_validate.__file__).parent
    / "kubernetes-json-schema"
    / f"v{KUBERNETES_VERSION}-local-strict"
)
_REF = re.compile(r'"\$ref": "(?:/api/_definitions\.json)?#/\$defs/([^"]+)"')


@cache
def _definitions() -> dict[str, Any]:
    defs: dict[str, Any] = json.loads((SOURCE / "_definitions.json").read_text())["$defs"]
    return defs


def _reached(text: str) -> dict[str, Any]:
    """Every definition `text` refers to, transitively."""
    defs = _definitions()
    found: dict[str, Any] = {}
    todo = _REF.findall(text)
    while todo:
        name = todo.pop()
        if name not in found:
            found[name] = defs[name]
            todo += _REF.findall(json.dumps(defs[name]))
    return found


def file_name(api_version: str, kind: str) -> str:
    """kubeconform's name for a kind: ``deployment-apps-v1.json``, ``service-v1.json``."""
    group, _, version = api_version.rpartition("/")
    suffix = f"-{group.split('.')[0]}-{version}" if group else f"-{version}"
    return f"{kind.lower()}{suffix}.json"


def write_schemas(kinds: Iterable[tuple[str, str]], out_dir: Path) -> list[Path]:
    """Write standalone schemas of the (apiVersion, kind) pairs that Kubernetes itself defines
    (others, such as custom resources, are skipped); returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for api_version, kind in sorted(set(kinds)):
        source = SOURCE / file_name(api_version, kind)
        if not source.exists():
            continue
        text = source.read_text().replace('"/api/_definitions.json#', '"#')
        schema = json.loads(text)
        schema.pop("$id", None)
        schema["$defs"] = _reached(text)
        target = out_dir / source.name
        target.write_text(json.dumps(schema))
        written.append(target)
    return written
