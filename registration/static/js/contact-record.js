// The contact record (docs/FORMAT.md §6): its schema, and the check and completion
// of a record before sealing and after opening. Record version 2 (format v2) also
// carries the visit's arrival, idempotency key and source, sealed so that the health
// office's reader can compare them with the metadata stored beside the envelope.
//
// The checks mirror crypto/record.py rule for rule and in the same order, so both
// implementations reject a record with the same field and reason.

const RECORD_VERSIONS = [1, 2];
const MAX_ADDITIONAL_PERSONS = 20;
// Maximum lengths in Unicode code points.
const FIELD_MAX_LENGTHS = Object.freeze({
  firstName: 100,
  lastName: 100,
  street: 150,
  houseNumber: 20,
  zipCode: 10,
  city: 100,
  phone: 40,
  email: 254,
  note: 500,
});
const MAIN_PERSON_FIELDS = [
  "firstName",
  "lastName",
  "street",
  "houseNumber",
  "zipCode",
  "city",
  "phone",
  "email",
];
const PERSON_REQUIRED_FIELDS = ["firstName", "lastName"];
const PERSON_OPTIONAL_FIELDS = ["street", "houseNumber", "zipCode", "city", "phone", "email"];
const PERSON_FIELDS = new Set([
  ...PERSON_REQUIRED_FIELDS,
  ...PERSON_OPTIONAL_FIELDS,
  "sameAddress",
]);
const TOP_LEVEL_FIELDS = new Set(["v", ...MAIN_PERSON_FIELDS, "additionalPersons", "note"]);
const BOUND_FIELDS = ["arrival", "idempotencyKey", "source"];
const TOP_LEVEL_FIELDS_BY_VERSION = {
  1: TOP_LEVEL_FIELDS,
  2: new Set([...TOP_LEVEL_FIELDS, ...BOUND_FIELDS]),
};
export const SOURCES = Object.freeze(["guest_page", "guest_form", "staff_entry"]);
const ARRIVAL_PATTERN = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/;
// The server's rule for idempotency keys (registration/checkin/services.py).
const IDEMPOTENCY_KEY_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

/** A contact record does not fit the v1 schema; `field` and `reason` say where and why. */
export class RecordSchemaError extends Error {
  constructor(field, reason) {
    super(`contact record field ${field || "(record)"}: ${reason}`);
    this.name = "RecordSchemaError";
    this.field = field;
    this.reason = reason;
  }
}

// Own copies of strict-json.js's two helpers: the guest page loads this module but
// not that one (each script a phone fetches costs a request).
function hasOwn(object, key) {
  return Object.prototype.hasOwnProperty.call(object, key);
}

function isPlainObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Length in Unicode code points, which is what the schema limits count. A lone
 * surrogate counts as one, as it does in Python; see hasLoneSurrogate.
 */
export function codePointLength(text) {
  let count = text.length;
  for (let i = 0; i < text.length - 1; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        count--;
        i++;
      }
    }
  }
  return count;
}

/**
 * A lone surrogate is not Unicode text: it has no UTF-8 form, so it could not
 * be sealed faithfully. (String.prototype.isWellFormed is too new for the
 * older phones guests use.)
 */
function hasLoneSurrogate(text) {
  return /[\ud800-\udbff](?![\udc00-\udfff])|(?:[^\ud800-\udbff]|^)[\udc00-\udfff]/.test(text);
}

// Member names come from code, not guests, but stay bounded and printable in logs.
function memberName(name) {
  return /^(?:[^\p{C}\p{Z}]| )*$/u.test(name)
    ? Array.from(name).slice(0, 40).join("")
    : "<member>";
}

/** The member's value; fallback when absent, or missing_field if there is none. */
function member(record, name, fallback) {
  if (hasOwn(record, name)) return record[name];
  if (fallback === undefined) throw new RecordSchemaError(name, "missing_field");
  return fallback;
}

function stringMember(container, name, path, complete) {
  if (!hasOwn(container, name)) {
    if (complete) return "";
    throw new RecordSchemaError(path, "missing_field");
  }
  const value = container[name];
  if (typeof value !== "string") {
    throw new RecordSchemaError(path, "not_a_string");
  }
  if (codePointLength(value) > FIELD_MAX_LENGTHS[name]) {
    throw new RecordSchemaError(path, "too_long");
  }
  if (hasLoneSurrogate(value)) {
    throw new RecordSchemaError(path, "not_unicode");
  }
  return value;
}

