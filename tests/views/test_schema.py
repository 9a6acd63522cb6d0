"""`esc-sync rules schema`: the JSON Schema validates the shipped policy and catches mistakes."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from tests.views.conftest import RULES, esc_sync


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    """The schema as the CLI prints it."""
    result = esc_sync("rules", "schema")
    assert result.returncode == 0, result.stderr
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


@pytest.mark.parametrize("path", sorted(RULES.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_policy_file_is_valid(schema: dict[str, object], path: Path) -> None:
    data = tomllib.loads(path.read_text(encoding="utf-8"))

    jsonschema.Draft202012Validator(schema).validate(data)


def test_the_schema_rejects_an_unknown_key_and_a_wrong_type(schema: dict[str, object]) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    typo = tomllib.loads(
        '[[rules]]\nid = "x"\nwhen.all = [{ field = "status", eq = "open" }]\n'
        'then.escalate_too = "t2"\n'
    )
    wrong = tomllib.loads('[[tiers]]\nid = "t1"\nname = 5\n')

    assert list(validator.iter_errors(typo))
    assert list(validator.iter_errors(wrong))


def test_schema_can_be_written_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "schema" / "policy.schema.json"

    result = esc_sync("rules", "schema", "--out", str(target))

    assert result.returncode == 0, result.stderr
    assert json.loads(target.read_text())["title"]
