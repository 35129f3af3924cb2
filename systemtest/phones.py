"""Guests' phones under load: each check-in is sealed once and sent until acknowledged.

This is what the guest page's outbox does (registration/static/js/outbox.js): the
same body, with the same idempotency key and arrival, is sent again after any
failure — a dropped connection, a 502 from nginx while a host dies, a 503 while the
database is away — until the server acknowledges it with 200 or 201. "Acknowledged"
below means exactly that answer; the system test then counts the acknowledged
check-ins in the database.

Each phone has a loopback source address of its own (127.0.0.0/8 is all loopback on
Linux), so nginx and the rate limits see many guests, not one client.
"""

from __future__ import annotations

import collections
import datetime as dt
import http.client
import json
import queue
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import crypto

REQUEST_TIMEOUT_SECONDS = 10.0
# The guest page's outbox waits this long after its 1st, 2nd, … failure (outbox.js).
RETRY_DELAYS_SECONDS = (1.0, 3.0, 10.0, 30.0, 60.0)


def contact_record(number: int) -> dict[str, Any]:
    return {
        "v": 1,
        "firstName": f"Last{number}",
        "lastName": "Gast",
        "street": "Lastweg",
        "houseNumber": str(number),
        "zipCode": "10115",
        "city": "Berlin",
        "phone": f"+49 30 {number:07d}",
        "email": "",
        "additionalPersons": [],
        "note": "",
    }


@dataclass
class PendingCheckIn:
    body: bytes
    idempotency_key: str
    source: str
    not_before: float = 0.0
    attempts: int = 0


@dataclass
class Attempt:
    at: float
    outcome: str  # "201", "200", "503", "502", "timeout", "ConnectionRefusedError", …
    seconds: float


@dataclass
class Phones:
    """Many phones checking in through the proxy."""

    host: str
    port: int
    location_code: str
    area_codes: list[str]
    public_key: bytes
    sources: int = 200
    acknowledged: dict[str, str] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    created: int = 0
    last_acknowledged: float = 0.0
    _queue: queue.Queue[PendingCheckIn] = field(default_factory=queue.Queue)
    _stop: threading.Event = field(default_factory=threading.Event)
    _creating: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _context: ssl.SSLContext = field(init=False)

    def __post_init__(self) -> None:
        self._context = ssl.create_default_context()
        self._context.check_hostname = False
        self._context.verify_mode = ssl.CERT_NONE

    def new_checkin(self) -> PendingCheckIn:
        with self._lock:
            number = self.created
            self.created += 1
        area = self.area_codes[number % len(self.area_codes)]
        key = secrets.token_hex(16)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        arrival = now.isoformat()
        envelope = crypto.seal_contact_record(  # format v2, as the guest page seals
            self.public_key,
            contact_record(number),
            location_code=self.location_code,
            area_code=area,
            visit=crypto.VisitBinding(now, key, "guest_page"),
        )
        body = json.dumps(
            {
                "areaCode": area,
                "idempotencyKey": key,
                "envelope": crypto.encode_envelope(envelope),
                "persons": 1,
                "arrival": arrival,
            }
        ).encode()
        return PendingCheckIn(body, key, f"127.0.1.{2 + number % self.sources}")

    def send(self, pending: PendingCheckIn) -> bool:
        """One attempt; True when acknowledged."""
        pending.attempts += 1
        started = time.monotonic()
        connection = http.client.HTTPSConnection(
            self.host,
            self.port,
            timeout=REQUEST_TIMEOUT_SECONDS,
            context=self._context,
            source_address=(pending.source, 0),
        )
        outcome = ""
        try:
            connection.request(
                "POST",
                "/api/v1/checkins",
                body=pending.body,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
            )
            response = connection.getresponse()
            payload = response.read()
            outcome = str(response.status)
            if response.status in (200, 201):
                checkin_id = json.loads(payload)["id"]
                with self._lock:
                    previous = self.acknowledged.setdefault(pending.idempotency_key, checkin_id)
                if previous != checkin_id:
                    outcome = "acknowledged twice with different ids"
                return outcome in ("200", "201")
            return False
        except TimeoutError:
            outcome = "timeout"
            return False
        except (OSError, http.client.HTTPException) as error:
            outcome = type(error).__name__
            return False
        finally:
            connection.close()
            with self._lock:
                self.attempts.append(Attempt(started, outcome, time.monotonic() - started))

    def _sender(self, stop: threading.Event) -> None:
        while not (stop.is_set() and self._queue.empty()):
            try:
                pending = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            if pending.not_before > time.monotonic():
                self._queue.put(pending)  # not yet: let the others go first
                time.sleep(0.02)
                continue
            if self.send(pending):
                with self._lock:
                    self.last_acknowledged = time.monotonic()
            else:
                delay = RETRY_DELAYS_SECONDS[min(pending.attempts, len(RETRY_DELAYS_SECONDS)) - 1]
                pending.not_before = time.monotonic() + delay
                self._queue.put(pending)

    def start(self, per_second: float, *, senders: int = 8) -> None:
        """New check-ins at a steady rate, each retried until acknowledged, until `drain`."""
        self._stop = threading.Event()
        self._creating = threading.Event()
        self._creating.set()
        self._threads = [
            threading.Thread(target=self._sender, args=(self._stop,), daemon=True)
            for _ in range(senders)
        ]
        self._threads.append(threading.Thread(target=self._create, args=(per_second,), daemon=True))
        for thread in self._threads:
            thread.start()

    def _create(self, per_second: float) -> None:
        next_at = time.monotonic()
        while self._creating.is_set():
            self._queue.put(self.new_checkin())
            next_at += 1 / per_second
            time.sleep(max(0.0, next_at - time.monotonic()))

    def drain(self, timeout: float) -> int:
        """No new check-ins; keep sending until every one is acknowledged. Returns how
        many are still unacknowledged when `timeout` ends."""
        self._creating.clear()
        time.sleep(0.2)
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        return self._queue.qsize()

    def outcomes(self, since: float = 0.0, until: float = float("inf")) -> collections.Counter[str]:
        with self._lock:
            return collections.Counter(
                attempt.outcome for attempt in self.attempts if since <= attempt.at < until
            )

    def slowest(self, since: float = 0.0, until: float = float("inf")) -> float:
        with self._lock:
            times = [a.seconds for a in self.attempts if since <= a.at < until]
        return max(times, default=0.0)

    def first_success_after(self, moment: float) -> float | None:
        """When the first acknowledged attempt after `moment` started (service back)."""
        with self._lock:
            done = [a.at for a in self.attempts if a.at >= moment and a.outcome in ("200", "201")]
        return min(done, default=None)

    def last_failure_after(self, moment: float) -> float | None:
        """When the last failed attempt after `moment` started (recovery time)."""
        with self._lock:
            failures = [
                a.at for a in self.attempts if a.at >= moment and a.outcome not in ("200", "201")
            ]
        return max(failures, default=None)
