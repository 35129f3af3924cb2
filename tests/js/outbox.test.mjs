// The guest's outbox (registration/static/js/outbox.js): an entry stays until the
// server took it or refused it for good, and retries back off from 1 s to 60 s.
// MemoryStore stands in for IndexedDB (the browser tests use the real one).

import assert from "node:assert/strict";
import { test } from "node:test";

import { exclusively, MemoryStore, OutboxSender, Outcome, retryDelayMs } from "../../registration/static/js/outbox.js";

/** A sender whose next flushes are recorded instead of scheduled. */
function sender(store, outcomes, onSettled = async () => {}) {
  const sent = [];
  const settled = [];
  const instance = new OutboxSender(
    store,
    async (entry) => {
      sent.push(entry.id);
      const outcome = outcomes(entry);
      if (outcome instanceof Error) throw outcome;
      return { outcome, data: { for: entry.id } };
    },
    async (entry, outcome, data) => {
      // Settled before it leaves: the entry is still in the outbox here.
      assert.ok(await store.getEntry(entry.id));
      settled.push([entry.id, outcome, data]);
      await onSettled(entry, outcome, data);
    },
    { locks: null },
  );
  const delays = [];
  instance.flushSoon = (delay) => delays.push(delay);
  return { instance, sent, settled, delays };
}

test("the store keeps entries and visits, one per id, as copies", async () => {
  const store = new MemoryStore();
  const entry = { id: "a", attempts: 0 };
  await store.putEntry(entry);
  await store.putEntry({ id: "b", attempts: 0 });
  await store.putEntry({ id: "a", attempts: 1 });
  entry.attempts = 99;
  assert.deepEqual(await store.entries(), [
    { id: "b", attempts: 0 },
    { id: "a", attempts: 1 },
  ]);
  await store.removeEntry("a");
  assert.equal(await store.getEntry("a"), null);
  await store.putVisit({ idempotencyKey: "k", status: "sent" });
  assert.deepEqual(await store.getVisit("k"), { idempotencyKey: "k", status: "sent" });
  await store.removeVisit("k");
  assert.deepEqual(await store.visits(), []);
});

test("accepted and refused entries leave after being settled; the others stay and count their attempts", async () => {
  const store = new MemoryStore();
  for (const id of ["done", "retry", "refused", "offline"]) await store.putEntry({ id, attempts: 0 });
  const outcomes = {
    done: Outcome.DONE,
    retry: Outcome.RETRY,
    refused: Outcome.REFUSED,
    offline: new TypeError("Failed to fetch"),
  };
  const { instance, settled, delays } = sender(store, (entry) => outcomes[entry.id]);

  assert.equal(await instance.flush(), 2);

  assert.deepEqual(await store.entries(), [
    { id: "retry", attempts: 1 },
    { id: "offline", attempts: 1 },
  ]);
  assert.deepEqual(settled, [
    ["done", Outcome.DONE, { for: "done" }],
    ["refused", Outcome.REFUSED, { for: "refused" }],
  ]);
  assert.deepEqual(delays, [1000]);
});

test("an entry queued while settling another is sent in the same run", async () => {
  const store = new MemoryStore();
  await store.putEntry({ id: "checkin", attempts: 0 });
  const { instance, sent, delays } = sender(
    store,
    () => Outcome.DONE,
    async (entry) => {
      if (entry.id === "checkin") await store.putEntry({ id: "checkout", attempts: 0 });
    },
  );
  assert.equal(await instance.flush(), 0);
  assert.deepEqual(sent, ["checkin", "checkout"]);
  assert.deepEqual(delays, []);
});

test("retries back off 1 s, 3 s, 10 s, 30 s, then every 60 s, and start over after a success", async () => {
  const store = new MemoryStore();
  await store.putEntry({ id: "x", attempts: 0 });
  let online = false;
  const { instance, delays, settled } = sender(store, () => (online ? Outcome.DONE : Outcome.RETRY));
  for (let run = 0; run < 7; run++) await instance.flush();
  assert.deepEqual(delays, [1000, 3000, 10000, 30000, 60000, 60000, 60000]);
  assert.equal((await store.getEntry("x")).attempts, 7);

  online = true;
  await instance.flush();
  assert.deepEqual(settled.map(([id]) => id), ["x"]);
  assert.equal(instance.failures, 0);
  assert.deepEqual(await store.entries(), []);
  assert.deepEqual([0, 1, 2, 3, 4, 9].map(retryDelayMs), [1000, 3000, 10000, 30000, 60000, 60000]);
});

test("flushes while one runs share it: each entry is sent once", async () => {
  const store = new MemoryStore();
  await store.putEntry({ id: "x", attempts: 0 });
  const { instance, sent } = sender(store, () => Outcome.DONE);
  await Promise.all([instance.flush(), instance.flush(), instance.flush()]);
  assert.deepEqual(sent, ["x"]);
});

test("an entry another sender delivered meanwhile is not sent again", async () => {
  const store = new MemoryStore();
  await store.putEntry({ id: "x", attempts: 0 });
  await store.putEntry({ id: "y", attempts: 0 });
  const { instance, sent } = sender(store, (entry) => {
    if (entry.id === "x") store.outbox.delete("y"); // the worker took y
    return Outcome.DONE;
  });
  await instance.flush();
  assert.deepEqual(sent, ["x"]);
});

test("the page and the worker send one after another under one lock", async () => {
  const held = [];
  const locks = {
    queue: Promise.resolve(),
    request(name, work) {
      held.push(name);
      const run = this.queue.then(work);
      this.queue = run.catch(() => {});
      return run;
    },
  };
  const order = [];
  await Promise.all([
    exclusively(async () => order.push("page"), locks),
    exclusively(async () => order.push("worker"), locks),
  ]);
  assert.deepEqual(order, ["page", "worker"]);
  assert.deepEqual(held, ["gastregister-outbox", "gastregister-outbox"]);
  assert.equal(await exclusively(async () => 7, undefined), 7);
});

test("wakeOn flushes at once when the network is back or the page is shown again", () => {
  const { instance, delays } = sender(new MemoryStore(), () => Outcome.DONE);
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
