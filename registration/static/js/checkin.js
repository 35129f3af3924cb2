// The guest check-in page: validate, seal on the phone, send, confirm, check out.
//
// The contact record is sealed here to the health office's public key
// (envelope.js); only the envelope and the counting metadata go to the server.
// Every submission passes through the outbox (outbox.js) so that nothing is lost
// when the network or the server is away. The check-out token, which only this
// phone holds, is kept in localStorage with the visit, so the confirmation
// survives a reload and a closed tab.

import {
  clearErrors,
  contactRecord,
  enhancePersons,
  fillContactForm,
  readContactForm,
  showErrors,
  showFormMessage,
  validateContactForm,
} from "./contact-form.js";
import { MemoryStore, OutboxSender, Outcome, PhoneStore } from "./outbox.js";
import { checkoutEntry, onChange, postJson, refusalOf, retryable, sendEntry, settle, SYNC_TAG } from "./delivery.js";

const LEGACY_VISITS_KEY = "gastregister.visits.v1";
const LEGACY_OUTBOX_KEY = "gastregister.outbox.v1";
const CONTACT_KEY = "gastregister.contact.v1";
const DAY_MS = 24 * 3600 * 1000;
// Sealing is needed only when the guest taps "Check in": its five modules are asked
// for once the page's own have run, not beside them, so on a slow line (where a
// browser opens six connections at most) the form is ready one round trip sooner
// (bench/guest_page_bench.py).
const SEALING_MODULE = "./envelope.js";
let sealing = null;

class NotLoadedError extends Error {}

function sealingModule() {
  if (!sealing) {
    sealing = import(SEALING_MODULE).catch((error) => {
      sealing = null; // try again on the next tap
      throw new NotLoadedError(String(error));
    });
  }
  return sealing;
}
const MY_VISITS_SHOWN = 10;
// Visits with something still to send are never dropped or cleared.
const PENDING = ["sending", "queued", "checkoutQueued"];

document.documentElement.classList.add("js");

const config = JSON.parse(document.getElementById("checkin-config").textContent);
const { rules, texts } = config;
const timeoutMs = config.requestTimeoutSeconds * 1000;
const form = document.getElementById("checkin-form");
const checkinArea = document.getElementById("checkin-area");
const confirmation = document.getElementById("confirmation");
const statusLine = document.getElementById("confirmation-status");
const submitButton = document.getElementById("submit-checkin");
const checkoutButton = document.getElementById("checkout-button");
const rememberBox = document.getElementById("remember");
const rememberedNote = document.getElementById("remembered-note");
const persons = enhancePersons(form, document.getElementById("person-template"), rules, texts);
const store = "indexedDB" in window ? new PhoneStore() : new MemoryStore();
let shownVisit = null;
// Set once the service worker is ready: Background Sync can deliver after the tab is closed.
let background = null;

// --- stored visits (this phone's check-ins and their tokens) -----------------

/**
 * This phone's visits, oldest first; those older than the retention period are dropped,
 * unless still waiting or refused: a refusal stays until the guest dismisses it, also
 * one for a check-in the server refused because it waited here too long.
 */
async function loadVisits() {
  const cutoff = Date.now() - config.retentionDays * DAY_MS;
  const visits = [];
  for (const visit of await store.visits()) {
    const kept = Date.parse(visit.arrival) > cutoff || PENDING.includes(visit.status) || visit.refusal;
    if (kept) visits.push(visit);
    else await store.removeVisit(visit.idempotencyKey);
  }
  return visits.sort((a, b) => Date.parse(a.arrival) - Date.parse(b.arrival));
}

async function saveVisit(visit) {
  await store.putVisit(visit);
  if (shownVisit && shownVisit.idempotencyKey === visit.idempotencyKey) showConfirmation(visit);
}

/**
 * The visit this page shows instead of the form: the latest still open at this area.
 * One whose check-out waits to be sent is over for the guest (they left, or moved to
 * another table): back here they get the form, with their remembered details.
 */
async function openVisitHere() {
  const now = Date.now();
  const open = (await loadVisits()).filter((visit) => visit.areaCode === config.areaCode && isOpen(visit, now));
  return open.length ? open[open.length - 1] : null;
}

