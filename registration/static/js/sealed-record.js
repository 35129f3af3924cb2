// Sealed contact records (format v1) and health-office key files in the browser:
// the public API, one import for the health office's pages and the tests.
//
// The guest's phone seals the contact record to the health office's public key
// before anything leaves the page, and the health office opens records and
// loads its key file in its own browser, so the private key never reaches the
// server. The byte format is docs/FORMAT.md (format v1); the Python package
// `crypto` implements it too. Each part has its own module:
//
//   b64url.js          base64url, canonical and unpadded (§7.1)
//   contact-record.js  the record schema: check and complete a record (§6)
//   envelope.js        the envelope layout, the recipient's key, sealing (§5.1-5.3)
//   envelope-open.js   opening one envelope (§5.4)
//   record-opener.js   opening many on a pool of workers, which run this module
//   key-file.js        reading and writing key files, fingerprints (§3.3, §4)
//
// The guest page and the staff entry import envelope.js alone, so a phone loads
// only what sealing needs.

export { decodeBase64url, encodeBase64url } from "./b64url.js";
export { normaliseContactRecord, RecordSchemaError } from "./contact-record.js";
export { importRecipientPublicKey, sealContactRecord } from "./envelope.js";
export { openContactRecord, SealedRecordError } from "./envelope-open.js";
export {
  formatFingerprint,
  KeyFileError,
  readKeyFile,
  WeakPassphraseError,
  writeKeyFile,
} from "./key-file.js";
export { openContactRecords } from "./record-opener.js";
