// Registering a health-office key: read (or create) the key file here, send only
// its PUBLIC part. The key file's encrypted private key and the passphrase stay in
// this browser; the form posts publicKey (SPKI, base64url) and keyId, which the
// server checks again (keyId = SHA-256 of the SPKI, P-256, not another office's).

import {
  decodeBase64url,
  formatFingerprint,
  WeakPassphraseError,
  writeKeyFile,
} from "./sealed-record.js";
import { sha256, toHex } from "./bytes.js";
import {
  generatePassphrase,
  pagePassphraseRules,
  passphraseStrength,
} from "./passphrase-strength.js";

const messages = document.getElementById("key-messages").dataset;
const statusLine = document.getElementById("key-status");
const form = document.getElementById("register-key-form");
const rules = pagePassphraseRules();
const proposed = document.getElementById("proposed-passphrase");
const first = document.getElementById("new-passphrase");
const second = document.getElementById("new-passphrase-repeat");

// The default is a proposal (six words, crypto.getRandomValues): it is what the first
// field holds until someone types their own, which must then pass the strength check.
function propose() {
  const passphrase = generatePassphrase(rules);
  proposed.textContent = passphrase;
  first.value = passphrase;
  second.value = "";
}

/** The public part of a key file, checked: the key id must be the SPKI's SHA-256. */
async function publicPart(text) {
  const file = JSON.parse(text);
  if (
    typeof file !== "object" ||
    file === null ||
    file.format !== "gastregister-keyfile" ||
    file.version !== 1 ||
    typeof file.publicKey !== "string" ||
    typeof file.keyId !== "string"
  ) {
    throw new Error("not a key file");
  }
  const spki = decodeBase64url(file.publicKey);
  const keyId = toHex(await sha256(spki));
  if (keyId !== file.keyId) throw new Error("key id does not match");
  return { publicKey: file.publicKey, keyId };
}

function offer({ publicKey, keyId }, note) {
  document.getElementById("public-key").value = publicKey;
  document.getElementById("key-id").value = keyId;
  document.getElementById("key-fingerprint").textContent = formatFingerprint(keyId);
  form.hidden = false;
  statusLine.textContent = note;
}

document.getElementById("key-file").addEventListener("change", async (event) => {
  const file = event.target.files?.[0];
  form.hidden = true;
  if (!file) return;
  try {
    offer(await publicPart(await file.text()), messages.read);
  } catch {
    statusLine.textContent = messages.invalidFile;
  }
});

document.getElementById("new-proposal").addEventListener("click", propose);
propose();

document.getElementById("generate-key").addEventListener("click", async () => {
  if (first.value !== second.value) {
    statusLine.textContent = messages.mismatch;
    return;
  }
  const strength = passphraseStrength(first.value, rules);
  if (!strength.acceptable) {
    statusLine.textContent = strength.longEnough ? messages.guessable : messages.weak;
    return;
  }
  statusLine.textContent = messages.creating;
  try {
    const { text } = await writeKeyFile(first.value);
    first.value = "";
    second.value = "";
    proposed.textContent = "";
    const part = await publicPart(text);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    link.download = `gastregister-key-${part.keyId.slice(0, 8)}.json`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    offer(part, messages.created);
  } catch (error) {
    statusLine.textContent =
      error instanceof WeakPassphraseError ? messages.weak : messages.invalidFile;
  }
});