/** Check-ins saved by an earlier version of this page in localStorage move to IndexedDB. */
async function adoptLegacyStorage() {
  const read = (key) => {
    try {
      const parsed = JSON.parse(localStorage.getItem(key) || "[]");
      return Array.isArray(parsed) ? parsed : [];
    } catch {
      return [];
    }
  };
  const visits = read(LEGACY_VISITS_KEY);
  for (const visit of visits) await store.putVisit({ apiBase: config.apiBase, ...visit });
  for (const entry of read(LEGACY_OUTBOX_KEY)) {
    if (entry.kind === "checkin") {
      await store.putEntry({ ...entry, url: config.apiBase, visitKey: entry.body.idempotencyKey });
    } else {
      const visit = visits.find((v) => v.id === entry.checkinId);
      if (visit) await store.putEntry(checkoutEntry({ apiBase: config.apiBase, ...visit }, entry.departure));
    }
  }
  localStorage.removeItem(LEGACY_VISITS_KEY);
  localStorage.removeItem(LEGACY_OUTBOX_KEY);
}

// --- showing the confirmation -------------------------------------------------

// The page's language with a 24-hour clock in every language (English as en-GB:
// 26/11/2026, 14:05, never 2:05 PM), as the server writes its dates.
const timeFormat = new Intl.DateTimeFormat(config.dateLocale || "de", {
  timeZone: "Europe/Berlin",
  dateStyle: "short",
  timeStyle: "short",
  hourCycle: "h23",
});

function out(name, text) {
  confirmation.querySelector(`[data-out="${name}"]`).textContent = text;
}

/** Why the server refused an entry for good, in the guest's words. */
function refusalText(refusal) {
  if (refusal.code === "stale_key") return texts.staleKeyRefused;
  if (refusal.code === "too_many_requests") return texts.tooMany;
  return refusal.message || texts.failed;
}

function statusText(visit) {
  if (visit.status === "queued") return background ? texts.queuedBackground : texts.queuedReopen;
  if (visit.status === "checkoutQueued") return background ? texts.checkoutQueuedBackground : texts.checkoutQueuedReopen;
  if (visit.refusal) return `${texts.notDelivered}: ${refusalText(visit.refusal)}`;
  return texts[visit.status] || "";
}

function showConfirmation(visit, { focus = false } = {}) {
  shownVisit = visit;
  const checkedOut = visit.status === "checkedOut";
  out("title", checkedOut ? texts.checkedOutTitle : texts.checkedInTitle);
  out("location", visit.locationName);
  out("area", visit.areaName);
  out("arrival", timeFormat.format(new Date(visit.arrival)));
  out("persons", String(visit.persons));
  confirmation.querySelector('[data-out-label="departure"]').textContent = visit.departure
    ? texts.departureLabel
    : texts.autoDepartureLabel;
  out("departure", timeFormat.format(new Date(visit.departure || visit.autoDeparture)));
  statusLine.textContent = statusText(visit);
  statusLine.classList.toggle("queued", visit.status === "queued" || visit.status === "checkoutQueued");
  checkoutButton.hidden = checkedOut || visit.status === "checkoutQueued";
  checkinArea.hidden = true;
  confirmation.hidden = false;
  if (focus) confirmation.focus();
}

// --- refusals: listed until the guest dismisses them ------------------------------

const undelivered = document.getElementById("undelivered");

function visitPlace(visit) {
  return `${visit.locationName}, ${visit.areaName}, ${timeFormat.format(new Date(visit.arrival))}`;
}

async function dismissRefusal(key) {
  const visit = await store.getVisit(key);
  if (visit && visit.status === "refused") await store.removeVisit(key);
  else if (visit) await store.putVisit({ ...visit, refusal: undefined });
  await refresh();
  const next = undelivered.querySelector("button");
  (next || (undelivered.hidden ? document.getElementById("main") : undelivered)).focus();
}

function renderUndelivered(visits) {
  const refused = visits.filter((visit) => visit.refusal);
  const items = refused.map((visit) => {
    const item = document.createElement("li");
    const what = document.createElement("p");
    const kind = visit.status === "refused" ? texts.checkinNotDelivered : texts.checkoutNotDelivered;
    what.textContent = `${kind} ${visitPlace(visit)}. ${refusalText(visit.refusal)}`;
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "secondary";
    dismiss.textContent = texts.dismiss;
    dismiss.setAttribute("aria-label", `${texts.dismiss}: ${visitPlace(visit)}`);
    dismiss.addEventListener("click", () => dismissRefusal(visit.idempotencyKey));
    item.append(what, dismiss);
    return item;
  });
  document.getElementById("undelivered-list").replaceChildren(...items);
  undelivered.hidden = items.length === 0;
}

