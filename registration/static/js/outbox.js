// The outbox: sealed check-ins (and check-outs) wait on the phone until the server
// has them.
//
// A guest whose phone has no network, or whose request meets a server error or a
// database outage (503), must not lose the check-in (docs/ARCHITECTURE.md, "The promise", 5). Every
// submission is written here *before* it is sent and removed only when the server
// answers with success or with a refusal that no retry can change. A retry sends
// the very same body: the same idempotency key and the original arrival time, so
// the server stores it exactly once. Only envelopes (ciphertext) are kept here,
// never the contact details themselves.

const STORAGE_KEY = "gastregister.outbox.v1";
const RETRY_DELAYS_MS = [1000, 3000, 10000, 30000, 60000];

/** Outcome of one attempt, decided by the caller's `send`. */
export const Outcome = Object.freeze({
  DONE: "done", // accepted: remove from the outbox
  RETRY: "retry", // network, 5xx, 429: keep and try again later
  REFUSED: "refused", // a 4xx no retry can fix: remove and tell the guest
});

export class Outbox {
  constructor(storage = window.localStorage, key = STORAGE_KEY) {
    this.storage = storage;
    this.key = key;
  }

  entries() {
    try {
      const parsed = JSON.parse(this.storage.getItem(this.key) || "[]");
      return Array.isArray(parsed) ? parsed : [];
    } catch {
      return [];
    }
  }

  save(entries) {
    this.storage.setItem(this.key, JSON.stringify(entries));
  }

  /** Add or replace the entry with this id. */
  put(entry) {
    const entries = this.entries().filter((other) => other.id !== entry.id);
    entries.push(entry);
    this.save(entries);
  }

  get(id) {
    return this.entries().find((entry) => entry.id === id) || null;
  }

  update(id, changes) {
    const entry = this.get(id);
    if (entry) this.put({ ...entry, ...changes });
  }

  remove(id) {
    this.save(this.entries().filter((entry) => entry.id !== id));
  }
}

/** How long to wait after the n-th failed run in a row (0-based): 1 s, 3 s, … 60 s. */
export function retryDelayMs(failures) {
  return RETRY_DELAYS_MS[Math.min(failures, RETRY_DELAYS_MS.length - 1)];
}

/**
 * Sends what waits in the outbox, now and again later (with back-off, and, once
 * wakeOn is called, when the network comes back or the page is shown again).
 * `send(entry)` returns {outcome, data}; `onSettled(entry, outcome, data)` learns
 * of DONE and REFUSED.
 */
export class OutboxSender {
  constructor(outbox, send, onSettled) {
    this.outbox = outbox;
    this.send = send;
    this.onSettled = onSettled;
    this.failures = 0;
    this.timer = null;
    this.running = null;
  }

  /** Try again at once when the network comes back or the page is shown again. */
  wakeOn(win, doc) {
    win.addEventListener("online", () => this.flushSoon(0));
    doc.addEventListener("visibilitychange", () => {
      if (doc.visibilityState === "visible") this.flushSoon(0);
    });
  }

  /** Try every waiting entry once; resolves when done (concurrent calls share one run). */
  flush() {
    if (!this.running) {
      this.running = this.run().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  async run() {
    let waiting = false;
    for (const entry of this.outbox.entries()) {
      let result;
      try {
        result = await this.send(entry);
      } catch {
        result = { outcome: Outcome.RETRY };
      }
      if (result.outcome === Outcome.RETRY) {
        waiting = true;
        this.outbox.update(entry.id, { attempts: (entry.attempts || 0) + 1 });
        continue;
      }
      this.outbox.remove(entry.id);
      this.onSettled(entry, result.outcome, result.data);
    }
    if (waiting || this.outbox.entries().length) {
      const delay = retryDelayMs(this.failures);
      this.failures += 1;
      this.flushSoon(delay);
    } else {
      this.failures = 0;
    }
  }

  flushSoon(delayMs) {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, delayMs);
  }
}
