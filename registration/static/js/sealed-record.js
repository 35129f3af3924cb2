// Sealed contact records (format v1) and health-office key files in the browser.
//
// The guest's phone seals the contact record to the health office's public key
// before anything leaves the page, and the health office opens records and
// loads its key file in its own browser, so the private key never reaches the
// server. The byte format is docs/FORMAT.md (format v1); the Python package
// `crypto` implements it too, and both accept and reject exactly the same
// envelopes and key files, with the same error kinds.
//
// HPKE (RFC 9180) comes from the pinned, vendored @hpke/core (see js/build.sh);
// everything else here is WebCrypto and plain JavaScript, loaded from our own
// origin only.

import {
  Aes128Gcm,
  CipherSuite,
  DhkemP256HkdfSha256,
  HkdfSha256,
} from "../vendor/hpke.js";

// ---------------------------------------------------------------------------
// Format constants (format v1; changing any of them is a new format version)

const ENVELOPE_VERSION = 0x01;
const KEM_ID = 0x0010; // DHKEM(P-256, HKDF-SHA256)
const KDF_ID = 0x0001; // HKDF-SHA256
const AEAD_ID = 0x0001; // AES-128-GCM
const KEY_ID_LENGTH = 32;
const HEADER_LENGTH = 7 + KEY_ID_LENGTH; // version, suite ids, key id
const ENC_LENGTH = 65; // uncompressed SEC1 P-256 point
const CIPHERTEXT_OFFSET = HEADER_LENGTH + ENC_LENGTH;
const TAG_LENGTH = 16;
const PADDING_BUCKETS = [512, 1024, 2048, 4096, 8192, 16384, 32768];
const MAX_ENVELOPE_LENGTH =
  CIPHERTEXT_OFFSET + PADDING_BUCKETS[PADDING_BUCKETS.length - 1] + TAG_LENGTH;
const PADDING_MARKER = 0x80;
const INFO_LABEL = "gastregister/sealed-record/v1";
const CONTEXT_CODE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const RECORD_VERSION = 1;
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

const KEY_FILE_FORMAT = "gastregister-keyfile";
const KEY_FILE_VERSION = 1;
const KEY_FILE_KDF = "PBKDF2-SHA-256";
const KEY_FILE_CIPHER = "AES-256-GCM";
const KEY_FILE_AAD_PREFIX = "gastregister/keyfile/v1:";
const KEY_FILE_SALT_LENGTH = 16;
const KEY_FILE_NONCE_LENGTH = 12;
const KEY_FILE_MIN_WRITE_ITERATIONS = 600000;
const KEY_FILE_MIN_READ_ITERATIONS = 100000;
const KEY_FILE_MAX_ITERATIONS = 10000000;
const MIN_PASSPHRASE_LENGTH = 12;

const EC_ALGORITHM = Object.freeze({ name: "ECDH", namedCurve: "P-256" });

const utf8Encoder = new TextEncoder();
// fatal: invalid UTF-8 is an error, not U+FFFD; ignoreBOM: a BOM stays in the
// text (and then fails JSON parsing) instead of being dropped silently.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

const hpkeSuite = new CipherSuite({
  kem: new DhkemP256HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes128Gcm(),
});

// ---------------------------------------------------------------------------
// Errors

/**
 * A sealed record could not be opened. Callers show one message for every
 * kind; `kind` is for tests and logs (see format v1 for the list).
 */
export class SealedRecordError extends Error {
  constructor(kind) {
    super(`sealed record rejected (${kind})`);
    this.name = "SealedRecordError";
    this.kind = kind;
  }
}

/** A contact record does not fit the v1 schema; `field` and `reason` say where and why. */
export class RecordSchemaError extends Error {
  constructor(field, reason) {
    super(`contact record field ${field || "(record)"}: ${reason}`);
    this.name = "RecordSchemaError";
    this.field = field;
    this.reason = reason;
  }
}

/** A key file could not be read (malformed, unsupported, wrong_passphrase, key_mismatch). */
export class KeyFileError extends Error {
  constructor(kind) {
    super(`key file rejected (${kind})`);
    this.name = "KeyFileError";
    this.kind = kind;
  }
}