// --- my visits: what this phone holds, nothing from the server ---------------------

const myVisits = document.getElementById("my-visits");
const clockFormat = new Intl.DateTimeFormat(config.dateLocale || "de", {
  timeZone: "Europe/Berlin",
  timeStyle: "short",
  hourCycle: "h23",
});

function visitTimes(visit) {
  const arrival = timeFormat.format(new Date(visit.arrival));
  if (visit.departure) return `${arrival} – ${clockFormat.format(new Date(visit.departure))}`;
  return `${arrival} – ${clockFormat.format(new Date(visit.autoDeparture))} ${texts.automatic}`;
}

function visitState(visit) {
  if (visit.refusal && visit.status === "refused") return texts.notDelivered;
  if (visit.status === "checkedOut" || Date.parse(visit.autoDeparture) <= Date.now()) return texts.over;
  if (PENDING.includes(visit.status)) return texts.waiting;
  return texts.open;
}

function renderMyVisits(visits) {
  const now = Date.now();
  const items = visits
    .slice(-MY_VISITS_SHOWN)
    .reverse()
    .map((visit) => {
      const item = document.createElement("li");
      const place = document.createElement("p");
      const name = document.createElement("strong");
      name.textContent = visit.locationName;
      place.append(name, ` · ${visit.areaName}`);
      const times = document.createElement("p");
      times.textContent = `${visitTimes(visit)} · ${visitState(visit)}`;
      item.append(place, times);
      if (visit.status === "sent" && Date.parse(visit.autoDeparture) > now) {
        const leave = document.createElement("button");
        leave.type = "button";
        leave.className = "secondary";
        leave.textContent = texts.checkOut;
        leave.setAttribute("aria-label", `${texts.checkOut}: ${visit.locationName}, ${visit.areaName}`);
        leave.addEventListener("click", () => checkOut(visit.idempotencyKey, { from: leave }));
        item.append(leave);
      }
      return item;
    });
  document.getElementById("my-visits-list").replaceChildren(...items);
  myVisits.hidden = items.length === 0;
}

document.getElementById("clear-visits").addEventListener("click", async () => {
  for (const visit of await store.visits()) {
    if (!PENDING.includes(visit.status)) await store.removeVisit(visit.idempotencyKey);
  }
  await refresh();
  document.getElementById("visits-announcer").textContent = texts.visitsCleared;
  (myVisits.hidden ? document.getElementById("main") : myVisits).focus();
});

/** Show the stored state again (the worker, the sender or another tab changed it). */
async function refresh() {
  const visits = await loadVisits();
  renderUndelivered(visits);
  renderMyVisits(visits);
  if (!shownVisit) return;
  const visit = visits.find((v) => v.idempotencyKey === shownVisit.idempotencyKey);
  if (visit) showConfirmation(visit);
}

/**
 * The form again: for this phone's own guest ("self", filled with the remembered
 * details) or, after "Check in another person", for someone else (empty: the
 * remembered details are not theirs, and are neither shown nor changed).
 */
function showForm({ forSomeoneElse = false } = {}) {
  shownVisit = null;
  confirmation.hidden = true;
  checkinArea.hidden = false;
  resetForm({ forSomeoneElse });
  form.querySelector("#firstName").focus();
}

// --- remembered details ---------------------------------------------------------

let formForSomeoneElse = false;
const companionOffers = document.getElementById("companion-offers");
const yourDetails = document.getElementById("your-details");
const editDetails = document.getElementById("edit-details");

function rememberedRecord() {
  try {
    return JSON.parse(localStorage.getItem(CONTACT_KEY) || "null");
  } catch {
    return null;
  }
}

function companionName(person) {
  return `${person.firstName} ${person.lastName}`.trim();
}