function checkedPerson(person, path) {
  if (!isPlainObject(person)) {
    throw new RecordSchemaError(path, "not_an_object");
  }
  for (const name of Object.keys(person)) {
    if (!PERSON_FIELDS.has(name)) {
      throw new RecordSchemaError(`${path}.${memberName(name)}`, "unknown_field");
    }
  }
  const checked = {};
  for (const name of PERSON_REQUIRED_FIELDS) {
    checked[name] = stringMember(person, name, `${path}.${name}`, false);
  }
  if (hasOwn(person, "sameAddress")) {
    if (typeof person.sameAddress !== "boolean") {
      throw new RecordSchemaError(`${path}.sameAddress`, "not_a_boolean");
    }
    checked.sameAddress = person.sameAddress;
  }
  for (const name of PERSON_OPTIONAL_FIELDS) {
    if (hasOwn(person, name)) checked[name] = stringMember(person, name, `${path}.${name}`, false);
  }
  return checked;
}

/** A real UTC time of the form YYYY-MM-DDTHH:MM:SSZ (31 November and year 0 are not). */
function isPackageTime(text) {
  if (!ARRIVAL_PATTERN.test(text) || text.startsWith("0000")) return false;
  const ms = Date.parse(text);
  return !Number.isNaN(ms) && `${new Date(ms).toISOString().slice(0, 19)}Z` === text;
}

/** arrival, idempotencyKey and source of a version 2 record; always required. */
function boundMembers(record) {
  const checked = {};
  for (const name of BOUND_FIELDS) {
    if (!hasOwn(record, name)) throw new RecordSchemaError(name, "missing_field");
    if (typeof record[name] !== "string") throw new RecordSchemaError(name, "not_a_string");
    checked[name] = record[name];
  }
  if (!isPackageTime(checked.arrival)) throw new RecordSchemaError("arrival", "not_a_time");
  if (!IDEMPOTENCY_KEY_PATTERN.test(checked.idempotencyKey)) {
    throw new RecordSchemaError("idempotencyKey", "not_an_idempotency_key");
  }
  if (!SOURCES.includes(checked.source)) throw new RecordSchemaError("source", "unknown_source");
  return checked;
}

function validatedRecord(record, complete, expectedVersion) {
  if (!isPlainObject(record)) {
    throw new RecordSchemaError("", "not_an_object");
  }
  const version = member(record, "v", complete ? 1 : undefined);
  // JSON has one number type: 1 and 1.0 are both version 1, true and "1" are not.
  if (
    !RECORD_VERSIONS.includes(version) ||
    (expectedVersion !== undefined && version !== expectedVersion)
  ) {
    throw new RecordSchemaError("v", "unsupported_version");
  }
  const allowed = TOP_LEVEL_FIELDS_BY_VERSION[version];
  for (const name of Object.keys(record)) {
    if (!allowed.has(name)) {
      throw new RecordSchemaError(memberName(name), "unknown_field");
    }
  }
  const normalised = { v: version };
  for (const name of MAIN_PERSON_FIELDS) {
    normalised[name] = stringMember(record, name, name, complete);
  }
  const persons = member(record, "additionalPersons", complete ? [] : undefined);
  if (!Array.isArray(persons)) {
    throw new RecordSchemaError("additionalPersons", "not_an_array");
  }
  if (persons.length > MAX_ADDITIONAL_PERSONS) {
    throw new RecordSchemaError("additionalPersons", "too_many_persons");
  }
  normalised.additionalPersons = persons.map((person, index) =>
    checkedPerson(person, `additionalPersons[${index}]`),
  );
  normalised.note = stringMember(record, "note", "note", complete);
  if (version === 2) Object.assign(normalised, boundMembers(record));
  return normalised;
}

/**
 * Checks a contact record for sealing and completes it to the form writers
 * emit: missing top-level text fields as "", a missing additionalPersons as
 * [], members in a fixed order. With a visit ({ arrival: "YYYY-MM-DDTHH:MM:SSZ",
 * idempotencyKey, source }) the record is version 2 and carries them; without,
 * version 1. Throws RecordSchemaError naming the first offending field (never
 * its value).
 */
export function normaliseContactRecord(record, visit = undefined) {
  if (visit !== undefined) {
    if (!isPlainObject(record)) throw new RecordSchemaError("", "not_an_object");
    const { arrival, idempotencyKey, source } = visit;
    record = { ...record, v: 2, arrival, idempotencyKey, source };
  }
  return validatedRecord(record, true, undefined);
}

/**
 * Checks the record of an opened version `version` envelope (parsed JSON)
 * without completing it: a reader refuses what a writer would have had to
 * complete, and a record whose v is not the envelope's. Throws
 * RecordSchemaError (the caller reports bad_record).
 */
export function checkOpenedRecord(document, version = 1) {
  return validatedRecord(document, false, version);
}
