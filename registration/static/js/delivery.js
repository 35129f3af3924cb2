// Delivering the outbox (outbox.js) to the check-in API, shared by the guest page
// (checkin.js) and the service worker (service-worker.js), which sends after the tab
// is closed. No DOM and no texts here: what the guest reads comes from the page.
//
// Every request has a deadline: a server that accepts the connection and never
// answers must not leave the guest looking at a spinner; the entry then waits in the
// outbox like any other failed attempt.

import { Outcome } from "./outbox.js";

export const REQUEST_TIMEOUT_MS = 8000;
export const SYNC_TAG = "gastregister-outbox";
const CHANNEL = "gastregister-visits";
// A check-in names its area here as well as in its body: the reverse proxy, which
// cannot read the body, counts check-ins per area by it (deploy/nginx), and the app
// need not (registration/checkin/web.py, area_counted_by_proxy).
export const AREA_HEADER = "X-Gastregister-Area";

/** POST `body` as JSON; resolves to {ok, status, data}, rejects on network errors and after `timeoutMs`. */
export async function postJson(url, body, { timeoutMs = REQUEST_TIMEOUT_MS, fetchImpl = globalThis.fetch } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (typeof body?.areaCode === "string") headers[AREA_HEADER] = body.areaCode;
  try {
    const response = await fetchImpl(url, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
      signal: controller.signal,
    });
    let data = {};
    try {
      data = await response.json();
    } catch (error) {
      if (controller.signal.aborted) throw error;
    }
    return { ok: response.ok, status: response.status, data };
  } finally {
    clearTimeout(timer);
  }
}

/** Worth another try later: the server was away, busy or limiting us. */
export function retryable(status) {
  return status >= 500 || status === 429 || status === 408;
}

/** What a refusal says, kept on the visit for the page to show. */
export function refusalOf(status, data) {
  const error = (data && data.error) || {};
  return {
    status,
    code: typeof error.code === "string" ? error.code : "",
    message: typeof error.message === "string" ? error.message : "",
  };
}

/** One attempt for one outbox entry. */
export async function sendEntry(entry, options = {}) {
  const answer = await postJson(entry.url, entry.body, options);
  if (answer.ok) return { outcome: Outcome.DONE, data: answer.data };
  if (retryable(answer.status)) return { outcome: Outcome.RETRY };
  return { outcome: Outcome.REFUSED, data: refusalOf(answer.status, answer.data) };
}

/** The outbox entry that checks `visit` (already stored on the server) out at `departure`. */
export function checkoutEntry(visit, departure) {
  return {
    id: "checkout:" + visit.id,
    kind: "checkout",
    visitKey: visit.idempotencyKey,
    url: `${visit.apiBase}/${encodeURIComponent(visit.id)}/checkout`,
    body: { checkoutToken: visit.token, departure },
    attempts: 0,
  };
}

/** Record on the visit what the server said about an entry (before it leaves the outbox). */
export async function settle(store, entry, outcome, data) {
  const visit = await store.getVisit(entry.visitKey);
  if (!visit) return;
  if (entry.kind === "checkin") {
    if (outcome !== Outcome.DONE) {
      await store.putVisit({ ...visit, status: "refused", refusal: data });
      return;
    }
    const stored = {
      ...visit,
      id: data.id,
      token: data.checkoutToken,
      arrival: data.arrival,
      autoDeparture: data.autoDeparture,
      persons: data.persons,
      status: entry.checkoutAt ? "checkoutQueued" : "sent",
    };
    await store.putVisit(stored);
    if (entry.checkoutAt) await store.putEntry(checkoutEntry(stored, entry.checkoutAt));
    return;
  }
  if (outcome === Outcome.DONE) {
    await store.putVisit({ ...visit, status: "checkedOut", departure: data.departure, refusal: undefined });
  } else if (data.status === 404) {
    // The server no longer knows the visit: it is over either way.
    await store.putVisit({ ...visit, status: "checkedOut", departure: entry.body.departure });
  } else {
    await store.putVisit({ ...visit, status: "sent", refusal: data });
  }
}

/** Tell open pages that visits changed (the worker delivered something). */
export function announceChange() {
  if (typeof BroadcastChannel === "undefined") return;
  const channel = new BroadcastChannel(CHANNEL);
  channel.postMessage("changed");
  channel.close();
}

/** Call `listener` whenever another page or the worker changed the visits. */
export function onChange(listener) {
  if (typeof BroadcastChannel === "undefined") return;
  new BroadcastChannel(CHANNEL).addEventListener("message", listener);
}
