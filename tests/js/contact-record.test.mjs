// The contact record schema (registration/static/js/contact-record.js): completion
// before sealing, and the field and reason of the first fault (docs/FORMAT.md §6).

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  checkOpenedRecord,
  normaliseContactRecord,
  RecordSchemaError,
} from "../../registration/static/js/contact-record.js";

function fault(record, check = normaliseContactRecord) {
  try {
    check(record);
  } catch (error) {
    assert.ok(error instanceof RecordSchemaError, String(error));
    return [error.field, error.reason];
  }
  return null;
}

test("a record is completed to the form writers emit, members in a fixed order", () => {
  const record = normaliseContactRecord({
    additionalPersons: [{ lastName: "B", firstName: "A", sameAddress: true }],
    lastName: "Quästorius",
    firstName: "Wilhelmine",
  });
  assert.deepEqual(Object.keys(record), [
    "v",
    "firstName",
    "lastName",
    "street",
    "houseNumber",
    "zipCode",
    "city",
    "phone",
    "email",
    "additionalPersons",
    "note",
  ]);
  assert.equal(record.v, 1);
  assert.equal(record.street, "");
  assert.deepEqual(record.additionalPersons, [{ firstName: "A", lastName: "B", sameAddress: true }]);
});

test("the first offending field is named, never its value", () => {
  const secret = "Geheim";
  const cases = [
    [[], ["", "not_an_object"]],
    [{ firstName: secret, nickname: "x" }, ["nickname", "unknown_field"]],
    [{ v: 3 }, ["v", "unsupported_version"]],
    [{ v: 2 }, ["arrival", "missing_field"]],
    [{ v: 1, source: "guest_page" }, ["source", "unknown_field"]],
    [{ v: true }, ["v", "unsupported_version"]],
    [{ firstName: 7 }, ["firstName", "not_a_string"]],
    [{ firstName: "a".repeat(101) }, ["firstName", "too_long"]],
    [{ firstName: "\ud800" }, ["firstName", "not_unicode"]],
    [{ additionalPersons: {} }, ["additionalPersons", "not_an_array"]],
    [{ additionalPersons: Array(21).fill({ firstName: "a", lastName: "b" }) }, ["additionalPersons", "too_many_persons"]],
    [{ additionalPersons: [{ firstName: "a" }] }, ["additionalPersons[0].lastName", "missing_field"]],
    [
      { additionalPersons: [{ firstName: "a", lastName: "b", sameAddress: "yes" }] },
      ["additionalPersons[0].sameAddress", "not_a_boolean"],
    ],
  ];
  for (const [record, expected] of cases) {
    assert.deepEqual(fault(record), expected, JSON.stringify(record));
  }
  try {
    normaliseContactRecord({ firstName: secret, nickname: secret });
  } catch (error) {
    assert.ok(!error.message.includes(secret));
  }
});

test("lengths count code points: 100 emoji are a valid first name, 101 are not", () => {
  assert.equal(normaliseContactRecord({ firstName: "😀".repeat(100) }).firstName.length, 200);
  assert.deepEqual(fault({ firstName: "😀".repeat(101) }), ["firstName", "too_long"]);
});

test("an opened record is checked but not completed: members may not be missing", () => {
  assert.deepEqual(fault({ v: 1, firstName: "A" }, checkOpenedRecord), ["lastName", "missing_field"]);
  assert.deepEqual(fault({ firstName: "A", lastName: "B" }, checkOpenedRecord), ["v", "missing_field"]);
});

test("version 2: the bound members are required and checked like the Python reader's", () => {
  const bound = { arrival: "2026-11-20T18:30:05Z", idempotencyKey: "k".repeat(16), source: "guest_page" };
  assert.deepEqual(normaliseContactRecord({ firstName: "A" }, bound), {
    ...normaliseContactRecord({ firstName: "A" }),
    v: 2,
    ...bound,
  });
  const cases = [
    [{ arrival: "2026-11-20T18:30:05.1Z" }, ["arrival", "not_a_time"]],
    [{ arrival: "2026-02-30T18:30:05Z" }, ["arrival", "not_a_time"]],
    [{ arrival: 0 }, ["arrival", "not_a_string"]],
    [{ idempotencyKey: "k".repeat(65) }, ["idempotencyKey", "not_an_idempotency_key"]],
    [{ source: "phone" }, ["source", "unknown_source"]],
  ];
  for (const [members, expected] of cases) {
    assert.deepEqual(fault({ v: 2, ...bound, ...members }), expected, JSON.stringify(members));
  }
  assert.deepEqual(fault({ ...normaliseContactRecord({}), v: 2, ...bound }, (r) => checkOpenedRecord(r, 1)), [
    "v",
    "unsupported_version",
  ]);
});
