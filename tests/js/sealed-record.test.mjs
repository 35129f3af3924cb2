// The sealed-record modules (envelope.js, envelope-open.js, key-file.js, record-opener.js)
// on Node's WebCrypto, against the committed format vectors (tests/crypto/vectors) that
// the Python package and the browser tests use too.

import assert from "node:assert/strict";
import { test } from "node:test";

import { decodeBase64url } from "../../registration/static/js/b64url.js";
import { EC_ALGORITHM } from "../../registration/static/js/envelope.js";
import {
  importRecipientPublicKey,
  openContactRecord,
  openContactRecords,
  readKeyFile,
  sealContactRecord,
  SealedRecordError,
  writeKeyFile,
} from "../../registration/static/js/sealed-record.js";
import { vector } from "./fixtures.mjs";

const SEALED = vector("sealed-record-v1.json");
const SEALED_V2 = vector("sealed-record-v2.json");
const KEY_FILES = vector("keyfile-v1.json");

/** The handle readKeyFile makes, from a vector's PKCS#8 key. */
async function handle({ privateKeyPkcs8, keyId }) {
  const pkcs8 = decodeBase64url(privateKeyPkcs8);
  const extractable = await crypto.subtle.importKey("pkcs8", pkcs8, EC_ALGORITHM, true, ["deriveBits"]);
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", extractable);
  const publicKey = await crypto.subtle.importKey("jwk", { kty, crv, x, y }, EC_ALGORITHM, true, []);
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, EC_ALGORITHM, false, ["deriveBits"]);
  return { keyId: Buffer.from(keyId, "hex"), keyPair: { privateKey, publicKey } };
}

const handles = Object.fromEntries(
  await Promise.all(
    Object.entries(SEALED.keys).map(async ([name, key]) => [name, await handle(key)]),
  ),
);

async function outcome(names, envelope, codes) {
  // As crypto.open_with_any_key: an answer other than wrong_key from one key is the answer.
  for (const name of names) {
    try {
      return { record: await openContactRecord(handles[name], envelope, codes) };
    } catch (error) {
      assert.ok(error instanceof SealedRecordError, String(error));
      if (error.kind !== "wrong_key") return { kind: error.kind };
    }
  }
  return { kind: "wrong_key" };
}

test("every sealed-record vector (v1 and v2) gives its expected outcome", async () => {
  for (const item of [...SEALED.vectors, ...SEALED_V2.vectors]) {
    const result = await outcome(item.openWith, item.envelope, {
      locationCode: item.locationCode,
      areaCode: item.areaCode,
    });
    const expected = item.expected === "ok" ? { record: item.record } : { kind: item.expected };
    assert.deepEqual(result, expected, item.name);
  }
});

test("every key-file vector gives its expected outcome", async () => {
  for (const item of KEY_FILES.vectors) {
    let result;
    try {
      const key = await readKeyFile(item.keyFile, item.passphrase);
      result = { keyId: key.keyId, created: key.created };
    } catch (error) {
      result = { kind: error.kind };
    }
    const expected =
      item.expected === "ok" ? { keyId: item.keyId, created: item.created } : { kind: item.expected };
    assert.deepEqual(result, expected, item.name);
  }
});

test("sealed here, opened here; bound to its location and area", async () => {
  const { text } = await writeKeyFile("a passphrase of some length");
  const key = await readKeyFile(new TextEncoder().encode(text), "a passphrase of some length");
  const recipient = await importRecipientPublicKey(Buffer.from(key.publicKeySpki).toString("base64url"));
  const codes = { locationCode: "loc-1", areaCode: "area_2" };
  const envelope = await sealContactRecord(recipient, { firstName: "Ä", lastName: "😀" }, codes);
  const record = await openContactRecord(key.privateKey, envelope, codes);
  assert.equal(record.lastName, "😀");
  const elsewhere = await outcomeOf(key.privateKey, envelope, { ...codes, areaCode: "area_3" });
  assert.equal(elsewhere, "decryption_failed");
  const many = await openContactRecords(key.privateKey, [envelope, "AA"], codes, { workers: 0 });
  assert.deepEqual(many[0], { record });
  assert.equal(many[1].error.kind, "unknown_version");
  assert.equal(Buffer.from(envelope, "base64url")[0], 1);
});

test("sealed with a visit: version 2, the visit bound inside the record", async () => {
  const { text } = await writeKeyFile("a passphrase of some length");
  const key = await readKeyFile(new TextEncoder().encode(text), "a passphrase of some length");
  const recipient = await importRecipientPublicKey(Buffer.from(key.publicKeySpki).toString("base64url"));
  const visit = {
    arrival: "2026-11-20T18:30:05Z",
    idempotencyKey: "0123456789abcdef",
    source: "staff_entry",
  };
  const codes = { locationCode: "loc-1", areaCode: "area_2" };
  const envelope = await sealContactRecord(recipient, { firstName: "A" }, { ...codes, visit });
  assert.equal(Buffer.from(envelope, "base64url")[0], 2);
  const record = await openContactRecord(key.privateKey, envelope, codes);
  assert.deepEqual(
    { v: record.v, arrival: record.arrival, idempotencyKey: record.idempotencyKey, source: record.source },
    { v: 2, ...visit },
  );
  await assert.rejects(
    sealContactRecord(recipient, {}, { ...codes, visit: { ...visit, arrival: "2026-11-20T18:30:05.123Z" } }),
    (error) => error.field === "arrival" && error.reason === "not_a_time",
  );
});

