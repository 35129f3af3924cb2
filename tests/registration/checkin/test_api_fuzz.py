"""The public API fuzzed from its own description (openapi.json) with schemathesis.

Every operation gets a few hundred generated requests, valid (positive) and invalid
(negative), under all of schemathesis' checks: no 5xx, status codes, content types,
headers and bodies as documented; a request the schema allows must not be refused as
malformed, and one it forbids must not be accepted. Driven through Hypothesis
directly (schemathesis' pytest plugin does not run on pytest 9).

What it found (issue "Hardening"): the description allowed any extra member and any
area code, admission and check-out token, while the API refused NUL bytes and lone
surrogates in them (400) or answered 404 for what the description called valid; it
now says exactly what the API takes, and the API refuses unknown members.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from sqlalchemy.orm import Session

from tests import factories

OPENAPI = Path(__file__).parents[3] / "registration" / "checkin" / "openapi.json"
DESCRIPTION = json.loads(OPENAPI.read_text())
CASES = [
    (method.upper(), path, mode)
    for path, methods in DESCRIPTION["paths"].items()
    for method, operation in methods.items()
    for mode in schemathesis.GenerationMode
    # An operation without inputs has no invalid request to generate.
    if mode is schemathesis.GenerationMode.POSITIVE
    or operation.get("parameters")
    or operation.get("requestBody")
]
EXAMPLES = 300
# The area of the description's example request exists, so its examples reach storage.
EXAMPLE_AREA_CODE = DESCRIPTION["paths"]["/checkins"]["post"]["requestBody"]["content"][
    "application/json"
]["examples"]["checkin"]["value"]["areaCode"]
# The description says what a well-formed request looks like; whether an envelope is
# a sealed record and whether an arrival lies inside the accepted window are checked
# on its content and answered 422 with a code (openapi.json lists them). So schema-valid
# data may be refused with 422, never with 400 and never with 5xx; invalid data is
# refused with a 4xx the description lists, never accepted and never a 5xx.
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2XX", "401", "403", "404", "409", "422", "429"]
            },
            "negative_data_rejection": {
                "expected-statuses": [
                    "400",
                    "401",
                    "403",
                    "404",
                    "405",
                    "409",
                    "413",
                    "415",
                    "422",
                    "429",
                ]
            },
        }
    }
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("method", "path", "mode"), CASES, ids=[f"{m} {p} {mode.value}" for m, p, mode in CASES]
)
def test_api_holds_to_its_description(
    app: Flask,
    db_session: Session,
    method: str,
    path: str,
    mode: schemathesis.GenerationMode,
) -> None:
    venue = factories.venue(db_session, areas=("Terrasse", "Saal"))
    venue.area.code = EXAMPLE_AREA_CODE
    db_session.commit()
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=CONFIG)
    operation = schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def holds(case: schemathesis.Case) -> None:
        case.call_and_validate()

    holds()