/** A new key file's passphrase is shorter than the format allows (12 characters). */
export class WeakPassphraseError extends Error {
  constructor() {
    super(`the passphrase needs at least ${MIN_PASSPHRASE_LENGTH} characters`);
    this.name = "WeakPassphraseError";
  }
}

// ---------------------------------------------------------------------------
// base64url (RFC 4648 §5), canonical and unpadded

const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BASE64URL_VALUES = new Int16Array(128).fill(-1);
for (let i = 0; i < BASE64URL_ALPHABET.length; i++) {
  BASE64URL_VALUES[BASE64URL_ALPHABET.charCodeAt(i)] = i;
}

/** Encodes bytes as base64url without padding. */
export function encodeBase64url(bytes) {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const chars = [];
  let i = 0;
  for (; i + 3 <= data.length; i += 3) {
    const n = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    chars.push(
      BASE64URL_ALPHABET[n >> 18],
      BASE64URL_ALPHABET[(n >> 12) & 63],
      BASE64URL_ALPHABET[(n >> 6) & 63],
      BASE64URL_ALPHABET[n & 63],
    );
  }
  const rest = data.length - i;
  if (rest === 1) {
    const n = data[i] << 16;
    chars.push(BASE64URL_ALPHABET[n >> 18], BASE64URL_ALPHABET[(n >> 12) & 63]);
  } else if (rest === 2) {
    const n = (data[i] << 16) | (data[i + 1] << 8);
    chars.push(
      BASE64URL_ALPHABET[n >> 18],
      BASE64URL_ALPHABET[(n >> 12) & 63],
      BASE64URL_ALPHABET[(n >> 6) & 63],
    );
  }
  return chars.join("");
}

/**
 * Decodes canonical unpadded base64url. Padding, whitespace, characters
 * outside the alphabet and non-zero unused trailing bits are rejected, so
 * every byte string has exactly one accepted text form.
 * Throws a RangeError on any such input.
 */
