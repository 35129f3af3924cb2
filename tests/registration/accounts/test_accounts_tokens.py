"""Signed links in mails: purpose-bound, tamper-evident, expiring."""

from __future__ import annotations

import datetime as dt

import pytest

from registration.accounts.tokens import TokenError, issue_token, read_token

NOW = dt.datetime(2026, 11, 20, 11, 0, tzinfo=dt.UTC)
KEY = b"k" * 32
HOUR = dt.timedelta(hours=1)


def test_a_token_round_trips_within_its_lifetime() -> None:
    token = issue_token(KEY, "reset", {"u": 7}, NOW)
    assert read_token(KEY, "reset", token, NOW + HOUR, HOUR) == {"u": 7}


@pytest.mark.parametrize(
    ("secret", "purpose", "delay"),
    [
        (b"t" * 32, "reset", dt.timedelta(0)),
        (KEY, "verify", dt.timedelta(0)),
        (KEY, "reset", HOUR + dt.timedelta(seconds=1)),
        (KEY, "reset", -dt.timedelta(minutes=10)),
    ],
)
def test_other_secret_purpose_or_time_is_refused(
    secret: bytes, purpose: str, delay: dt.timedelta
) -> None:
    token = issue_token(KEY, "reset", {"u": 7}, NOW)
    with pytest.raises(TokenError):
        read_token(secret, purpose, token, NOW + delay, HOUR)


def test_a_token_from_a_clock_a_little_ahead_is_accepted() -> None:
    token = issue_token(KEY, "reset", {"u": 7}, NOW + dt.timedelta(minutes=4))
    assert read_token(KEY, "reset", token, NOW, HOUR) == {"u": 7}


def test_overlong_tokens_and_other_subjects_are_refused() -> None:
    with pytest.raises(TokenError):
        read_token(KEY, "reset", "a" * 2000, NOW, HOUR)
    not_a_mapping = issue_token(KEY, "reset", [7], NOW)  # type: ignore[arg-type] # a forged shape
    with pytest.raises(TokenError):
        read_token(KEY, "reset", not_a_mapping, NOW, HOUR)


@pytest.mark.parametrize(
    "mangle", [lambda t: "x" + t, lambda t: t[:-1], lambda t: t + ".x", lambda t: "é." + t]
)
def test_tampered_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    token = issue_token(KEY, "reset", {"u": 7}, NOW)
    with pytest.raises(TokenError):
        read_token(KEY, "reset", mangle(token), NOW, HOUR)
