"""Signed links in mails: purpose-bound, tamper-evident, expiring."""

from __future__ import annotations

import datetime as dt

import pytest

from registration.accounts.tokens import TokenError, issue_token, read_token

NOW = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)
SECRET = "s" * 40
HOUR = dt.timedelta(hours=1)


def test_a_token_round_trips_within_its_lifetime() -> None:
    token = issue_token(SECRET, "reset", {"u": 7}, NOW)
    assert read_token(SECRET, "reset", token, NOW + HOUR, HOUR) == {"u": 7}


@pytest.mark.parametrize(
    ("secret", "purpose", "delay"),
    [
        ("t" * 40, "reset", dt.timedelta(0)),
        (SECRET, "verify", dt.timedelta(0)),
        (SECRET, "reset", HOUR + dt.timedelta(seconds=1)),
        (SECRET, "reset", -dt.timedelta(minutes=10)),
    ],
)
def test_other_secret_purpose_or_time_is_refused(
    secret: str, purpose: str, delay: dt.timedelta
) -> None:
    token = issue_token(SECRET, "reset", {"u": 7}, NOW)
    with pytest.raises(TokenError):
        read_token(secret, purpose, token, NOW + delay, HOUR)


@pytest.mark.parametrize(
    "mangle", [lambda t: "x" + t, lambda t: t[:-1], lambda t: t + ".x", lambda t: "é." + t]
)
def test_tampered_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    token = issue_token(SECRET, "reset", {"u": 7}, NOW)
    with pytest.raises(TokenError):
        read_token(SECRET, "reset", mangle(token), NOW, HOUR)
