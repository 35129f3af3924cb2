// The guest check-in page: validate, seal on the phone, send, confirm, check out.
//
// The contact record is sealed here to the health office's public key
// (envelope.js); only the envelope and the counting metadata go to the server.
// Every submission passes through the outbox (outbox.js) so that nothing is lost
// when the network or the server is away. The check-out token, which only this
// phone holds, is kept in localStorage with the visit, so the confirmation
// survives a reload and a closed tab.

import { importRecipientPublicKey, sealContactRecord } from "./envelope.js";
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
import { Outbox, OutboxSender, Outcome } from "./outbox.js";

const VISITS_KEY = "gastregister.visits.v1";
const CONTACT_KEY = "gastregister.contact.v1";
const VISIT_MEMORY_MS = 2 * 24 * 3600 * 1000;

document.documentElement.classList.add("js");

const config = JSON.parse(document.getElementById("checkin-config").textContent);
const { rules, texts } = config;
const form = document.getElementById("checkin-form");
const checkinArea = document.getElementById("checkin-area");
const confirmation = document.getElementById("confirmation");
const statusLine = document.getElementById("confirmation-status");
const submitButton = document.getElementById("submit-checkin");
const checkoutButton = document.getElementById("checkout-button");
const rememberBox = document.getElementById("remember");
const rememberedNote = document.getElementById("remembered-note");
const persons = enhancePersons(form, document.getElementById("person-template"), rules, texts);
const outbox = new Outbox();
let shownVisit = null;

// --- stored visits (this phone's check-ins and their tokens) -----------------

function loadVisits() {
  try {
    const visits = JSON.parse(localStorage.getItem(VISITS_KEY) || "[]");
    const cutoff = Date.now() - VISIT_MEMORY_MS;
    return Array.isArray(visits) ? visits.filter((visit) => Date.parse(visit.arrival) > cutoff) : [];
  } catch {
    return [];
  }
}

function saveVisit(visit) {
  const visits = loadVisits().filter((other) => other.idempotencyKey !== visit.idempotencyKey);
  visits.push(visit);
  localStorage.setItem(VISITS_KEY, JSON.stringify(visits));
  if (shownVisit && shownVisit.idempotencyKey === visit.idempotencyKey) showConfirmation(visit);
}

function findVisit(predicate) {
  return loadVisits().find(predicate) || null;
}

function openVisitHere() {
  const now = Date.now();
  const open = loadVisits().filter(
    (visit) =>
      visit.areaCode === config.areaCode &&
      !["checkedOut", "refused"].includes(visit.status) &&
      Date.parse(visit.autoDeparture) > now,
  );
  return open.length ? open[open.length - 1] : null;
}

// --- showing the confirmation -------------------------------------------------

const timeFormat = new Intl.DateTimeFormat(document.documentElement.lang || "de", {
  timeZone: "Europe/Berlin",
  dateStyle: "short",
  timeStyle: "short",
});

function out(name, text) {
  confirmation.querySelector(`[data-out="${name}"]`).textContent = text;
}

const STATUS_TEXT = {
  sending: "sending",
  queued: "queued",
  sent: "sent",
  checkoutQueued: "checkoutQueued",
  checkedOut: "checkedOut",
  refused: "failed",
};

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
  statusLine.textContent = texts[STATUS_TEXT[visit.status]] || "";
  statusLine.classList.toggle("queued", visit.status === "queued" || visit.status === "checkoutQueued");
  checkoutButton.hidden = checkedOut || visit.status === "checkoutQueued";
  checkinArea.hidden = true;
  confirmation.hidden = false;
  if (focus) confirmation.focus();
}

function showForm() {
  shownVisit = null;
  confirmation.hidden = true;
  checkinArea.hidden = false;
  resetForm();
  form.querySelector("#firstName").focus();
}

// --- remembered details ---------------------------------------------------------

function rememberedRecord() {
  try {
    return JSON.parse(localStorage.getItem(CONTACT_KEY) || "null");
  } catch {
    return null;
  }
}

function resetForm() {
  form.reset();
  persons.clear();
  clearErrors(form);
  const record = rememberedRecord();
  rememberedNote.hidden = !record;
  rememberBox.checked = Boolean(record);
  if (record) fillContactForm(form, record, persons);
}

document.getElementById("forget-details").addEventListener("click", () => {
  localStorage.removeItem(CONTACT_KEY);
  form.reset();
  persons.clear();
  rememberBox.checked = false;
  rememberedNote.hidden = true;
  document.getElementById("person-announcer").textContent = texts.forgotten;
  form.querySelector("#firstName").focus();
});

// --- sending --------------------------------------------------------------------

async function postJson(url, body) {
  return fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
}

async function errorOf(response) {
  try {
    return (await response.json()).error || {};
  } catch {
    return {};
  }
}

function retryable(status) {
  return status >= 500 || status === 429 || status === 408;
}

