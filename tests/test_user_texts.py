"""Texts people read in the portals: no command names (only the operator docs have
them), and the German words the staff and owners use."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po
from click import Context, Group

from gastregister.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _command_names() -> set[str]:
    # Every command: the group attaches them when they are listed or looked up.
    names = main.list_commands(Context(main))
    return set(names) | {
        f"{name} {sub}"
        for name in names
        if isinstance(command := main.commands[name], Group)
        for sub in command.commands
    }


def test_no_page_mail_or_message_tells_people_to_run_a_command() -> None:
    names = _command_names()
    assert {"keygen", "decrypt", "audit verify"} <= names  # the scan knows the commands
    pattern = re.compile(r"gastregister (" + "|".join(map(re.escape, sorted(names))) + r")\b")
    found = []
    for po in sorted(ROOT.glob("*/**/translations/de/LC_MESSAGES/messages.po")):
        if ".venv" in po.parts:
            continue
        with po.open("rb") as handle:
            for message in read_po(handle):
                ids = message.id if isinstance(message.id, tuple) else (message.id,)
                strings = message.string if isinstance(message.string, tuple) else (message.string,)
                for text in (*ids, *strings):
                    if text and pattern.search(text):
                        found.append(f"{po.relative_to(ROOT)}: {text[:80]}")
    assert found == []


def test_staff_entry_speaks_of_departure_not_of_going() -> None:
    with (ROOT / "registration/portal/translations/de/LC_MESSAGES/messages.po").open(
        "rb"
    ) as handle:
        catalog = read_po(handle)
    departure = [m for m in catalog if isinstance(m.id, str) and "departure" in m.id.lower()]
    assert departure, "the staff entry's departure texts"
    for message in departure:
        assert "Gehen" not in message.string and "Abreise" in message.string, message.id
