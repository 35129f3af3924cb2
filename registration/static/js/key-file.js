// Health-office key files (format v1, docs/FORMAT.md §4): read one with its
// passphrase in the office's browser, or write a new one; and key fingerprints. The private key never
// leaves the browser; the checks run in the order crypto/keyfile.py runs them, so
// both readers give the same kind for the same file.

import { decodeBase64url, encodeBase64url } from "./b64url.js";
import { bytesEqual, sha256, toHex } from "./bytes.js";
import { codePointLength } from "./contact-record.js";
import { EC_ALGORITHM, importCanonicalSpki } from "./envelope.js";
import { decodeUtf8Strict, hasOwn, isPlainObject, parseJsonStrict } from "./strict-json.js";

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
const GCM_TAG_LENGTH = 16;
const MIN_PASSPHRASE_LENGTH = 12;

const utf8Encoder = new TextEncoder();

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

/** Human form of a key fingerprint: 16 groups of 4 upper-case hex digits (§3.3). */
export function formatFingerprint(keyIdHex) {
  if (typeof keyIdHex !== "string" || !/^[0-9a-fA-F]{64}$/.test(keyIdHex)) {
    throw new RangeError("fingerprint: expected 64 hex digits");
  }
  return keyIdHex.toUpperCase().match(/.{4}/g).join(" ");
}

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
      text = decodeUtf8Strict(bytes); // a BOM stays and fails JSON.parse below
    } catch {
      throw new KeyFileError("malformed");
    }
  }
  if (typeof text !== "string" || utf8Encoder.encode(text).length > MAX_KEY_FILE_BYTES) {
    throw new KeyFileError("malformed");
  }
  let file;
  try {
    file = parseJsonStrict(text);
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
  if (encryptedPrivateKey.length <= GCM_TAG_LENGTH) {
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
