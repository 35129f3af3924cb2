// passphrase-strength.js against crypto/passphrase.py: the same verdict for every case
// Python judged (fixtures/passphrase-cases.json), and proposals that pass it.

import { test } from "node:test";
import assert from "node:assert/strict";

import { fixture } from "./fixtures.mjs";
import {
  generatePassphrase,
  passphraseStrength,
} from "../../registration/static/js/passphrase-strength.js";

const rules = fixture("passphrase-rules.json");

for (const expected of fixture("passphrase-cases.json")) {
  test(`same verdict as Python: ${JSON.stringify(expected.passphrase)}`, () => {
    const strength = passphraseStrength(expected.passphrase, rules);
    assert.equal(strength.acceptable, expected.acceptable);
    assert.equal(strength.longEnough, expected.longEnough);
    assert.equal(strength.score, expected.score);
    // The two ports differ slightly in scoring dates and years (01.01.1990: 10^11.0 here,
    // 10^10.9 in Python); a difference of half an order of magnitude would be a change.
    assert.ok(
      Math.abs(strength.guessesLog10 - expected.guessesLog10) < 0.5,
      `guesses 10^${strength.guessesLog10} here, 10^${expected.guessesLog10} in Python`,
    );
  });
}

test("the weak passphrases of the issue are refused", () => {
  for (const weak of ["aaaaaaaaaaaa", "Passwort1234"]) {
    assert.equal(passphraseStrength(weak, rules).acceptable, false);
  }
});

test("a proposal is six words of the list, and passes", () => {
  const words = new Set(rules.words);
  const seen = new Set();
  for (let i = 0; i < 20; i += 1) {
    const proposal = generatePassphrase(rules);
    const parts = proposal.split("-");
    assert.equal(parts.length, 6);
    assert.ok(parts.every((word) => words.has(word)));
    assert.ok(passphraseStrength(proposal, rules).acceptable);
    seen.add(proposal);
  }
  assert.equal(seen.size, 20);
});

test("words are drawn without modulo bias: out-of-range draws are discarded", () => {
  // 2^32 is not a multiple of 7776: the values at the very top are drawn again.
  const draws = [0xffffffff, 0, 1, 2, 3, 4, 5];
  const proposal = generatePassphrase(rules, (array) => {
    array[0] = draws.shift() ?? 6;
    return array;
  });
  assert.deepEqual(proposal.split("-"), rules.words.slice(0, 6));
});
