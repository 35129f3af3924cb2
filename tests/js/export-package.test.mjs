// The export-package vectors (tests/crypto/vectors/export-package-v1.json) through the
// browser's reader (decrypt-rows.js): the package's outcome and every visit's, the same
// that health_export (test_package_vectors.py) gives, visit for visit.

import assert from "node:assert/strict";
import { test } from "node:test";

import { decodeBase64url } from "../../registration/static/js/b64url.js";
import { openPackage, visitRows, yieldToPage } from "../../registration/static/js/decrypt-rows.js";
import { PackageFormatError, parsePackage } from "../../registration/static/js/export-package.js";
import { EC_ALGORITHM } from "../../registration/static/js/envelope.js";
import { readExportLayout } from "../../registration/static/js/export-layout.js";
import { fixture, vector } from "./fixtures.mjs";

const LAYOUT = readExportLayout(fixture("export-layout.json"));

const PACKAGES = vector("export-package-v1.json");

/** A key as readKeyFile returns it, from a vector's PKCS#8 key. */
async function officeKey({ privateKeyPkcs8, keyId }) {
  const pkcs8 = decodeBase64url(privateKeyPkcs8);
  const extractable = await crypto.subtle.importKey("pkcs8", pkcs8, EC_ALGORITHM, true, ["deriveBits"]);
  const { kty, crv, x, y } = await crypto.subtle.exportKey("jwk", extractable);
  const publicKey = await crypto.subtle.importKey("jwk", { kty, crv, x, y }, EC_ALGORITHM, true, []);
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, EC_ALGORITHM, false, ["deriveBits"]);
  return {
    keyId,
    privateKey: { keyId: Buffer.from(keyId, "hex"), keyPair: { privateKey, publicKey } },
  };
}

const KEYS = Object.fromEntries(
  await Promise.all(
    Object.entries(PACKAGES.keys).map(async ([name, key]) => [name, await officeKey(key)]),
  ),
);

async function outcomes(item) {
  let pkg;
  try {
    pkg = await parsePackage(new TextEncoder().encode(item.package));
  } catch (error) {
    assert.ok(error instanceof PackageFormatError, String(error));
    return { expected: error.kind };
  }
  const result = await openPackage(
    pkg,
    item.openWith.map((name) => KEYS[name]),
    () => {},
    { workers: 0 },
  );
  const visits = new Map(result.visits.map((visit) => [visit.number, "ok"]));
  for (const failure of result.failures) visits.set(failure.number, failure.kind);
  return {
    expected: "ok",
    visits: [...visits.keys()]
      .sort((a, b) => a - b)
      .map((number) => ({ visit: number, outcome: visits.get(number) })),
    unbound: result.unbound,
  };
}

test("every export-package vector gives its expected outcome, visit for visit", async () => {
  for (const item of PACKAGES.vectors) {
    const expected = { expected: item.expected };
    if (item.expected === "ok") Object.assign(expected, { visits: item.visits, unbound: item.unbound });
    assert.deepEqual(await outcomes(item), expected, item.name);
  }
});

test("a visit delivered late keeps its mark into the rows, as in the CLI", async () => {
  const item = PACKAGES.vectors.find((vector) => vector.name === "visits-checked");
  const pkg = await parsePackage(new TextEncoder().encode(item.package));
  const keys = item.openWith.map((name) => KEYS[name]);
  const result = await openPackage(pkg, keys, () => {}, { workers: 0 });
  const late = result.visits.filter((visit) => visit.deliveredLate).map((visit) => visit.record.firstName);
  assert.deepEqual(late, ["Ulla"]);
  const marks = new Map(visitRows(result.visits, LAYOUT).map(({ cells }) => [cells[8], cells.at(-1)]));
  assert.equal(marks.get("Ulla"), "ja");
  assert.equal(marks.get("Udo"), "nein");
  assert.equal(LAYOUT.columns.at(-1), "Verspätet übermittelt");
});

test("long loops give the page its turn with a posted task, not scheduler.yield", async () => {
  // Chromium runs scheduler.yield()'s continuation ahead of rendering, so a loop that
  // yields that way still holds back frames for up to 100 ms; a posted task does not.
  const posted = [];
  globalThis.scheduler = {
    yield() {
      throw new Error("scheduler.yield");
    },
    postTask(callback, options) {
      posted.push(options?.priority);
      return Promise.resolve().then(callback);
    },
  };
  try {
    await yieldToPage();
  } finally {
    delete globalThis.scheduler;
  }
  assert.deepEqual(posted, ["user-visible"]);
});
