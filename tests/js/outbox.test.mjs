// The guest's outbox (registration/static/js/outbox.js): an entry stays until the
// server took it or refused it for good, and retries back off from 1 s to 60 s.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Outbox, OutboxSender, Outcome, retryDelayMs } from "../../registration/static/js/outbox.js";

/** localStorage's interface over a Map. */
class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
}

/** A sender whose next flushes are recorded instead of scheduled. */
function sender(outbox, outcomes) {
  const sent = [];
  const settled = [];
  const instance = new OutboxSender(
    outbox,
    async (entry) => {
      sent.push(entry.id);
      const outcome = outcomes(entry);
      if (outcome instanceof Error) throw outcome;
      return { outcome, data: { for: entry.id } };
    },
    (entry, outcome, data) => settled.push([entry.id, outcome, data]),
  );
  const delays = [];
  instance.flushSoon = (delay) => delays.push(delay);
  return { instance, sent, settled, delays };
}

test("the outbox keeps entries in storage, one per id", () => {
  const storage = new MemoryStorage();
  const outbox = new Outbox(storage, "test.outbox");
  outbox.put({ id: "a", attempts: 0 });
  outbox.put({ id: "b", attempts: 0 });
  outbox.put({ id: "a", attempts: 1 });
  assert.deepEqual(new Outbox(storage, "test.outbox").entries(), [
    { id: "b", attempts: 0 },
    { id: "a", attempts: 1 },
  ]);
  outbox.update("b", { attempts: 5 });
  assert.equal(outbox.get("b").attempts, 5);
  outbox.remove("a");
  assert.equal(outbox.get("a"), null);
});

test("unreadable storage counts as an empty outbox", () => {
  const storage = new MemoryStorage();
  storage.setItem("k", "{not json");
  assert.deepEqual(new Outbox(storage, "k").entries(), []);
  storage.setItem("k", '{"an": "object"}');
  assert.deepEqual(new Outbox(storage, "k").entries(), []);
});

test("accepted and refused entries leave; the others stay and count their attempts", async () => {
  const outbox = new Outbox(new MemoryStorage(), "k");
  for (const id of ["done", "retry", "refused", "offline"]) outbox.put({ id, attempts: 0 });
  const outcomes = {
    done: Outcome.DONE,
    retry: Outcome.RETRY,
    refused: Outcome.REFUSED,
    offline: new TypeError("Failed to fetch"),
  };
  const { instance, settled, delays } = sender(outbox, (entry) => outcomes[entry.id]);

  await instance.flush();

  assert.deepEqual(outbox.entries(), [
    { id: "retry", attempts: 1 },
    { id: "offline", attempts: 1 },
  ]);
  assert.deepEqual(settled, [
    ["done", Outcome.DONE, { for: "done" }],
    ["refused", Outcome.REFUSED, { for: "refused" }],
  ]);
  assert.deepEqual(delays, [1000]);
});

test("retries back off 1 s, 3 s, 10 s, 30 s, then every 60 s, and start over after a success", async () => {
  const outbox = new Outbox(new MemoryStorage(), "k");
  outbox.put({ id: "x", attempts: 0 });
  let online = false;
  const { instance, delays, settled } = sender(outbox, () => (online ? Outcome.DONE : Outcome.RETRY));
  for (let run = 0; run < 7; run++) await instance.flush();
  assert.deepEqual(delays, [1000, 3000, 10000, 30000, 60000, 60000, 60000]);
  assert.equal(outbox.get("x").attempts, 7);

  online = true;
  await instance.flush();
  assert.deepEqual(settled.map(([id]) => id), ["x"]);
  assert.equal(instance.failures, 0);
  assert.deepEqual(outbox.entries(), []);
  assert.deepEqual([0, 1, 2, 3, 4, 9].map(retryDelayMs), [1000, 3000, 10000, 30000, 60000, 60000]);
});

test("flushes while one runs share it: each entry is sent once", async () => {
  const outbox = new Outbox(new MemoryStorage(), "k");
  outbox.put({ id: "x", attempts: 0 });
  const { instance, sent } = sender(outbox, () => Outcome.DONE);
  await Promise.all([instance.flush(), instance.flush(), instance.flush()]);
  assert.deepEqual(sent, ["x"]);
});

test("wakeOn flushes at once when the network is back or the page is shown again", () => {
  const { instance, delays } = sender(new Outbox(new MemoryStorage(), "k"), () => Outcome.DONE);
  const win = new EventTarget();
  const doc = new EventTarget();
  doc.visibilityState = "hidden";
  instance.wakeOn(win, doc);
  doc.dispatchEvent(new Event("visibilitychange"));
  assert.deepEqual(delays, []);
  win.dispatchEvent(new Event("online"));
  doc.visibilityState = "visible";
  doc.dispatchEvent(new Event("visibilitychange"));
  assert.deepEqual(delays, [0, 0]);
});