export function decodeBase64url(text) {
  if (typeof text !== "string") {
    throw new RangeError("base64url: not a string");
  }
  const length = text.length;
  const rest = length % 4;
  if (rest === 1) {
    throw new RangeError("base64url: impossible length");
  }
  const out = new Uint8Array(((length - rest) / 4) * 3 + (rest === 0 ? 0 : rest - 1));
  let o = 0;
  let i = 0;
  const value = (index) => {
    const code = text.charCodeAt(index);
    const v = code < 128 ? BASE64URL_VALUES[code] : -1;
    if (v < 0) {
      throw new RangeError("base64url: character outside the alphabet");
    }
    return v;
  };
  for (; i + 4 <= length; i += 4) {
    const n = (value(i) << 18) | (value(i + 1) << 12) | (value(i + 2) << 6) | value(i + 3);
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
    out[o++] = n & 255;
  }
  if (rest === 2) {
    const n = (value(i) << 18) | (value(i + 1) << 12);
    if (n & 0xffff) {
      throw new RangeError("base64url: non-zero trailing bits");
    }
    out[o++] = n >> 16;
  } else if (rest === 3) {
    const n = (value(i) << 18) | (value(i + 1) << 12) | (value(i + 2) << 6);
    if (n & 0xff) {
      throw new RangeError("base64url: non-zero trailing bits");
    }
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Small byte helpers

function concatBytes(...parts) {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function toHex(bytes) {
  let hex = "";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** Human form of a key fingerprint: 16 groups of 4 upper-case hex digits. */
export function formatFingerprint(keyIdHex) {
  if (typeof keyIdHex !== "string" || !/^[0-9a-fA-F]{64}$/.test(keyIdHex)) {
    throw new RangeError("fingerprint: expected 64 hex digits");
  }
  return keyIdHex.toUpperCase().match(/.{4}/g).join(" ");
}

// ---------------------------------------------------------------------------
// Contact record schema

/**
 * Length in Unicode code points, which is what the schema limits count. A lone
 * surrogate counts as one, as it does in Python; see hasLoneSurrogate.
 */
function codePointLength(text) {
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

function hasOwn(object, key) {
  return Object.prototype.hasOwnProperty.call(object, key);
}

function isPlainObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

// The checks below mirror crypto/record.py rule for rule and in the same order,
// so both implementations reject a record with the same field and reason.

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

function validatedRecord(record, complete) {
  if (!isPlainObject(record)) {
    throw new RecordSchemaError("", "not_an_object");
  }
  for (const name of Object.keys(record)) {
    if (!TOP_LEVEL_FIELDS.has(name)) {
      throw new RecordSchemaError(memberName(name), "unknown_field");
    }
  }
  const version = member(record, "v", complete ? RECORD_VERSION : undefined);
  // JSON has one number type: 1 and 1.0 are both version 1, true and "1" are not.
  if (version !== RECORD_VERSION) {
    throw new RecordSchemaError("v", "unsupported_version");
  }
  const normalised = { v: RECORD_VERSION };
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
  return normalised;
}

/**
 * Checks a contact record for sealing and completes it to the form writers
 * emit: "v": 1, missing top-level text fields as "", a missing
 * additionalPersons as [], members in a fixed order. Throws RecordSchemaError
 * naming the first offending field (never its value).
 */
export function normaliseContactRecord(record) {
  return validatedRecord(record, true);
}

/**
 * True when an object in the JSON text repeats a member name. JSON.parse
 * keeps the last of repeated members silently; Python's reader rejects them,
 * and both readers must accept the same records. Call only with text that
 * JSON.parse accepted (so strings are known to be terminated).
 */
function hasDuplicateMembers(text) {
  const stack = []; // per open container: a Set of member names, or null for an array
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      const names = stack[stack.length - 1];
      if (expectKey && names) {
        const raw = text.slice(i + 1, end);
        const name = raw.includes("\\") ? JSON.parse(`"${raw}"`) : raw;
        if (names.has(name)) return true;
        names.add(name);
      }
      expectKey = false;
      i = end;
    } else if (char === "{") {
      stack.push(new Set());
      expectKey = true;
    } else if (char === "[") {
      stack.push(null);
    } else if (char === "}" || char === "]") {
      stack.pop();
    } else if (char === ",") {
      expectKey = stack[stack.length - 1] !== null;
    }
  }
  return false;
}

function decodeContactRecord(json) {
  const text = utf8Decoder.decode(json);
  const document = JSON.parse(text);
  if (hasDuplicateMembers(text)) {
    throw new SyntaxError("repeated member name");
  }
  return validatedRecord(document, false);
}

// ---------------------------------------------------------------------------
// Envelope

function checkContextCode(code, name) {
  if (typeof code !== "string" || !CONTEXT_CODE_PATTERN.test(code)) {
    throw new RangeError(`${name}: expected 1..64 characters [A-Za-z0-9_-]`);
  }
}

function lengthPrefixed(text) {
  const bytes = utf8Encoder.encode(text);
  return concatBytes(new Uint8Array([bytes.length >> 8, bytes.length & 255]), bytes);
}

function hpkeInfo(locationCode, areaCode, keyId) {
  checkContextCode(locationCode, "locationCode");
  checkContextCode(areaCode, "areaCode");
  return concatBytes(
    utf8Encoder.encode(INFO_LABEL),
    lengthPrefixed(locationCode),
    lengthPrefixed(areaCode),
    keyId,
  );
}

function envelopeHeader(keyId) {
  const header = new Uint8Array(HEADER_LENGTH);
  header[0] = ENVELOPE_VERSION;
  header[1] = KEM_ID >> 8;
  header[2] = KEM_ID & 255;
  header[3] = KDF_ID >> 8;
  header[4] = KDF_ID & 255;
  header[5] = AEAD_ID >> 8;
  header[6] = AEAD_ID & 255;
  header.set(keyId, 7);
  return header;
}

function padRecord(json) {
  const bucket = PADDING_BUCKETS.find((size) => json.length + 1 <= size);
  if (bucket === undefined) {
    throw new RecordSchemaError("", "too_large");
  }
  const padded = new Uint8Array(bucket); // zero-filled
  padded.set(json, 0);
  padded[json.length] = PADDING_MARKER;
  return padded;
}

function unpadRecord(padded) {
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (end < 0 || padded[end] !== PADDING_MARKER) {
    throw new SealedRecordError("bad_padding");
  }
  return padded.subarray(0, end);
}

/**
 * Imports a health office's public key (base64url DER SubjectPublicKeyInfo)
 * for sealing. Only the canonical uncompressed P-256 encoding is accepted, so
 * the key id computed here is the one the Python side computes.
 */
export async function importRecipientPublicKey(spkiBase64url) {
  let spki;
  try {
    spki = decodeBase64url(spkiBase64url);
  } catch {
    throw new RangeError("recipient public key: not base64url");
  }
  const key = await importCanonicalSpki(spki);
  if (key === null) {
    throw new RangeError("recipient public key: not a canonical P-256 SubjectPublicKeyInfo");
  }
  return Object.freeze({ spki, keyId: await sha256(spki), key });
}

/**
 * The P-256 public key in spki, or null unless spki is its canonical DER
 * form (named curve, uncompressed point): two encodings of one key would
 * give it two key ids.
 */
async function importCanonicalSpki(spki) {
  let key;
  try {
    key = await crypto.subtle.importKey("spki", spki, EC_ALGORITHM, true, []);
  } catch {
    return null;
  }
  const canonical = new Uint8Array(await crypto.subtle.exportKey("spki", key));
  return bytesEqual(canonical, spki) ? key : null;
}

/**
 * Seals a contact record to the recipient for one location and area.
 * Returns the envelope as unpadded base64url. The record is checked and
 * normalised first (RecordSchemaError); location and area codes are bound
 * into the HPKE info, so the envelope opens only for the same codes.
 */
export async function sealContactRecord(recipient, record, { locationCode, areaCode } = {}) {
  const info = hpkeInfo(locationCode, areaCode, recipient.keyId);
  const json = utf8Encoder.encode(JSON.stringify(normaliseContactRecord(record)));
  // The aad is empty (docs/FORMAT.md §5.2): the header is bound by the reader's
  // checks, the info label and key id, and HPKE's own suite id.
  const { ct, enc } = await hpkeSuite.seal(
    { recipientPublicKey: recipient.key, info },
    padRecord(json),
  );
  return encodeBase64url(
    concatBytes(envelopeHeader(recipient.keyId), new Uint8Array(enc), new Uint8Array(ct)),
  );
}

const MAX_ENVELOPE_TEXT_LENGTH = Math.ceil((MAX_ENVELOPE_LENGTH * 4) / 3);
const SUITE_BYTES = envelopeHeader(new Uint8Array(KEY_ID_LENGTH)).subarray(1, 7);

/**
 * The keyless checks of an envelope, in the order crypto/envelope.py runs
 * them, so both implementations give the same kind for the same envelope.
 * The enc point is checked on the curve later (see checkEphemeralPoint).
 */
function parseEnvelope(envelopeBase64url) {
  // An over-long text is refused before decoding so a huge input costs nothing.
  if (
    typeof envelopeBase64url !== "string" ||
    envelopeBase64url.length > MAX_ENVELOPE_TEXT_LENGTH
  ) {
    throw new SealedRecordError("malformed");
  }
  let envelope;
  try {
    envelope = decodeBase64url(envelopeBase64url);
  } catch {
    throw new SealedRecordError("malformed");
  }
  if (envelope.length < 1) {
    throw new SealedRecordError("malformed");
  }
  if (envelope[0] !== ENVELOPE_VERSION) {
    throw new SealedRecordError("unknown_version");
  }
  if (envelope.length < CIPHERTEXT_OFFSET) {
    throw new SealedRecordError("malformed");
  }
  if (!bytesEqual(envelope.subarray(1, 7), SUITE_BYTES)) {
    throw new SealedRecordError("wrong_suite");
  }
  const ciphertext = envelope.subarray(CIPHERTEXT_OFFSET);
  if (!PADDING_BUCKETS.includes(ciphertext.length - TAG_LENGTH)) {
    throw new SealedRecordError("bad_length");
  }
  const enc = envelope.subarray(HEADER_LENGTH, CIPHERTEXT_OFFSET);
  if (enc[0] !== 0x04) {
    throw new SealedRecordError("malformed");
  }
  return {
    keyId: envelope.subarray(7, HEADER_LENGTH),
    enc,
    ciphertext,
  };
}

/**
 * Throws malformed unless enc is a point on P-256. Python checks this before
 * the key id and before decrypting; here it runs only when one of those
 * fails, which gives the same kinds without an extra import on every open.
 */
async function checkEphemeralPoint(enc) {
  try {
    await crypto.subtle.importKey("raw", enc, EC_ALGORITHM, true, []);
  } catch {
    throw new SealedRecordError("malformed");
  }
}

/**
 * Opens a sealed contact record with a private key handle from readKeyFile
 * for the given location and area. Returns the normalised record; every
 * failure is a SealedRecordError whose kind says why.
 *
 * Many records can be opened in parallel with the same handle (for example
 * Promise.all over batches of a few hundred): the key was imported once, when
 * the handle was made, and each call only does the HPKE work.
 */
export async function openContactRecord(
  privateKeyHandle,
  envelopeBase64url,
  { locationCode, areaCode } = {},
) {
  const { keyId, keyPair } = privateKeyHandle;
  const { keyId: envelopeKeyId, enc, ciphertext } = parseEnvelope(envelopeBase64url);
  if (!bytesEqual(envelopeKeyId, keyId)) {
    await checkEphemeralPoint(enc);
    throw new SealedRecordError("wrong_key");
  }
  const info = hpkeInfo(locationCode, areaCode, keyId);
  let padded;
  try {
    padded = new Uint8Array(
      await hpkeSuite.open({ recipientKey: keyPair, enc, info }, ciphertext), // empty aad
    );
  } catch {
    await checkEphemeralPoint(enc);
    throw new SealedRecordError("decryption_failed");
  }
  try {
    let record;
    try {
      record = decodeContactRecord(unpadRecord(padded));
    } catch (error) {
      throw error instanceof SealedRecordError ? error : new SealedRecordError("bad_record");
    }
    return record;
  } finally {
    padded.fill(0);
  }
}

// ---------------------------------------------------------------------------
// Opening many records: a pool of workers running this same module

const OPENER_WORKER_NAME = "gastregister-sealed-record-opener";
const OPENER_CHUNK_SIZE = 500; // envelopes per message to a worker
const OPENER_BATCH_SIZE = 100; // concurrent opens inside one worker or thread

/** Opens envelopes with Promise batches; a result per envelope, never throws for one. */
async function openInBatches(privateKeyHandle, envelopes, codes) {
  const results = [];
  for (let first = 0; first < envelopes.length; first += OPENER_BATCH_SIZE) {
    const batch = envelopes.slice(first, first + OPENER_BATCH_SIZE).map((envelope) =>
      openContactRecord(privateKeyHandle, envelope, codes).then(
        (record) => ({ record }),
        (error) => {
          if (error instanceof SealedRecordError) return { kind: error.kind };
          throw error;
        },
      ),
    );
    results.push(...(await Promise.all(batch)));
  }
  return results;
}

function defaultWorkerCount() {
  const cores = globalThis.navigator?.hardwareConcurrency ?? 2;
  return Math.max(2, Math.min(cores, 8));
}

/**
 * Opens many sealed records for one location and area, using all cores: a
 * health office's export can hold tens of thousands of records, and one
 * thread spends most of its time waiting for WebCrypto. Returns one result
 * per envelope, in order: { record } or { error: SealedRecordError }, so one
 * bad envelope does not hide the others. onProgress(done, total) is called
 * as chunks finish. With workers: 0, or where module workers are missing,
 * everything runs on this thread.
 */
export async function openContactRecords(
  privateKeyHandle,
  envelopes,
  { locationCode, areaCode } = {},
  { workers = defaultWorkerCount(), onProgress } = {},
) {
  // A caller's mistake fails the whole call here, not once per envelope.
  checkContextCode(locationCode, "locationCode");
  checkContextCode(areaCode, "areaCode");
  const codes = { locationCode, areaCode };
  const chunks = [];
  for (let first = 0; first < envelopes.length; first += OPENER_CHUNK_SIZE) {
    chunks.push(envelopes.slice(first, first + OPENER_CHUNK_SIZE));
  }
  const chunkResults = new Array(chunks.length);
  let done = 0;
  const finishChunk = (index, results) => {
    chunkResults[index] = results;
    done += results.length;
    if (onProgress) onProgress(done, envelopes.length);
  };

  const poolSize = typeof Worker === "function" ? Math.min(workers, chunks.length) : 0;
  if (poolSize === 0) {
    for (let index = 0; index < chunks.length; index++) {
      finishChunk(index, await openInBatches(privateKeyHandle, chunks[index], codes));
    }
  } else {
    const pool = Array.from(
      { length: poolSize },
      () => new Worker(import.meta.url, { type: "module", name: OPENER_WORKER_NAME }),
    );
    let next = 0;
    try {
      await Promise.all(
        pool.map(async (worker) => {
          while (next < chunks.length) {
            const index = next++;
            finishChunk(index, await askWorker(worker, privateKeyHandle, chunks[index], codes));
          }
        }),
      );
    } finally {
      for (const worker of pool) worker.terminate();
    }
  }
  return chunkResults
    .flat()
    .map((result) =>
      "record" in result ? result : { error: new SealedRecordError(result.kind) },
    );
}

function askWorker(worker, privateKeyHandle, envelopes, codes) {
  return new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.failure) reject(new Error(`record opener worker: ${data.failure}`));
      else resolve(data.results);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`record opener worker failed to run: ${event.message ?? "no details"}`));
    };
    // CryptoKeys, even non-extractable ones, are cloned into the worker as keys.
    worker.postMessage({ privateKeyHandle, envelopes, codes });
  });
}

