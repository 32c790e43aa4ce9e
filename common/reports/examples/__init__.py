"""The example templates shipped with the product, created in the default workspace on first start.

Each example is three files beside this module: ``<slug>.md`` (the body), ``<slug>.json`` (name,
description, parameter declarations, and which CSV feeds each dataset parameter) and the CSVs.
Declarations are checked here, so a broken example fails tests rather than start-up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.reports.parameters import validate_declarations

_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ExampleTemplate:
    """One example: what a template row needs, plus sample CSV bytes per dataset parameter."""

    slug: str
    name: str
    description: str
    body: str
    parameters: list[dict[str, Any]]
    datasets: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # param → (filename, bytes)


def load_examples() -> list[ExampleTemplate]:
    """All examples in a stable order (by slug)."""
    examples = []
    for meta_path in sorted(_HERE.glob("*.json")):
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        params = [p.to_dict() for p in validate_declarations(meta["parameters"])]
        datasets = {name: (filename, (_HERE / filename).read_bytes())
                    for name, filename in meta.get("datasets", {}).items()}
        examples.append(ExampleTemplate(
            slug=meta_path.stem, name=meta["name"], description=meta["description"],
            body=meta_path.with_suffix(".md").read_text(encoding="utf-8"), parameters=params,
            datasets=datasets))
    return examples
