// The decryption page's remembered choices (registration/static/js/decrypt-preferences.js):
// per user, validated on reading, and harmless when storage is missing or broken.

import assert from "node:assert/strict";
import { test } from "node:test";

import { userPreferences } from "../../registration/static/js/decrypt-preferences.js";

function memoryStorage(initial = {}) {
  const items = new Map(Object.entries(initial));
  return {
    items,
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => items.set(key, String(value)),
  };
}

const isSeparator = (value) => [",", ";", "tab"].includes(value);

test("each user keeps their own choices", () => {
  const storage = memoryStorage();
  userPreferences(storage, "7").set("csvSeparator", ",");
  assert.equal(userPreferences(storage, "7").get("csvSeparator", isSeparator), ",");
  assert.equal(userPreferences(storage, "8").get("csvSeparator", isSeparator), undefined);
  userPreferences(storage, "8").set("csvSeparator", "tab");
  assert.equal(userPreferences(storage, "7").get("csvSeparator", isSeparator), ",");
  assert.deepEqual([...storage.items.keys()].sort(), [
    "gastregister.decrypt.7",
    "gastregister.decrypt.8",
  ]);
});

test("a stored value the page would not offer is ignored", () => {
  const storage = memoryStorage({ "gastregister.decrypt.7": '{"csvSeparator":"|"}' });
  assert.equal(userPreferences(storage, "7").get("csvSeparator", isSeparator), undefined);
  for (const broken of ["not json", "[1]", "null", '"text"']) {
    const prefs = userPreferences(memoryStorage({ "gastregister.decrypt.7": broken }), "7");
    assert.equal(prefs.get("csvSeparator", isSeparator), undefined, broken);
  }
  const prefs = userPreferences(memoryStorage(), "7");
  assert.equal(prefs.get("__proto__", () => true), undefined);
  assert.equal(prefs.get("toString", () => true), undefined);
});

test("without storage or a user, choices last for the page only", () => {
  for (const [storage, user] of [[null, "7"], [memoryStorage(), ""]]) {
    const prefs = userPreferences(storage, user);
    prefs.set("csvSeparator", ",");
    assert.equal(prefs.get("csvSeparator", isSeparator), ",");
  }
  const refusing = {
    getItem() {
      throw new Error("SecurityError");
    },
    setItem() {
      throw new Error("QuotaExceededError");
    },
  };
  const prefs = userPreferences(refusing, "7");
  prefs.set("csvSeparator", "tab");
  assert.equal(prefs.get("csvSeparator", isSeparator), "tab");
});