// Loaded as a record opener worker (by name: a service worker or any other
// worker that imports this module is left alone), answer open requests.
if (
  typeof DedicatedWorkerGlobalScope === "function" &&
  globalThis instanceof DedicatedWorkerGlobalScope &&
  globalThis.name === OPENER_WORKER_NAME
) {
  globalThis.onmessage = async ({ data }) => {
    try {
      const results = await openInBatches(data.privateKeyHandle, data.envelopes, data.codes);
      globalThis.postMessage({ results });
    } catch (error) {
      // Only the error's name: its message could one day carry record content.
      globalThis.postMessage({ failure: error?.name ?? "error" });
    }
  };
}

// ---------------------------------------------------------------------------
// Key file v1

function keyFileAad(keyIdHex) {
  return utf8Encoder.encode(KEY_FILE_AAD_PREFIX + keyIdHex);
}

async function passphraseKey(passphrase, salt, iterations, usages) {
  const password = await crypto.subtle.importKey(
    "raw",
    utf8Encoder.encode(passphrase.normalize("NFC")),
    "PBKDF2",
    false,
    ["deriveKey"],
  );
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations },
    password,
    { name: "AES-GCM", length: 256 },
    false,
    usages,
  );
}

async function publicKeyOf(privateKey) {
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", privateKey);
  return crypto.subtle.importKey("jwk", { kty, crv, x, y }, EC_ALGORITHM, true, []);
}

