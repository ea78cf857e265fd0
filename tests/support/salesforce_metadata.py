"""The Salesforce DX metadata under deploy/salesforce, read the way an org would take it: custom
objects, their fields (type, length, precision, lookups, external ids) and validation rules of the
form ``A <op> PRIORVALUE(A)`` (the only form the fake evaluates; any other fails to load), and
what a permission set grants."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.settings import PROJECT_ROOT

METADATA_DIR = PROJECT_ROOT / "deploy" / "salesforce" / "force-app" / "main" / "default"
MD = "{http://soap.sforce.com/2006/04/metadata}"
RULE_FORMULA = re.compile(
    r"^\s*(\w+)\s*(<=|>=|<>|!=|<|>|=)\s*PRIORVALUE\(\s*(\w+)\s*\)\s*$", re.IGNORECASE
)
COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "!=": lambda a, b: a != b,
}


@dataclass(frozen=True)
class FieldSpec:
    """One field as the metadata declares it."""

    name: str
    type: str  # Text, Email, Url, Checkbox, DateTime, Number, Lookup
    label: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    required: bool = False
    external_id: bool = False
    unique: bool = False
    reference_to: str | None = None
    delete_constraint: str | None = None

    @property
    def relationship(self) -> str | None:
        """The name an upsert body refers to the parent by (``User__c`` -> ``User__r``)."""
        return self.name[:-3] + "__r" if self.type == "Lookup" else None


@dataclass(frozen=True)
class RuleSpec:
    """An active validation rule of the form ``A <op> PRIORVALUE(A)``."""

    name: str
    field: str
    operator: str
    message: str
    display_field: str | None

    def fires(self, new: Mapping[str, Any], old: Mapping[str, Any] | None) -> bool:
        value = new.get(self.field)
        prior = value if old is None else old.get(self.field)  # PRIORVALUE on insert: the value
        if value is None or prior is None:
            return False  # a comparison with a blank is not true
        return COMPARE[self.operator](value, prior)


@dataclass
class ObjectSpec:
    """A custom object: its fields (``Name`` included) and its active validation rules."""

    name: str
    label: str
    fields: dict[str, FieldSpec]
    rules: list[RuleSpec]

    @property
    def relationships(self) -> dict[str, FieldSpec]:
        return {f.relationship: f for f in self.fields.values() if f.relationship}


def _text(element: ET.Element, tag: str) -> str | None:
    child = element.find(MD + tag)
    return None if child is None or child.text is None else child.text.strip()


def _flag(element: ET.Element, tag: str) -> bool:
    return _text(element, tag) == "true"


def _number(element: ET.Element, tag: str) -> int | None:
    text = _text(element, tag)
    return None if text is None else int(text)


def load_metadata(root: Path = METADATA_DIR) -> dict[str, ObjectSpec]:
    """The custom objects of a Salesforce DX source tree (``objects/<O>/...``)."""
    objects: dict[str, ObjectSpec] = {}
    for folder in sorted((root / "objects").iterdir()):
        meta = ET.parse(folder / f"{folder.name}.object-meta.xml").getroot()
        name_field = meta.find(MD + "nameField")
        if name_field is None or _text(name_field, "type") != "Text":
            raise ValueError(f"{folder.name}: the fake knows Text name fields only")
        fields = {"Name": FieldSpec("Name", "Text", "Name", length=80, required=True)}
        for path in sorted((folder / "fields").glob("*.field-meta.xml")):
            f = ET.parse(path).getroot()
            spec = FieldSpec(
                name=_text(f, "fullName") or "",
                type=_text(f, "type") or "",
                label=_text(f, "label") or "",
                length=_number(f, "length"),
                precision=_number(f, "precision"),
                scale=_number(f, "scale"),
                required=_flag(f, "required"),
                external_id=_flag(f, "externalId"),
                unique=_flag(f, "unique"),
                reference_to=_text(f, "referenceTo"),
                delete_constraint=_text(f, "deleteConstraint"),
            )
            if spec.type == "Lookup" and spec.delete_constraint != "SetNull":
                raise ValueError(f"{folder.name}.{spec.name}: the fake knows SetNull lookups only")
            fields[spec.name] = spec
        rules = []
        for path in sorted((folder / "validationRules").glob("*.validationRule-meta.xml")):
            r = ET.parse(path).getroot()
            if not _flag(r, "active"):
                continue
            formula = _text(r, "errorConditionFormula") or ""
            match = RULE_FORMULA.match(formula)
            if not match or match[1] != match[3]:
                raise ValueError(f"{folder.name}: the fake cannot evaluate {formula!r}")
            rules.append(
                RuleSpec(
                    name=_text(r, "fullName") or path.name,
                    field=match[1],
                    operator=match[2],
                    message=_text(r, "errorMessage") or "",
                    display_field=_text(r, "errorDisplayField"),
                )
            )
        objects[folder.name] = ObjectSpec(folder.name, _text(meta, "label") or "", fields, rules)
    return objects


def load_permission_set(path: Path) -> tuple[set[str], set[str]]:
    """The objects a permission set gives full access to, and the fields it makes editable."""
    root = ET.parse(path).getroot()
    objects = {
        _text(p, "object") or ""
        for p in root.findall(MD + "objectPermissions")
        if all(_flag(p, t) for t in ("allowCreate", "allowRead", "allowEdit", "allowDelete"))
    }
    fields = {
        _text(p, "field") or ""
        for p in root.findall(MD + "fieldPermissions")
        if _flag(p, "editable") and _flag(p, "readable")
    }
    return objects, fields
