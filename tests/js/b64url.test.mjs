// base64url (registration/static/js/b64url.js): canonical, unpadded, one text per byte string.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";

import { decodeBase64url, encodeBase64url } from "../../registration/static/js/b64url.js";

const CANONICAL = [
  ["", []],
  ["AA", [0x00]],
  ["AAE", [0x00, 0x01]],
  ["_-8", [0xff, 0xef]],
  ["Zm9vYmFy", [...Buffer.from("foobar")]],
];

test("canonical texts decode to their bytes and encode back", () => {
  for (const [text, bytes] of CANONICAL) {
    assert.deepEqual([...decodeBase64url(text)], bytes, text);
    assert.equal(encodeBase64url(new Uint8Array(bytes)), text);
  }
});

test("non-canonical texts are refused with a RangeError", () => {
  const refused = [
    "AA==", // padding
    "AA=",
    "Zm9v YmFy", // whitespace
    "Zm9v\nYmFy",
    "Zm9vYmFy\n",
    "+/8", // the standard alphabet, not the URL-safe one
    "A", // impossible length
    "AAAAA",
    "AB", // non-zero unused bits (2 characters carry 8 bits)
    "AAF", // non-zero unused bits (3 characters carry 16 bits)
    "Zm9vYmFyé",
    "Zm9v\u{1F600}",
  ];
  for (const text of refused) {
    assert.throws(() => decodeBase64url(text), RangeError, JSON.stringify(text));
  }
  assert.throws(() => decodeBase64url(null), RangeError);
});

test("agrees with Node's own base64url both ways, every length up to 70 bytes", () => {
  for (let length = 0; length <= 70; length++) {
    const bytes = randomBytes(length);
    const text = bytes.toString("base64url");
    assert.equal(encodeBase64url(bytes), text);
    assert.deepEqual(Buffer.from(decodeBase64url(text)), bytes);
  }
});

test("accepts an ArrayBuffer as well as a Uint8Array", () => {
  assert.equal(encodeBase64url(new Uint8Array([1, 2, 3, 4]).buffer), "AQIDBA");
});