async function outcomeOf(privateKey, envelope, codes) {
  try {
    await openContactRecord(privateKey, envelope, codes);
    return "ok";
  } catch (error) {
    return error.kind;
  }
}

/** Counts calls of the named crypto.subtle methods while `work` runs. */
async function countSubtleCalls(names, work) {
  const subtle = globalThis.crypto.subtle;
  const counts = Object.fromEntries(names.map((name) => [name, 0]));
  for (const name of names) {
    const original = subtle[name];
    subtle[name] = function (...args) {
      counts[name] += 1;
      return original.apply(this, args);
    };
  }
  try {
    await work();
  } finally {
    for (const name of names) delete subtle[name];
  }
  return counts;
}

/** A new key (read from its key file) and its recipient public key, for sealing to it. */
async function newKey(passphrase = "a passphrase of some length") {
  const { text } = await writeKeyFile(passphrase);
  const key = await readKeyFile(new TextEncoder().encode(text), passphrase);
  const recipient = await importRecipientPublicKey(Buffer.from(key.publicKeySpki).toString("base64url"));
  return { key, recipient };
}

/** One envelope per first name, sealed to `recipient` for `codes`. */
function sealNames(recipient, names, codes) {
  return Promise.all(names.map((firstName) => sealContactRecord(recipient, { firstName }, codes)));
}

/**
 * Twelve records of one area, sealed to a new key, and open(list), which opens the
 * given ones in turn and collects their first names in `opened`.
 */
async function oneAreaOpener(locationCode) {
  const { key, recipient } = await newKey();
  const codes = { locationCode, areaCode: "terrasse" };
  const names = Array.from({ length: 12 }, (_, i) => `Gast ${i}`);
  const envelopes = await sealNames(recipient, names, codes);
  const opened = [];
  const open = async (list) => {
    for (const envelope of list) opened.push((await openContactRecord(key.privateKey, envelope, codes)).firstName);
  };
  return { key, codes, names, envelopes, opened, open };
}

test("records of one area share the key schedule's area values; nothing else is kept", async () => {
  const { key, codes, names, envelopes, opened, open } = await oneAreaOpener("schedule-test");
  await open(envelopes.slice(0, 2));
  // psk_id_hash and info_hash (one HMAC each) are the same for every record of the
  // area: made once, not per record. Each record still imports its own enc point,
  // its shared secret for HKDF, and its AES key.
  const calls = await countSubtleCalls(["sign", "importKey"], () => open(envelopes.slice(2)));
  assert.ok(calls.importKey >= 10, "the count sees the opener's calls");
  assert.equal(calls.sign, 0);
  assert.ok(calls.importKey <= 3 * 10, `importKey ${calls.importKey} times for 10 records`);
  assert.deepEqual(opened, names);
  // Another area's info is its own: its records open only there.
  const elsewhere = await outcomeOf(key.privateKey, envelopes[0], { ...codes, areaCode: "keller" });
  assert.equal(elsewhere, "decryption_failed");
});

test("opening derives no exporter secret: one ECDH and three HKDF calls per record", async () => {
  // RFC 9180's key schedule derives the exporter secret beside key and base_nonce; only a
  // context's export() reads it, and opening uses open() alone, which drops the context.
  // Per record: ECDH (dh), then HKDF for the shared secret, the key and the base nonce.
  const { key, codes, names, envelopes, opened, open } = await oneAreaOpener("exporter-test");
  await open(envelopes.slice(0, 2));
  const calls = await countSubtleCalls(["deriveBits"], () => open(envelopes.slice(2)));
  assert.deepEqual(opened, names);
  assert.equal(calls.deriveBits, 4 * 10, `deriveBits ${calls.deriveBits} times for 10 records`);
  // What the records open to still depends on the key and base nonce: a changed byte
  // of the ciphertext, or another area's info, fails the open.
  const raw = Buffer.from(envelopes[0], "base64url");
  raw[raw.length - 1] ^= 1;
  assert.equal(await outcomeOf(key.privateKey, raw.toString("base64url"), codes), "decryption_failed");
  assert.equal(
    await outcomeOf(key.privateKey, envelopes[0], { ...codes, areaCode: "keller" }),
    "decryption_failed",
  );
});

test("the recipient's public key is exported once per key, not once per record", async () => {
  // Decapsulation serializes pkRm for the KEM context of every record (RFC 9180 §4.1):
  // the same bytes for every record of a key, so one export per key object.
  const { key, recipient } = await newKey();
  const codes = { locationCode: "export-test", areaCode: "terrasse" };
  const names = Array.from({ length: 10 }, (_, i) => `Gast ${i}`);
  const envelopes = await sealNames(recipient, names, codes);
  const opened = [];
  const calls = await countSubtleCalls(["exportKey"], async () => {
    for (const envelope of envelopes) {
      opened.push((await openContactRecord(key.privateKey, envelope, codes)).firstName);
    }
  });
  assert.deepEqual(opened, names);
  assert.ok(calls.exportKey <= 1, `exportKey ${calls.exportKey} times for 10 records`);
  // Another key is exported for itself: its records open with it (a pkRm of the first
  // key in their KEM context would fail them), interleaved with the first key's.
  const other = await newKey("another passphrase of some length");
  const [theirs] = await sealNames(other.recipient, ["Gast X"], codes);
  assert.equal((await openContactRecord(other.key.privateKey, theirs, codes)).firstName, "Gast X");
  assert.equal((await openContactRecord(key.privateKey, envelopes[0], codes)).firstName, "Gast 0");
  assert.equal(await outcomeOf(key.privateKey, theirs, codes), "wrong_key");
});