const KEY_FILE_MEMBERS = [
  "format",
  "version",
  "keyId",
  "publicKey",
  "created",
  "kdf",
  "cipher",
  "encryptedPrivateKey",
];
const MAX_KEY_FILE_BYTES = 16384;
const CREATED_PATTERN = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z$/;

function hasExactMembers(object, names) {
  const keys = Object.keys(object);
  return keys.length === names.length && names.every((name) => hasOwn(object, name));
}

// The name is checked before the other members: another algorithm has other
// parameters, and that makes the file unsupported rather than malformed.
function keyFileAlgorithm(value, expectedName, members) {
  if (!isPlainObject(value) || typeof value.name !== "string") {
    throw new KeyFileError("malformed");
  }
  if (value.name !== expectedName) throw new KeyFileError("unsupported");
  if (!hasExactMembers(value, members)) throw new KeyFileError("malformed");
  return value;
}

function keyFileBytes(value, length) {
  let bytes;
  try {
    bytes = decodeBase64url(value);
  } catch {
    throw new KeyFileError("malformed");
  }
  if (length !== undefined && bytes.length !== length) throw new KeyFileError("malformed");
  return bytes;
}

function isValidCreated(text) {
  const match = typeof text === "string" ? CREATED_PATTERN.exec(text) : null;
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number);
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return (
    year >= 1 &&
    date.getUTCMonth() === month - 1 &&
    date.getUTCDate() === day &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59
  );
}

