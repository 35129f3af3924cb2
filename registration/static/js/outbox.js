// The outbox: sealed check-ins (and check-outs) wait on the phone until the server
// has them, and the visits they belong to (with the check-out token only this phone
// holds).
//
// A guest whose phone has no network, or whose request meets a server error or a
// database outage (503), must not lose the check-in (docs/ARCHITECTURE.md, "The
// promise", 5). Every submission is written here *before* it is sent and removed only
// when the server answers with success or with a refusal that no retry can change; a
// refusal stays on the visit, shown to the guest until dismissed. A retry sends the
// very same body: the same idempotency key and the original arrival time, so the
// server stores it exactly once. Only envelopes (ciphertext) are kept here, never the
// contact details themselves.
//
// Both live in IndexedDB, which the page and the service worker (service-worker.js)
// share: the worker delivers after the tab is closed. Sending runs under one Web Lock
// per origin, so the page and the worker never send the same entry side by side.

const DATABASE = "gastregister";
const DATABASE_VERSION = 1;
const OUTBOX = "outbox";
const VISITS = "visits";
const LOCK = "gastregister-outbox";
const RETRY_DELAYS_MS = [1000, 3000, 10000, 30000, 60000];

/** Outcome of one attempt, decided by the caller's `send`. */
export const Outcome = Object.freeze({
  DONE: "done", // accepted: remove from the outbox
  RETRY: "retry", // network, timeout, 5xx, 429: keep and try again later
  REFUSED: "refused", // a 4xx no retry can fix: remove, keep the reason on the visit
});

function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** The outbox and the visits in IndexedDB (one database per origin). */
export class PhoneStore {
  constructor(idb = globalThis.indexedDB) {
    this.idb = idb;
    this.opening = null;
  }

  open() {
    if (!this.opening) {
      const request = this.idb.open(DATABASE, DATABASE_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(OUTBOX)) db.createObjectStore(OUTBOX, { keyPath: "id" });
        if (!db.objectStoreNames.contains(VISITS)) db.createObjectStore(VISITS, { keyPath: "idempotencyKey" });
      };
      this.opening = promised(request);
    }
    return this.opening;
  }

  async run(name, mode, work) {
    const db = await this.open();
    const transaction = db.transaction(name, mode);
    const result = await promised(work(transaction.objectStore(name)));
    await new Promise((resolve, reject) => {
      transaction.oncomplete = resolve;
      transaction.onerror = () => reject(transaction.error);
      transaction.onabort = () => reject(transaction.error);
    });
    return result;
  }

  entries() {
    return this.run(OUTBOX, "readonly", (store) => store.getAll());
  }
  getEntry(id) {
    return this.run(OUTBOX, "readonly", (store) => store.get(id)).then((found) => found || null);
  }
  putEntry(entry) {
    return this.run(OUTBOX, "readwrite", (store) => store.put(entry));
  }
  removeEntry(id) {
    return this.run(OUTBOX, "readwrite", (store) => store.delete(id));
  }
  visits() {
    return this.run(VISITS, "readonly", (store) => store.getAll());
  }
  getVisit(key) {
    return this.run(VISITS, "readonly", (store) => store.get(key)).then((found) => found || null);
  }
  putVisit(visit) {
    return this.run(VISITS, "readwrite", (store) => store.put(visit));
  }
  removeVisit(key) {
    return this.run(VISITS, "readwrite", (store) => store.delete(key));
  }
}

/** PhoneStore's interface over Maps (tests, and a browser without IndexedDB). */
export class MemoryStore {
  constructor() {
    this.outbox = new Map();
    this.visitMap = new Map();
  }
  async entries() {
    return [...this.outbox.values()].map((entry) => structuredClone(entry));
  }
  async getEntry(id) {
    return this.outbox.has(id) ? structuredClone(this.outbox.get(id)) : null;
  }
  async putEntry(entry) {
    this.outbox.delete(entry.id);
    this.outbox.set(entry.id, structuredClone(entry));
  }
  async removeEntry(id) {
    this.outbox.delete(id);
  }
  async visits() {
    return [...this.visitMap.values()].map((visit) => structuredClone(visit));
  }
  async getVisit(key) {
    return this.visitMap.has(key) ? structuredClone(this.visitMap.get(key)) : null;
  }
  async putVisit(visit) {
    this.visitMap.set(visit.idempotencyKey, structuredClone(visit));
  }
  async removeVisit(key) {
    this.visitMap.delete(key);
  }
}

/** Run `work` while no other page or worker of this origin sends (Web Locks where present). */
export function exclusively(work, locks) {
  return locks ? locks.request(LOCK, work) : work();
}

/** How long to wait after the n-th failed run in a row (0-based): 1 s, 3 s, … 60 s. */
export function retryDelayMs(failures) {
  return RETRY_DELAYS_MS[Math.min(failures, RETRY_DELAYS_MS.length - 1)];
}

/**
 * Sends what waits in the outbox, now and again later (with back-off, and, once
 * wakeOn is called, when the network comes back or the page is shown again).
 * `send(entry)` returns {outcome, data}; `onSettled(entry, outcome, data)` learns
 * of DONE and REFUSED before the entry leaves the outbox.
 */
export class OutboxSender {
  constructor(store, send, onSettled, { locks = globalThis.navigator?.locks } = {}) {
    this.store = store;
    this.send = send;
    this.onSettled = onSettled;
    this.locks = locks;
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

  /** Try every waiting entry once; resolves to the number still waiting (concurrent calls share one run). */
  flush() {
    if (!this.running) {
      this.running = this.runOnce().finally(() => {
        this.running = null;
      });
    }
    return this.running;
  }

  /** One pass without scheduling the next (the service worker's way). */
  deliver() {
    return exclusively(() => this.pass(), this.locks);
  }

  async pass() {
    let waiting = 0;
    const tried = new Set();
    for (;;) {
      // Read again each time: a settled check-in may have queued its check-out, and
      // another page or the worker may have sent an entry meanwhile.
      const entry = (await this.store.entries()).find((candidate) => !tried.has(candidate.id));
      if (!entry) return waiting;
      tried.add(entry.id);
      let result;
      try {
        result = await this.send(entry);
      } catch {
        result = { outcome: Outcome.RETRY };
      }
      if (result.outcome === Outcome.RETRY) {
        waiting += 1;
        await this.store.putEntry({ ...entry, attempts: (entry.attempts || 0) + 1 });
        continue;
      }
      await this.onSettled(entry, result.outcome, result.data);
      await this.store.removeEntry(entry.id);
    }
  }

  async runOnce() {
    const waiting = await this.deliver();
    if (waiting) {
      const delay = retryDelayMs(this.failures);
      this.failures += 1;
      this.flushSoon(delay);
    } else {
      this.failures = 0;
    }
    return waiting;
  }

  flushSoon(delayMs) {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, delayMs);
  }
}
