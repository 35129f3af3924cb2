// The contact form's checks (registration/static/js/contact-form.js) with the rules the
// server sends (contact_form.client_rules): same errors, in the same order, and the same
// contact record as the no-JavaScript path (contact_form.read_contact_form) for every
// case in fixtures/contact-form-cases.json.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  contactRecord,
  splitStreetAddress,
  validateContactForm,
} from "../../registration/static/js/contact-form.js";
import { normaliseContactRecord } from "../../registration/static/js/contact-record.js";
import { fixture } from "./fixtures.mjs";

const RULES = fixture("contact-rules.json");
const CASES = fixture("contact-form-cases.json");

for (const item of CASES) {
  test(`same outcome as the server: ${item.name}`, () => {
    const rules = { ...RULES, contactRequired: item.contactRequired };
    const errors = validateContactForm(item.values, rules);
    assert.deepEqual(errors, item.errors);
    if (item.record !== null) {
      assert.deepEqual(normaliseContactRecord(contactRecord(item.values, rules)), item.record);
    }
  });
}

test("the cases cover every reason the browser can find", () => {
  const reasons = new Set(CASES.flatMap((item) => item.errors.map((error) => error.reason)));
  for (const reason of [
    "required",
    "too_long",
    "invalid_text",
    "invalid_zip",
    "invalid_phone",
    "invalid_email",
    "phone_or_email",
    "phone_required",
    "email_required",
  ]) {
    assert.ok(reasons.has(reason), reason);
  }
});

test("street and house number are split as the server splits them", () => {
  assert.deepEqual(splitStreetAddress("Hauptstraße 5a", RULES), {
    street: "Hauptstraße",
    houseNumber: "5a",
  });
  assert.deepEqual(splitStreetAddress("Am Anger", RULES), { street: "Am Anger", houseNumber: "" });
});
