// Delivering the outbox (registration/static/js/delivery.js): what a server answer
// means for the entry and the visit, shared by the guest page and its service worker.

import assert from "node:assert/strict";
import { test } from "node:test";

import { AREA_HEADER, checkoutEntry, postJson, sendEntry, settle } from "../../registration/static/js/delivery.js";
import { MemoryStore, Outcome } from "../../registration/static/js/outbox.js";

function answering(status, body) {
  return async () => new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

const VISIT = {
  idempotencyKey: "k1",
  apiBase: "/api/v1/checkins",
  arrival: "2026-11-26T10:00:00Z",
  autoDeparture: "2026-11-26T11:30:00Z",
  persons: 1,
  status: "queued",
};
const CHECKIN = { id: "checkin:k1", kind: "checkin", visitKey: "k1", url: "/api/v1/checkins", body: {}, attempts: 0 };

test("success, retry and refusal by the answer's status", async () => {
  const cases = [
    [201, Outcome.DONE],
    [200, Outcome.DONE],
    [500, Outcome.RETRY],
    [503, Outcome.RETRY],
    [429, Outcome.RETRY],
    [408, Outcome.RETRY],
    [404, Outcome.REFUSED],
    [409, Outcome.REFUSED],
    [422, Outcome.REFUSED],
  ];
  for (const [status, outcome] of cases) {
    const result = await sendEntry(CHECKIN, { fetchImpl: answering(status, { error: { code: "x", message: "Nein." } }) });
    assert.equal(result.outcome, outcome, String(status));
    if (outcome === Outcome.REFUSED) assert.deepEqual(result.data, { status, code: "x", message: "Nein." });
  }
});

test("a server that never answers is given up after the deadline", async () => {
  const stalled = (url, init) =>
    new Promise((resolve, reject) => init.signal.addEventListener("abort", () => reject(init.signal.reason)));
  await assert.rejects(postJson("/api/v1/checkins", {}, { timeoutMs: 5, fetchImpl: stalled }), { name: "AbortError" });
});

test("a check-in names its area in a header for the proxy to count; a check-out names none", async () => {
  const sent = [];
  const recording = async (url, init) => {
    sent.push(init.headers);
    return new Response("{}", { status: 201, headers: { "Content-Type": "application/json" } });
  };
  await postJson("/api/v1/checkins", { areaCode: "tisch-7", persons: 1 }, { fetchImpl: recording });
  await postJson("/api/v1/checkins/c-1/checkout", { checkoutToken: "t".repeat(43) }, { fetchImpl: recording });
  assert.equal(sent[0][AREA_HEADER], "tisch-7");
  assert.equal(sent[0]["Content-Type"], "application/json");
  assert.equal(AREA_HEADER in sent[1], false);
});

test("a delivered check-in gives the visit its id and token; a waiting check-out follows", async () => {
  const store = new MemoryStore();
  await store.putVisit(VISIT);
  const answer = {
    id: "c-1",
    checkoutToken: "t".repeat(43),
    arrival: VISIT.arrival,
    autoDeparture: VISIT.autoDeparture,
    persons: 1,
  };
  await settle(store, { ...CHECKIN, checkoutAt: "2026-11-26T10:30:00Z" }, Outcome.DONE, answer);
  const visit = await store.getVisit("k1");
  assert.equal(visit.token, answer.checkoutToken);
  assert.equal(visit.status, "checkoutQueued");
  assert.deepEqual(await store.entries(), [checkoutEntry(visit, "2026-11-26T10:30:00Z")]);
  assert.equal((await store.entries())[0].url, "/api/v1/checkins/c-1/checkout");
});

test("a refused check-in keeps its reason on the visit", async () => {
  const store = new MemoryStore();
  await store.putVisit(VISIT);
  const refusal = { status: 422, code: "arrival_out_of_range", message: "Zu spät." };
  await settle(store, CHECKIN, Outcome.REFUSED, refusal);
  const visit = await store.getVisit("k1");
  assert.equal(visit.status, "refused");
  assert.deepEqual(visit.refusal, refusal);
});

test("a check-out the server no longer knows ends the visit; another refusal is kept", async () => {
  const store = new MemoryStore();
  const sent = { ...VISIT, id: "c-1", token: "t", status: "checkoutQueued" };
  await store.putVisit(sent);
  const entry = checkoutEntry(sent, "2026-11-26T10:30:00Z");
  await settle(store, entry, Outcome.REFUSED, { status: 404, code: "not_found", message: "" });
  assert.equal((await store.getVisit("k1")).status, "checkedOut");
  assert.equal((await store.getVisit("k1")).departure, "2026-11-26T10:30:00Z");
  await store.putVisit(sent);
  await settle(store, entry, Outcome.REFUSED, { status: 422, code: "invalid", message: "Nein." });
  assert.equal((await store.getVisit("k1")).status, "sent");
  assert.equal((await store.getVisit("k1")).refusal.message, "Nein.");
});

test("a check-out that goes through after a refusal clears the refusal", async () => {
  const store = new MemoryStore();
  const refused = { ...VISIT, id: "c-1", token: "t", status: "checkoutQueued", refusal: { status: 422 } };
  await store.putVisit(refused);
  await settle(store, checkoutEntry(refused, "2026-11-26T10:30:00Z"), Outcome.DONE, {
    departure: "2026-11-26T10:30:00Z",
  });
  const visit = await store.getVisit("k1");
  assert.equal(visit.status, "checkedOut");
  assert.equal(visit.refusal, undefined);
});