/** Last time's companions, offered one tap each, never checked in again unasked. */
function offerCompanions(companions) {
  const items = companions.map((person) => {
    const item = document.createElement("li");
    const add = document.createElement("button");
    add.type = "button";
    add.className = "secondary";
    add.textContent = texts.addCompanion.replace("%(name)s", companionName(person));
    add.addEventListener("click", () => {
      const fieldset = persons.add(companionValues(person), person.sameAddress !== false);
      item.remove();
      companionOffers.hidden = !companionOffers.querySelector("li");
      if (fieldset) {
        document.getElementById("person-announcer").textContent = texts.companionAdded.replace(
          "%(name)s",
          companionName(person),
        );
        fieldset.querySelector("input").focus();
      }
    });
    item.append(add);
    return item;
  });
  document.getElementById("companion-list").replaceChildren(...items);
  companionOffers.hidden = items.length === 0;
}

function companionValues(person) {
  return {
    firstName: person.firstName,
    lastName: person.lastName,
    streetAddress: [person.street, person.houseNumber].filter(Boolean).join(" "),
    zipCode: person.zipCode,
    city: person.city,
    phone: person.phone,
    email: person.email,
  };
}

function resetForm({ forSomeoneElse = false } = {}) {
  formForSomeoneElse = forSomeoneElse;
  form.reset();
  persons.clear();
  clearErrors(form);
  const record = forSomeoneElse ? null : rememberedRecord();
  rememberedNote.hidden = !record;
  rememberBox.checked = Boolean(record);
  offerCompanions(record ? record.additionalPersons || [] : []);
  if (record) fillContactForm(form, { ...record, additionalPersons: [] }, persons);
  // A returning guest sees a summary, so the button is on the first screen.
  document.getElementById("remembered-summary").textContent = record ? recordSummary(record) : "";
  yourDetails.hidden = Boolean(record);
  editDetails.hidden = !record;
  // Remembering goes on (forgetting is one tap away); the companions' hint is known.
  document.getElementById("remember-row").hidden = Boolean(record);
  document.getElementById("persons-hint").hidden = Boolean(record);
}

function recordSummary(record) {
  const name = `${record.firstName} ${record.lastName}`;
  const street = [record.street, record.houseNumber].filter(Boolean).join(" ");
  return [name, street, record.city].filter((part) => part && part.trim()).join(", ");
}

function showDetails() {
  yourDetails.hidden = false;
  editDetails.hidden = true;
  document.getElementById("remember-row").hidden = false;
  document.getElementById("persons-hint").hidden = false;
}

editDetails.addEventListener("click", () => {
  showDetails();
  form.querySelector("#firstName").focus();
});

document.getElementById("forget-details").addEventListener("click", () => {
  localStorage.removeItem(CONTACT_KEY);
  form.reset();
  persons.clear();
  rememberBox.checked = false;
  rememberedNote.hidden = true;
  showDetails();
  offerCompanions([]);
  document.getElementById("person-announcer").textContent = texts.forgotten;
  form.querySelector("#firstName").focus();
});

// --- switching the language -------------------------------------------------------

// The language switch loads the page again in the other language. What the guest has
// typed so far waits in this tab's sessionStorage (on the phone, never sent) and is
// filled in again on the next load of this area's page, then removed at once.
const DRAFT_KEY = "gastregister.draft.v1";

function saveDraft() {
  const { main, persons: companions } = readContactForm(form);
  const typed = [main, ...companions.map((person) => person.values)].some((values) =>
    Object.values(values).some(Boolean),
  );
  if (!typed || !confirmation.hidden) return;
  const draft = {
    areaCode: config.areaCode,
    main,
    persons: companions.map((person) => ({ values: person.values, sameAddress: person.sameAddress })),
    remember: rememberBox.checked,
    forSomeoneElse: formForSomeoneElse,
  };
  try {
    sessionStorage.setItem(DRAFT_KEY, JSON.stringify(draft));
  } catch {
    // Storage full or forbidden: the switch still works, the guest types again.
  }
}

function takeDraft() {
  try {
    const draft = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "null");
    sessionStorage.removeItem(DRAFT_KEY);
    return draft && draft.areaCode === config.areaCode ? draft : null;
  } catch {
    return null;
  }
}