function isInteger(value) {
  return typeof value === "number" && Number.isInteger(value);
}

/**
 * The passphrase-free checks of a key file, in the order crypto/keyfile.py
 * runs them, so both readers give the same kind for the same file.
 */
async function parseKeyFile(content) {
  let text = content;
  if (content instanceof ArrayBuffer || ArrayBuffer.isView(content)) {
    const bytes = content instanceof ArrayBuffer ? new Uint8Array(content) : content;
    if (bytes.byteLength > MAX_KEY_FILE_BYTES) throw new KeyFileError("malformed");
    try {
      text = utf8Decoder.decode(bytes); // a BOM stays and fails JSON.parse below
    } catch {
      throw new KeyFileError("malformed");
    }
  }
  if (typeof text !== "string" || utf8Encoder.encode(text).length > MAX_KEY_FILE_BYTES) {
    throw new KeyFileError("malformed");
  }
  let file = null;
  try {
    file = JSON.parse(text);
    if (hasDuplicateMembers(text)) file = null;
  } catch {
    file = null;
  }
  if (!isPlainObject(file) || file.format !== KEY_FILE_FORMAT) {
    throw new KeyFileError("malformed");
  }
  if (!isInteger(file.version)) throw new KeyFileError("malformed");
  if (file.version !== KEY_FILE_VERSION) throw new KeyFileError("unsupported");
  if (!hasExactMembers(file, KEY_FILE_MEMBERS)) throw new KeyFileError("malformed");

  const kdf = keyFileAlgorithm(file.kdf, KEY_FILE_KDF, ["name", "iterations", "salt"]);
  if (!isInteger(kdf.iterations)) throw new KeyFileError("malformed");
  if (kdf.iterations < KEY_FILE_MIN_READ_ITERATIONS || kdf.iterations > KEY_FILE_MAX_ITERATIONS) {
    throw new KeyFileError("unsupported");
  }
  const salt = keyFileBytes(kdf.salt, KEY_FILE_SALT_LENGTH);
  const cipher = keyFileAlgorithm(file.cipher, KEY_FILE_CIPHER, ["name", "nonce"]);
  const nonce = keyFileBytes(cipher.nonce, KEY_FILE_NONCE_LENGTH);

  const keyIdHex = file.keyId;
  if (typeof keyIdHex !== "string" || !/^[0-9a-f]{64}$/.test(keyIdHex)) {
    throw new KeyFileError("malformed");
  }
  const publicKeySpki = keyFileBytes(file.publicKey);
  if ((await importCanonicalSpki(publicKeySpki)) === null) {
    throw new KeyFileError("malformed");
  }
  if (toHex(await sha256(publicKeySpki)) !== keyIdHex) {
    throw new KeyFileError("key_mismatch");
  }

  const encryptedPrivateKey = keyFileBytes(file.encryptedPrivateKey);
  if (encryptedPrivateKey.length <= TAG_LENGTH) {
    throw new KeyFileError("malformed"); // not even one byte of key besides the GCM tag
  }
  if (!isValidCreated(file.created)) throw new KeyFileError("malformed");
  return {
    keyIdHex,
    publicKeySpki,
    created: file.created,
    iterations: kdf.iterations,
    salt,
    nonce,
    encryptedPrivateKey,
  };
}

