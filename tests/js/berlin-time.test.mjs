// A staff entry's local time in UTC (berlin-time.js) is the instant the server stores
// (fixtures/berlin-times.json, made with the server's parse_local_time), also in the
// hour that is skipped in spring and the one that repeats in autumn.

import assert from "node:assert/strict";
import { test } from "node:test";

import { berlinWallTimeToUtc } from "../../registration/static/js/berlin-time.js";
import { fixture } from "./fixtures.mjs";

test("local Berlin times become the server's UTC instants", () => {
  for (const { local, utc } of fixture("berlin-times.json")) {
    assert.equal(berlinWallTimeToUtc(local), utc, local);
  }
});

test("anything but a local date and time is refused", () => {
  for (const text of ["", "2026-11-20", "2026-11-20T19", "2026-02-30T10:00", "2026-11-20T24:00", "2026-11-20T19:30Z", null]) {
    assert.equal(berlinWallTimeToUtc(text), null, String(text));
  }
});
