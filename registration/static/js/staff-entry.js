// Staff entry in the business portal: a paper form typed in by staff, sealed in this
// browser to the health office's key (envelope.js) and sent as an envelope with
// the visit's times. The server never sees the contact details in plain text.
// The arrival (in UTC, as the server will store it), the idempotency key and the
// source are sealed with the record (format v2).

import { berlinWallTimeToUtc } from "./berlin-time.js";
import { importRecipientPublicKey, sealContactRecord } from "./envelope.js";
import { toHex } from "./bytes.js";
import {
  clearErrors,
  contactRecord,
  enhancePersons,
  readContactForm,
  showErrors,
  showFormMessage,
  validateContactForm,
} from "./contact-form.js";

const config = JSON.parse(document.getElementById("staff-entry-config").textContent);
const { rules, texts } = config;
const form = document.getElementById("staff-entry-form");
const saveButton = document.getElementById("save-entry");
const message = document.getElementById("form-message");
const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
const persons = enhancePersons(form, document.getElementById("person-template"), rules, texts);
let idempotencyKey = newIdempotencyKey();
let recipient = null;

function newIdempotencyKey() {
  return toHex(crypto.getRandomValues(new Uint8Array(16)));
}

function timeErrors() {
  const errors = [];
  const arrival = form.elements.arrival.value;
  const departure = form.elements.departure.value;
  if (!arrival) errors.push({ fieldId: "arrival", reason: "required" });
  if (arrival && departure && departure <= arrival) {
    errors.push({ fieldId: "departure", reason: "departureBeforeArrival" });
  }
  return errors;
}

function say(text) {
  message.textContent = text;
  message.hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  message.hidden = true;
  const values = readContactForm(form);
  const errors = [...timeErrors(), ...validateContactForm(values, rules)];
  if (errors.length) {
    showErrors(form, errors, { ...rules, messages: { ...rules.messages, ...texts.timeMessages } });
    return;
  }
  clearErrors(form);
  const areaId = Number(form.elements.areaId.value);
  const areaCode = config.areas[String(areaId)];
  saveButton.disabled = true;
  saveButton.setAttribute("aria-busy", "true");
  try {
    recipient = recipient || (await importRecipientPublicKey(config.key.publicKey));
    const arrival = berlinWallTimeToUtc(form.elements.arrival.value);
    if (arrival === null) throw new RangeError("arrival: not a local date and time");
    const envelope = await sealContactRecord(recipient, contactRecord(values, rules), {
      locationCode: config.locationCode,
      areaCode,
      visit: { arrival, idempotencyKey, source: "staff_entry" },
    });
    const response = await fetch(config.endpoint, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": csrfToken,
      },
      body: JSON.stringify({
        areaId,
        envelope,
        persons: 1 + values.persons.length,
        arrival: form.elements.arrival.value,
        departure: form.elements.departure.value || null,
        idempotencyKey,
      }),
    });
    if (response.ok) {
      const keepArea = form.elements.areaId.value;
      const keepArrival = form.elements.arrival.value;
      form.reset();
      persons.clear();
      form.elements.areaId.value = keepArea;
      form.elements.arrival.value = keepArrival;
      idempotencyKey = newIdempotencyKey();
      say(texts.saved);
      form.elements.firstName.focus();
      return;
    }
    const problem = await response.json().catch(() => ({}));
    const fields = (problem.error && problem.error.fields) || {};
    const fieldErrors = Object.entries(fields)
      .filter(([fieldId, text]) => typeof text === "string" && form.elements[fieldId])
      .map(([fieldId, text]) => ({ fieldId, reason: text }));
    if (fieldErrors.length) showErrors(form, fieldErrors, rules);
    else showFormMessage(form, (problem.error && problem.error.message) || texts.failed);
  } catch {
    showFormMessage(form, texts.failed);
  } finally {
    saveButton.disabled = false;
    saveButton.removeAttribute("aria-busy");
  }
});