/**
 * Reads a key file with its passphrase. Returns the key id (hex), public key,
 * creation time and a private key handle for openContactRecord. The private
 * key inside the handle is not extractable, and the key file's key id is
 * checked against the key itself, so a file cannot claim another key's
 * fingerprint. Throws KeyFileError.
 *
 * content is the file's text or, better, its bytes (await file.arrayBuffer()):
 * File.text() silently drops a byte order mark and replaces invalid UTF-8,
 * which the format says to refuse.
 */
export async function readKeyFile(content, passphrase) {
  if (typeof passphrase !== "string") throw new TypeError("passphrase must be a string");
  const file = await parseKeyFile(content);
  const wrappingKey = await passphraseKey(passphrase, file.salt, file.iterations, ["decrypt"]);
  let pkcs8;
  try {
    pkcs8 = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: file.nonce, additionalData: keyFileAad(file.keyIdHex) },
        wrappingKey,
        file.encryptedPrivateKey,
      ),
    );
  } catch {
    throw new KeyFileError("wrong_passphrase");
  }
  try {
    let publicKey;
    let privateKey;
    try {
      // Imported twice: once extractable, only to learn the public key (WebCrypto
      // has no other way), and once not extractable for the handle that is kept.
      const usages = ["deriveBits"];
      publicKey = await publicKeyOf(
        await crypto.subtle.importKey("pkcs8", pkcs8, EC_ALGORITHM, true, usages),
      );
      privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, EC_ALGORITHM, false, usages);
    } catch {
      throw new KeyFileError("malformed");
    }
    const spki = new Uint8Array(await crypto.subtle.exportKey("spki", publicKey));
    if (!bytesEqual(spki, file.publicKeySpki)) {
      throw new KeyFileError("key_mismatch");
    }
    const keyId = await sha256(spki);
    return {
      keyId: file.keyIdHex,
      publicKeySpki: spki,
      created: file.created,
      privateKey: Object.freeze({ keyId, keyPair: Object.freeze({ privateKey, publicKey }) }),
    };
  } finally {
    pkcs8.fill(0);
  }
}

