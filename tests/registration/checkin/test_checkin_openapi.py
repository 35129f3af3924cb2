"""openapi.json matches the implementation: same routes, valid examples, real answers fit."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import crypto
from registration.clock import FrozenClock
from tests.factories import Venue, iso

SPEC: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[3] / "registration/checkin/openapi.json").read_text()
)
TYPES = {
    "string": str,
    "integer": int,
    "boolean": bool,
    "object": dict,
    "array": list,
    "null": type(None),
}


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = SPEC
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def problems(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """A small JSON Schema check for the keywords this spec uses (enough to catch drift)."""
    schema = resolve(schema)
    found: list[str] = []
    if "oneOf" in schema:
        matches = [s for s in schema["oneOf"] if not problems(value, s, path)]
        return [] if len(matches) == 1 else [f"{path}: matches {len(matches)} of oneOf"]
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(
            isinstance(value, TYPES[n]) and not (n == "integer" and isinstance(value, bool))
            for n in names
        ):
            return [f"{path}: {type(value).__name__} is not {names}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} not in enum")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", 10**9):
            found.append(f"{path}: length")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{path}: pattern")
        if schema.get("format") == "date-time":
            try:
                dt.datetime.fromisoformat(value)
            except ValueError:
                found.append(f"{path}: not a date-time")
        if schema.get("format") == "uuid":
            try:
                uuid.UUID(value)
            except ValueError:
                found.append(f"{path}: not a uuid")
    is_number = isinstance(value, int) and not isinstance(value, bool)
    if is_number and not schema.get("minimum", -(10**18)) <= value <= schema.get("maximum", 10**18):
        found.append(f"{path}: out of range")
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                found.append(f"{path}: {name} missing")
        properties = schema.get("properties", {})
        for name, member in value.items():
            if name in properties:
                found.extend(problems(member, properties[name], f"{path}.{name}"))
            elif schema.get("additionalProperties") is False:
                found.append(f"{path}: unexpected {name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            found.extend(problems(item, schema["items"], f"{path}[{index}]"))
    return found


def shape(path: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?[^>]+>|\{[^}]+\}", "{}", path)


def test_every_api_route_is_documented_and_every_documented_route_exists(app: Flask) -> None:
    implemented = {
        (method.lower(), shape(rule.rule.removeprefix("/api/v1")))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/")
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }
    documented = {(method, shape(path)) for path, item in SPEC["paths"].items() for method in item}
    assert implemented == documented
    assert SPEC["openapi"].startswith("3.1")


def test_the_served_spec_is_the_file(client: FlaskClient) -> None:
    assert client.get("/api/v1/openapi.json").get_json() == SPEC


def test_examples_fit_their_request_schemas() -> None:
    checked = 0
    for item in SPEC["paths"].values():
        for operation in item.values():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if content is None:
                continue
            for example in content["examples"].values():
                assert problems(example["value"], content["schema"]) == []
                checked += 1
    assert checked == 2
    schema = SPEC["paths"]["/checkins"]["post"]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    assert problems({"areaCode": "x"}, schema)  # the check itself can fail
    assert problems(
        {"areaCode": "x", "idempotencyKey": "short", "envelope": "e", "persons": 0, "arrival": "x"},
        schema,
    )


def response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    response = resolve(SPEC["paths"][path][method]["responses"][str(status)])
    schema: dict[str, Any] = response["content"]["application/json"]["schema"]
    return schema


@pytest.mark.parametrize("persons", [1, 21])
def test_real_answers_fit_the_documented_schemas(
    client: FlaskClient, venue: Venue, clock: FrozenClock, persons: int
) -> None:
    request = {
        "areaCode": venue.area.code,
        "idempotencyKey": str(uuid.uuid4()),
        "envelope": crypto.encode_envelope(venue.seal()),
        "persons": persons,
        "arrival": iso(clock.now()),
    }
    assert problems(request, SPEC["components"]["schemas"]["CheckinRequest"]) == []
    created = client.post("/api/v1/checkins", json=request)
    assert created.status_code == 201
    assert problems(created.get_json(), response_schema("/checkins", "post", 201)) == []
    checkout = client.post(
        f"/api/v1/checkins/{created.get_json()['id']}/checkout",
        json={"checkoutToken": created.get_json()["checkoutToken"]},
    )
    assert (
        problems(
            checkout.get_json(), response_schema("/checkins/{checkinId}/checkout", "post", 200)
        )
        == []
    )
    area = client.get(f"/api/v1/areas/{venue.area.code}")
    assert problems(area.get_json(), response_schema("/areas/{areaCode}", "get", 200)) == []
    for status, answer in [
        (400, client.post("/api/v1/checkins", data=b"x", content_type="application/json")),
        (
            404,
            client.post(
                "/api/v1/checkins",
                json={**request, "areaCode": "nope", "idempotencyKey": str(uuid.uuid4())},
            ),
        ),
        (409, client.post("/api/v1/checkins", json={**request, "persons": 2})),
        (422, client.post("/api/v1/checkins", json={**request, "arrival": "x"})),
    ]:
        assert answer.status_code == status
        assert problems(answer.get_json(), response_schema("/checkins", "post", status)) == []