async function sendEntry(entry) {
  const url =
    entry.kind === "checkin" ? config.apiBase : `${config.apiBase}/${encodeURIComponent(entry.checkinId)}/checkout`;
  const body =
    entry.kind === "checkin" ? entry.body : { checkoutToken: entry.token, departure: entry.departure };
  const response = await postJson(url, body);
  if (response.ok) return { outcome: Outcome.DONE, data: await response.json() };
  if (retryable(response.status)) return { outcome: Outcome.RETRY };
  return { outcome: Outcome.REFUSED, data: await errorOf(response) };
}

function settled(entry, outcome, data) {
  if (entry.kind === "checkin") {
    const visit = findVisit((v) => v.idempotencyKey === entry.body.idempotencyKey);
    if (!visit) return;
    if (outcome !== Outcome.DONE) {
      saveVisit({ ...visit, status: "refused" });
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
    saveVisit(stored);
    if (entry.checkoutAt) queueCheckout(stored, entry.checkoutAt);
  } else {
    const visit = findVisit((v) => v.id === entry.checkinId);
    if (!visit) return;
    // A refused check-out (404) means the server no longer knows the visit: it is over either way.
    const departure = outcome === Outcome.DONE ? data.departure : entry.departure;
    saveVisit({ ...visit, status: "checkedOut", departure });
  }
}

const sender = new OutboxSender(outbox, sendEntry, settled);
sender.wakeOn(window, document);

async function sealedBody(record, key, idempotencyKey, arrival, count) {
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
  const entry = { id: "checkin:" + idempotencyKey, kind: "checkin", body, checkoutAt: null, attempts: 0 };
  outbox.put(entry);
  const visit = {
    idempotencyKey,
    areaCode: config.areaCode,
    locationName: config.locationName,
    areaName: config.areaName,
    arrival,
    autoDeparture: new Date(Date.parse(arrival) + config.defaultStayMinutes * 60000).toISOString(),
    persons: count,
    status: "sending",
  };
  saveVisit(visit);
  for (let attempt = 0; attempt < 3; attempt += 1) {
    let response;
    try {
      response = await postJson(config.apiBase, body);
    } catch {
      break;
    }
    if (response.ok) {
      outbox.remove(entry.id);
      settled(entry, Outcome.DONE, await response.json());
      return "sent";
    }
    if (retryable(response.status)) break;
    const error = await errorOf(response);
    if (error.code === "stale_key" && error.currentKey) {
      // The office changed its key since the page loaded: seal again and resend.
      key = error.currentKey;
      config.key = key;
      body = await sealedBody(record, key, idempotencyKey, arrival, count);
      outbox.put({ ...entry, body });
      continue;
    }
    outbox.remove(entry.id);
    saveVisit({ ...visit, status: "refused" });
    return error.code === "too_many_requests" ? texts.tooMany : error.message || texts.failed;
  }
  saveVisit({ ...findVisit((v) => v.idempotencyKey === idempotencyKey), status: "queued" });
  sender.flushSoon(1000);
  return "queued";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const values = readContactForm(form);
  const errors = validateContactForm(values, rules);
  if (errors.length) {
    showErrors(form, errors, rules);
    return;
  }
  clearErrors(form);
  const record = contactRecord(values, rules);
  if (rememberBox.checked) localStorage.setItem(CONTACT_KEY, JSON.stringify(record));
  else localStorage.removeItem(CONTACT_KEY);
  submitButton.disabled = true;
  submitButton.setAttribute("aria-busy", "true");
  try {
    const result = await checkIn(record);
    if (result === "sent" || result === "queued") {
      form.reset();
      persons.clear();
      showConfirmation(findVisit((v) => v.idempotencyKey === shownOrLatest()), { focus: true });
    } else {
      showFormMessage(form, result);
    }
  } catch {
    showFormMessage(form, texts.failed);
  } finally {
    submitButton.disabled = false;
    submitButton.removeAttribute("aria-busy");
  }
});

function shownOrLatest() {
  const visits = loadVisits().filter((visit) => visit.areaCode === config.areaCode);
  return visits.length ? visits[visits.length - 1].idempotencyKey : null;
}

// --- checking out ---------------------------------------------------------------

function queueCheckout(visit, departure) {
  outbox.put({
    id: "checkout:" + visit.id,
    kind: "checkout",
    checkinId: visit.id,
    token: visit.token,
    departure,
    attempts: 0,
  });
  sender.flush();
}

checkoutButton.addEventListener("click", async () => {
  const visit = shownVisit && findVisit((v) => v.idempotencyKey === shownVisit.idempotencyKey);
  if (!visit) return;
  const departure = new Date().toISOString();
  if (!visit.id) {
    // Not yet sent: the check-out travels with the check-in.
    outbox.update("checkin:" + visit.idempotencyKey, { checkoutAt: departure });
    saveVisit({ ...visit, status: "checkoutQueued" });
    sender.flush();
    return;
  }
  checkoutButton.disabled = true;
  saveVisit({ ...visit, status: "checkoutQueued" });
  queueCheckout(visit, departure);
  await sender.flush();
  checkoutButton.disabled = false;
});

document.getElementById("another-checkin").addEventListener("click", showForm);

// --- start ------------------------------------------------------------------------

document.getElementById("remember-row").hidden = false;
resetForm();
const open = openVisitHere();
if (open) showConfirmation(open);
sender.flush();