function restoreDraft(draft) {
  if (draft.forSomeoneElse) resetForm({ forSomeoneElse: true });
  for (const [name, value] of Object.entries(draft.main || {})) {
    const field = form.querySelector(`#${name}`);
    if (field && typeof value === "string") field.value = value;
  }
  persons.clear();
  for (const person of draft.persons || []) persons.add(person.values, person.sameAddress !== false);
  rememberBox.checked = Boolean(draft.remember);
  showDetails();
}

for (const link of document.querySelectorAll("nav.lang-switch a")) link.addEventListener("click", saveDraft);

// --- sending --------------------------------------------------------------------

const sender = new OutboxSender(
  store,
  (entry) => sendEntry(entry, { timeoutMs }),
  async (entry, outcome, data) => {
    await settle(store, entry, outcome, data);
    await refresh();
  },
);
sender.wakeOn(window, document);
onChange(refresh);

/** Register the service worker; Background Sync, where the browser has it, delivers without the page. */
async function startServiceWorker() {
  if (!("serviceWorker" in navigator) || !config.serviceWorker) return;
  try {
    const registration = await navigator.serviceWorker.register(config.serviceWorker, { type: "module", scope: "/" });
    const ready = await navigator.serviceWorker.ready;
    background = "sync" in ready ? ready : null;
    await registration.update().catch(() => {});
  } catch {
    background = null; // delivered by this page and on the next visit
  }
  await refresh();
}

/** Ask the browser to wake the worker when the network is back (even with the tab closed). */
async function deliverLater() {
  if (!background) return;
  try {
    await background.sync.register(SYNC_TAG);
  } catch {
    // Not permitted here: the page and the next visit deliver.
  }
}

async function sealedBody(record, key, idempotencyKey, arrival, count) {
  const { importRecipientPublicKey, sealContactRecord } = await sealingModule();
  const recipient = await importRecipientPublicKey(key.publicKey);
  // Format v2: the arrival and idempotency key sent below are sealed with the record,
  // so the health office can tell if the stored copies were changed.
  const envelope = await sealContactRecord(recipient, record, {
    locationCode: config.locationCode,
    areaCode: config.areaCode,
    visit: { arrival, idempotencyKey, source: "guest_page" },
  });
  const body = { areaCode: config.areaCode, idempotencyKey, envelope, persons: count, arrival };
  if (config.admission) body.admission = config.admission;
  return body;
}

async function checkIn(record) {
  const idempotencyKey = crypto.randomUUID();
  // Whole seconds: the form in which it is sealed, stored and exported.
  const arrival = `${new Date().toISOString().slice(0, 19)}Z`;
  const count = 1 + record.additionalPersons.length;
  let key = config.key;
  let body = await sealedBody(record, key, idempotencyKey, arrival, count);
  const entry = {
    id: "checkin:" + idempotencyKey,
    kind: "checkin",
    visitKey: idempotencyKey,
    url: config.apiBase,
    body,
    checkoutAt: null,
    attempts: 0,
  };
  const visit = {
    idempotencyKey,
    apiBase: config.apiBase,
    areaCode: config.areaCode,
    pageUrl: location.pathname,
    locationName: config.locationName,
    areaName: config.areaName,
    arrival,
    autoDeparture: new Date(Date.parse(arrival) + config.defaultStayMinutes * 60000).toISOString(),
    persons: count,
    status: "sending",
  };
  // The visit first, then the entry: whoever delivers the entry finds its visit.
  await store.putVisit(visit);
  await store.putEntry(entry);
  await leaveOtherAreas(arrival);
  for (let attempt = 0; attempt < 3; attempt += 1) {
    let answer;
    try {
      answer = await postJson(config.apiBase, body, { timeoutMs });
    } catch {
      break;
    }
    if (!(await store.getEntry(entry.id))) return { visitKey: idempotencyKey }; // the worker sent it
    if (answer.ok) {
      await settle(store, entry, Outcome.DONE, answer.data);
      await store.removeEntry(entry.id);
      return { visitKey: idempotencyKey };
    }
    if (retryable(answer.status)) break;
    const refusal = refusalOf(answer.status, answer.data);
    if (refusal.code === "stale_key" && answer.data.error.currentKey) {
      // The office changed its key since the page loaded: seal again and resend.
      key = answer.data.error.currentKey;
      config.key = key;
      body = await sealedBody(record, key, idempotencyKey, arrival, count);
      entry.body = body;
      await store.putEntry(entry);
      continue;
    }
    await store.removeEntry(entry.id);
    await store.removeVisit(idempotencyKey);
    return { message: refusal.code === "too_many_requests" ? texts.tooMany : refusal.message || texts.failed };
  }
  const waiting = await store.getVisit(idempotencyKey);
  if (waiting && waiting.status === "sending") await store.putVisit({ ...waiting, status: "queued" });
  sender.flushSoon(1000);
  await deliverLater();
  return { visitKey: idempotencyKey };
}

