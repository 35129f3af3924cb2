// Opening a sealed record envelope (formats v1 and v2, docs/FORMAT.md §5.4) with a health
// office's private key: the checks in the order crypto/envelope.py runs them, so
// both implementations give the same kind for the same envelope.

import { Aes128Gcm, CipherSuite, DhkemP256HkdfSha256, HkdfSha256 } from "../vendor/hpke.js";
import { decodeBase64url } from "./b64url.js";
import { bytesEqual } from "./bytes.js";
import { checkOpenedRecord } from "./contact-record.js";
import {
  CIPHERTEXT_OFFSET,
  EC_ALGORITHM,
  ENVELOPE_VERSIONS,
  envelopeHeader,
  HEADER_LENGTH,
  hpkeInfo,
  KEY_ID_LENGTH,
  MAX_ENVELOPE_LENGTH,
  PADDING_BUCKETS,
  PADDING_MARKER,
  TAG_LENGTH,
} from "./envelope.js";
import { decodeUtf8Strict, parseJsonStrict } from "./strict-json.js";

/**
 * A sealed record could not be opened. Callers show one message for every
 * kind; `kind` is for tests and logs (docs/FORMAT.md §9.1 lists them).
 */
export class SealedRecordError extends Error {
  constructor(kind) {
    super(`sealed record rejected (${kind})`);
    this.name = "SealedRecordError";
    this.kind = kind;
  }
}

// HPKE's key schedule (RFC 9180 §5.1) spends half of its WebCrypto calls on values
// that are the same for every record of an area: psk_id_hash (no PSK), info_hash
// (the info is the area's public context) and the HKDF key made from the "secret"
// label (again no PSK). Made per record, those calls cost about a tenth of the CPU
// that opening takes. This KDF is @hpke/core's HKDF-SHA256 with those results kept:
// each is still computed once by the library (or by WebCrypto's HKDF, the same call
// the library makes), and nothing derived from a record's shared secret is kept.
//
// It also leaves out one derivation: the exporter secret, which only a context's
// export() reads (RFC 9180 §5.3). The opening suite is used through its single-shot
// open() alone, which drops the context once the record is decrypted, so nothing can
// read that secret; deriving it was one HKDF call in each record's nine WebCrypto
// calls, about a twentieth of the CPU an open costs. The context gets zero bytes in
// its place. key and base_nonce, which decrypt the record, are derived as before.
const utf8 = new TextEncoder();
const PUBLIC_EXTRACT_LABELS = ["psk_id_hash", "info_hash"];
const MAX_KEPT_EXTRACTS = 256; // distinct infos (areas x versions x keys) before starting over

function latin1(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 4096));
  }
  return text;
}

function asBytes(data) {
  return ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
}

class KeyScheduleHkdf extends HkdfSha256 {
  #extracts = new Map();
  #publicLabels = PUBLIC_EXTRACT_LABELS.map((label) => latin1(utf8.encode(label)));
  #secretIkm = null;
  #secretIkmKey = null;
  #exporterInfoPrefix = null;

