"""Every audit action the code writes reads as a sentence, and details read as text.

The actions are found in the source, not in a hand-kept list: each `action=` keyword of
a call (record_event and the lifecycle helpers that pass it on), a literal, a module
constant or either branch of a conditional. A new action without a sentence fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from flask import Flask

from registration.audit import ACTION_SENTENCES, action_sentence, details_text

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("registration", "health_export", "gastregister")
ACTION_CODE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


def _constants(tree: ast.Module) -> dict[str, str]:
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    found[target.id] = node.value.value
    return found


def _values(node: ast.expr, constants: dict[str, str]) -> list[str] | None:
    """The action codes an expression can give; None if it is a forwarded parameter."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _values(node.body, constants), _values(node.orelse, constants)
        return (body or []) + (orelse or [])
    if isinstance(node, ast.Name) and node.id in constants:
        return [constants[node.id]]
    return None


def audit_actions_in_source() -> set[str]:
    actions: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            constants = _constants(tree)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                for keyword in node.keywords:
                    if keyword.arg != "action":
                        continue
                    values = _values(keyword.value, constants)
                    if values is None:
                        continue  # a helper passing its own `action` parameter on
                    actions.update(value for value in values if ACTION_CODE.match(value))
    return actions


def test_every_audit_action_in_the_code_has_a_sentence() -> None:
    used = audit_actions_in_source()
    assert len(used) >= 35, sorted(used)  # the scan itself works
    assert {"account.password_changed", "office.package.built", "request.declined"} <= used
    assert sorted(used - ACTION_SENTENCES.keys()) == [], "add a sentence to ACTION_SENTENCES"


def test_sentences_and_details_are_translated_readable_text(app: Flask) -> None:
    with app.test_request_context("/", headers={"Accept-Language": "de"}):
        assert action_sentence("account.2fa_enabled") == ("Zwei-Faktor-Anmeldung eingeschaltet.")
        assert action_sentence("some.future_action") == "some.future_action"
        text = details_text(
            {
                "reason": "outside_jurisdiction",
                "automatic": False,
                "areas": ["T1", "T2"],
                "window_start": "2026-11-20T10:00:00+00:00",
                "sha256": "ab" * 32,
                "from_office_id": 3,
                "unknown_key": None,
            }
        )
    assert "{" not in text and '"' not in text
    assert "Grund: außerhalb des Zuständigkeitsbereichs" in text
    assert "automatisch: nein" in text and "Bereiche: T1, T2" in text
    assert "20.11.26, 11:00" in text and "abababababababab…" in text
    assert "from_office_id" not in text and "unknown_key: \N{EN DASH}" in text


@pytest.mark.parametrize("details", [None, {}])
def test_no_details_is_an_empty_line(details: dict[str, object] | None, app: Flask) -> None:
    with app.test_request_context("/"):
        assert details_text(details) == ""
