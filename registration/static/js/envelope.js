// The sealed record envelope (formats v1 and v2, docs/FORMAT.md §5): its layout,
// the recipient's public key, and sealing a contact record to it. This is all a
// guest's phone and the staff entry load; opening is in envelope-open.js.
// Version 2 has the same layout with its own version byte and info label; its
// record carries the visit's arrival, idempotency key and source.
//
// The Python package `crypto` implements the same format; both accept and reject
// exactly the same envelopes. HPKE (RFC 9180) comes from the pinned, vendored
// @hpke/core (see js/build.sh).

import {
  Aes128Gcm,
  CipherSuite,
  DhkemP256HkdfSha256,
  HkdfSha256,
} from "../vendor/hpke.js";
import { decodeBase64url, encodeBase64url } from "./b64url.js";
import { bytesEqual, concatBytes, sha256 } from "./bytes.js";
import { normaliseContactRecord, RecordSchemaError } from "./contact-record.js";

// Format constants (changing any of them is a new format version)
export const ENVELOPE_VERSIONS = [0x01, 0x02];
const KEM_ID = 0x0010; // DHKEM(P-256, HKDF-SHA256)
const KDF_ID = 0x0001; // HKDF-SHA256
const AEAD_ID = 0x0001; // AES-128-GCM
export const KEY_ID_LENGTH = 32;
export const HEADER_LENGTH = 7 + KEY_ID_LENGTH; // version, suite ids, key id
const ENC_LENGTH = 65; // uncompressed SEC1 P-256 point
export const CIPHERTEXT_OFFSET = HEADER_LENGTH + ENC_LENGTH;
export const TAG_LENGTH = 16;
export const PADDING_BUCKETS = [512, 1024, 2048, 4096, 8192, 16384, 32768];
export const MAX_ENVELOPE_LENGTH =
  CIPHERTEXT_OFFSET + PADDING_BUCKETS[PADDING_BUCKETS.length - 1] + TAG_LENGTH;
export const PADDING_MARKER = 0x80;
const INFO_LABELS = { 1: "gastregister/sealed-record/v1", 2: "gastregister/sealed-record/v2" };
const CONTEXT_CODE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const EC_ALGORITHM = Object.freeze({ name: "ECDH", namedCurve: "P-256" });

const utf8Encoder = new TextEncoder();

export const hpkeSuite = new CipherSuite({
  kem: new DhkemP256HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes128Gcm(),
});

/** Throws a RangeError unless code can be a location or area code (§5.2). */
export function checkContextCode(code, name) {
  if (typeof code !== "string" || !CONTEXT_CODE_PATTERN.test(code)) {
    throw new RangeError(`${name}: expected 1..64 characters [A-Za-z0-9_-]`);
  }
}

function lengthPrefixed(text) {
  const bytes = utf8Encoder.encode(text);
  return concatBytes(new Uint8Array([bytes.length >> 8, bytes.length & 255]), bytes);
}

export function hpkeInfo(locationCode, areaCode, keyId, version = 1) {
  checkContextCode(locationCode, "locationCode");
  checkContextCode(areaCode, "areaCode");
  return concatBytes(
    utf8Encoder.encode(INFO_LABELS[version]),
    lengthPrefixed(locationCode),
    lengthPrefixed(areaCode),
    keyId,
  );
}

export function envelopeHeader(keyId, version = 1) {
  const header = new Uint8Array(HEADER_LENGTH);
  header[0] = version;
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

/**
 * The P-256 public key in spki, or null unless spki is its canonical DER
 * form (named curve, uncompressed point): two encodings of one key would
 * give it two key ids (docs/FORMAT.md §3.2).
 */
export async function importCanonicalSpki(spki) {
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
 * Seals a contact record to the recipient for one location and area.
 * Returns the envelope as unpadded base64url. The record is checked and
 * normalised first (RecordSchemaError); location and area codes are bound
 * into the HPKE info, so the envelope opens only for the same codes. With
 * visit ({ arrival: "YYYY-MM-DDTHH:MM:SSZ", idempotencyKey, source }, exactly
 * as sent to the server) the envelope is version 2 and the health office's
 * reader checks the stored metadata against it; without, version 1.
 */
export async function sealContactRecord(
  recipient,
  record,
  { locationCode, areaCode, visit = undefined } = {},
) {
  const normalised = normaliseContactRecord(record, visit);
  const info = hpkeInfo(locationCode, areaCode, recipient.keyId, normalised.v);
  const json = utf8Encoder.encode(JSON.stringify(normalised));
  // The aad is empty (docs/FORMAT.md §5.2): the header is bound by the reader's
  // checks, the info label and key id, and HPKE's own suite id.
  const { ct, enc } = await hpkeSuite.seal(
    { recipientPublicKey: recipient.key, info },
    padRecord(json),
  );
  return encodeBase64url(
    concatBytes(
      envelopeHeader(recipient.keyId, normalised.v),
      new Uint8Array(enc),
      new Uint8Array(ct),
    ),
  );
}