/**
 * Generates a new health-office key pair in the browser and returns the key
 * file text (to be saved by the user) and its key id. The private key is
 * extractable only so that it can be wrapped with the passphrase key here; it
 * is not kept.
 */
export async function writeKeyFile(
  passphrase,
  { iterations = KEY_FILE_MIN_WRITE_ITERATIONS } = {},
) {
  if (typeof passphrase !== "string") throw new TypeError("passphrase must be a string");
  if (codePointLength(passphrase.normalize("NFC")) < MIN_PASSPHRASE_LENGTH) {
    throw new WeakPassphraseError();
  }
  if (
    !Number.isSafeInteger(iterations) ||
    iterations < KEY_FILE_MIN_WRITE_ITERATIONS ||
    iterations > KEY_FILE_MAX_ITERATIONS
  ) {
    throw new RangeError(
      `iterations: between ${KEY_FILE_MIN_WRITE_ITERATIONS} and ${KEY_FILE_MAX_ITERATIONS}`,
    );
  }
  const keyPair = await crypto.subtle.generateKey(EC_ALGORITHM, true, ["deriveBits"]);
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", keyPair.publicKey));
  const keyIdHex = toHex(await sha256(spki));
  const salt = crypto.getRandomValues(new Uint8Array(KEY_FILE_SALT_LENGTH));
  const nonce = crypto.getRandomValues(new Uint8Array(KEY_FILE_NONCE_LENGTH));
  const wrappingKey = await passphraseKey(passphrase, salt, iterations, ["wrapKey"]);
  const encryptedPrivateKey = new Uint8Array(
    await crypto.subtle.wrapKey("pkcs8", keyPair.privateKey, wrappingKey, {
      name: "AES-GCM",
      iv: nonce,
      additionalData: keyFileAad(keyIdHex),
    }),
  );
  const file = {
    format: KEY_FILE_FORMAT,
    version: KEY_FILE_VERSION,
    keyId: keyIdHex,
    publicKey: encodeBase64url(spki),
    created: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    kdf: { name: KEY_FILE_KDF, iterations, salt: encodeBase64url(salt) },
    cipher: { name: KEY_FILE_CIPHER, nonce: encodeBase64url(nonce) },
    encryptedPrivateKey: encodeBase64url(encryptedPrivateKey),
  };
  return { text: `${JSON.stringify(file, null, 2)}\n`, keyId: keyIdHex };
}