/** Open visits elsewhere: not checked out, not refused, not yet over by themselves. */
function isOpen(visit, now) {
  return ["sending", "queued", "sent"].includes(visit.status) && Date.parse(visit.autoDeparture) > now;
}

/** Queue the check-out of `visit` at `departure` (with its check-in if that still waits). */
async function queueCheckout(visit, departure) {
  const waiting = !visit.id && (await store.getEntry("checkin:" + visit.idempotencyKey));
  if (waiting) {
    // Not yet sent: the check-out travels with the check-in.
    await store.putEntry({ ...waiting, checkoutAt: departure });
  } else if (visit.id) {
    await store.putEntry(checkoutEntry(visit, departure));
  }
  await saveVisit({ ...visit, status: "checkoutQueued", refusal: undefined });
}

/**
 * A guest is at one table at a time: arriving here ends the visits this phone has
 * open at other areas, at this arrival (else live counts would hold them twice).
 * Visits at this area stay: they are other persons checked in from this phone.
 */
async function leaveOtherAreas(arrival) {
  const now = Date.parse(arrival);
  for (const visit of await loadVisits()) {
    if (visit.areaCode !== config.areaCode && isOpen(visit, now)) await queueCheckout(visit, arrival);
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const values = readContactForm(form);
  const errors = validateContactForm(values, rules);
  if (errors.length) {
    showDetails(); // the summary hid the fields the errors point at
    showErrors(form, errors, rules);
    return;
  }
  clearErrors(form);
  const record = contactRecord(values, rules);
  if (rememberBox.checked) localStorage.setItem(CONTACT_KEY, JSON.stringify(record));
  else if (!formForSomeoneElse) localStorage.removeItem(CONTACT_KEY);
  submitButton.disabled = true;
  submitButton.setAttribute("aria-busy", "true");
  try {
    const result = await checkIn(record);
    if (result.visitKey) {
      form.reset();
      persons.clear();
      showConfirmation(await store.getVisit(result.visitKey), { focus: true });
      // Check-outs of visits elsewhere (leaveOtherAreas) go now too.
      if (await sender.flush()) await deliverLater();
    } else {
      showFormMessage(form, result.message);
    }
  } catch (error) {
    // Nothing was kept yet: the typed details stay in the form for the next tap.
    showFormMessage(form, error instanceof NotLoadedError ? texts.notLoaded : texts.failed);
  } finally {
    submitButton.disabled = false;
    submitButton.removeAttribute("aria-busy");
  }
});

// --- checking out ---------------------------------------------------------------

/** Check a visit out now (the confirmation's button or one in "my visits"). */
async function checkOut(visitKey, { from }) {
  const visit = await store.getVisit(visitKey);
  if (!visit) return;
  from.disabled = true;
  await queueCheckout(visit, new Date().toISOString());
  await refresh();
  from.disabled = false;
  // The button is gone now: the focus goes to the result, not to <body>.
  (from === checkoutButton ? confirmation : myVisits).focus();
  if (await sender.flush()) await deliverLater();
}

checkoutButton.addEventListener("click", () => {
  if (shownVisit) checkOut(shownVisit.idempotencyKey, { from: checkoutButton });
});

document.getElementById("another-checkin").addEventListener("click", () => showForm({ forSomeoneElse: true }));

// --- start ------------------------------------------------------------------------

async function start() {
  sealingModule().catch(() => {});
  resetForm();
  const draft = takeDraft();
  if (draft) restoreDraft(draft);
  await adoptLegacyStorage();
  const open = await openVisitHere();
  if (open) showConfirmation(open);
  await refresh();
  startServiceWorker();
  if (await sender.flush()) await deliverLater();
}

start();