  init(suiteId) {
    super.init(suiteId);
    // LabeledExtract(shared_secret, "secret", psk) with psk empty: this IKM never changes.
    this.#secretIkm = this.buildLabeledIkm(utf8.encode("secret"), new Uint8Array(0));
    this.#secretIkmKey = null;
    // LabeledExpand(secret, "exp", key_schedule_context, Nh): its info up to the context.
    this.#exporterInfoPrefix = this.buildLabeledInfo(
      utf8.encode("exp"),
      new Uint8Array(0),
      this.hashSize,
    );
  }

  async labeledExtract(salt, label, ikm) {
    const labelText = latin1(asBytes(label));
    if (asBytes(salt).length !== 0 || !this.#publicLabels.includes(labelText)) {
      return super.labeledExtract(salt, label, ikm);
    }
    const key = `${labelText}\n${latin1(asBytes(ikm))}`;
    let result = this.#extracts.get(key);
    if (result === undefined) {
      if (this.#extracts.size >= MAX_KEPT_EXTRACTS) this.#extracts.clear();
      result = super.labeledExtract(salt, label, ikm);
      this.#extracts.set(key, result);
      result.catch(() => this.#extracts.delete(key));
    }
    return (await result).slice(0); // a copy: the caller owns what it gets
  }

  async extractAndExpand(salt, ikm, info, len) {
    if (this.#secretIkm === null || !bytesEqual(asBytes(ikm), this.#secretIkm)) {
      return super.extractAndExpand(salt, ikm, info, len);
    }
    const infoBytes = asBytes(info);
    const prefix = this.#exporterInfoPrefix;
    if (bytesEqual(infoBytes.subarray(0, prefix.length), prefix)) {
      return new ArrayBuffer(len); // the exporter secret, which nothing reads (see above)
    }
    if (this.#secretIkmKey === null) {
      const imported = crypto.subtle.importKey("raw", this.#secretIkm, "HKDF", false, [
        "deriveBits",
      ]);
      this.#secretIkmKey = imported;
      imported.catch(() => {
        if (this.#secretIkmKey === imported) this.#secretIkmKey = null; // the next call tries again
      });
    }
    return crypto.subtle.deriveBits(
      { name: "HKDF", hash: "SHA-256", salt: asBytes(salt), info: infoBytes },
      await this.#secretIkmKey,
      len * 8,
    );
  }
}

// @hpke/core's decapsulation serializes the recipient's public key for every record
// (the KEM context is enc || pkRm), a WebCrypto export of a value that never changes
// for a key: about a twentieth of what opening costs. This KEM keeps the export per
// public key (a CryptoKey; the key handles a worker receives are its own objects).
// Only the public key is kept, and only what the library itself computed.
class OpeningKem extends DhkemP256HkdfSha256 {
  constructor() {
    super();
    const primitives = this._prim;
    const serialize = primitives.serializePublicKey.bind(primitives);
    const serialized = new WeakMap();
    primitives.serializePublicKey = async (key) => {
      let exported = serialized.get(key);
      if (exported === undefined) {
        exported = serialize(key);
        serialized.set(key, exported);
        exported.catch(() => serialized.delete(key)); // the next call tries again
      }
      return (await exported).slice(0); // a copy: the caller owns what it gets
    };
  }
}

// The suite of envelope.js (DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM)
// with the KEM and KDF above, for opening only and only through open(): its contexts
// carry no exporter secret (KeyScheduleHkdf). Sealing (the guest page) keeps the
// plain suite.
const openingSuite = new CipherSuite({
  kem: new OpeningKem(),
  kdf: new KeyScheduleHkdf(),
  aead: new Aes128Gcm(),
});

const MAX_ENVELOPE_TEXT_LENGTH = Math.ceil((MAX_ENVELOPE_LENGTH * 4) / 3);
const SUITE_BYTES = envelopeHeader(new Uint8Array(KEY_ID_LENGTH)).subarray(1, 7);

function unpadRecord(padded) {
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  if (end < 0 || padded[end] !== PADDING_MARKER) {
    throw new SealedRecordError("bad_padding");
  }
  return padded.subarray(0, end);
}

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
  if (!ENVELOPE_VERSIONS.includes(envelope[0])) {
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
    version: envelope[0],
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

// The HPKE info of each location, area and version, per key id (hpkeInfo), made once:
// a package's records share a handful, and @hpke/core copies the info it is given.
const areaInfos = new WeakMap();

function areaInfo(locationCode, areaCode, keyId, version) {
  if (typeof locationCode !== "string" || typeof areaCode !== "string") {
    return hpkeInfo(locationCode, areaCode, keyId, version); // which says what is wrong
  }
  let infos = areaInfos.get(keyId);
  if (infos === undefined) {
    infos = new Map();
    areaInfos.set(keyId, infos);
  }
  const name = `${version}\n${locationCode}\n${areaCode}`;
  let info = infos.get(name);
  if (info === undefined) {
    info = hpkeInfo(locationCode, areaCode, keyId, version);
    if (infos.size >= MAX_KEPT_EXTRACTS) infos.clear();
    infos.set(name, info);
  }
  return info;
}

/**
 * Opens a sealed contact record with a private key handle from readKeyFile
 * for the given location and area. Returns the normalised record (its v is
 * the envelope's version; a version 2 record carries the bound arrival,
 * idempotencyKey and source); every failure is a SealedRecordError whose kind
 * says why.
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
  const { version, keyId: envelopeKeyId, enc, ciphertext } = parseEnvelope(envelopeBase64url);
  if (!bytesEqual(envelopeKeyId, keyId)) {
    await checkEphemeralPoint(enc);
    throw new SealedRecordError("wrong_key");
  }
  const info = areaInfo(locationCode, areaCode, keyId, version);
  let padded;
  try {
    padded = new Uint8Array(
      await openingSuite.open({ recipientKey: keyPair, enc, info }, ciphertext), // empty aad
    );
  } catch {
    await checkEphemeralPoint(enc);
    throw new SealedRecordError("decryption_failed");
  }
  try {
    let record;
    try {
      record = checkOpenedRecord(
        parseJsonStrict(decodeUtf8Strict(unpadRecord(padded))),
        version,
      );
    } catch (error) {
      throw error instanceof SealedRecordError ? error : new SealedRecordError("bad_record");
    }
    return record;
  } finally {
    padded.fill(0);
  }
}
