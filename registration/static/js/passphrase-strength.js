// Key-file passphrases in the browser, by the rules of crypto/passphrase.py: propose six
// words from the German list (drawn with crypto.getRandomValues), and judge a chosen
// passphrase with zxcvbn — the npm build of the estimator that the Python package ports —
// with the same inputs and threshold. The rules (word list, threshold, service words)
// come from the page (#passphrase-rules, passphrase.client_rules); the node tests hold
// this module to the verdicts Python computed (tests/js/fixtures/passphrase-cases.json).
// Only the key page loads it: zxcvbn's word lists are large.

import { zxcvbn } from "../vendor/zxcvbn.js";

// zxcvbn's Python port counts code points, the npm build UTF-16 code units: a character
// beyond U+FFFF (an emoji) would be two characters here and one in Python. So that both
// judge the same sequence of characters, each such character reaches the estimator as
// one character of the Private Use Area (distinct ones stay distinct, consecutive ones
// stay consecutive, except at the rare wrap-around of the 6,400 private-use points).
const PRIVATE_USE_START = 0xe000;
const PRIVATE_USE_SIZE = 0x1900;

function oneUnitPerCodePoint(codePoints) {
  return codePoints
    .map((character) => {
      const point = character.codePointAt(0);
      return point > 0xffff
        ? String.fromCharCode(PRIVATE_USE_START + ((point - 0x10000) % PRIVATE_USE_SIZE))
        : character;
    })
    .join("");
}

/** The rules the page carries as JSON in #passphrase-rules. */
export function pagePassphraseRules(doc = document) {
  return JSON.parse(doc.getElementById("passphrase-rules").textContent);
}

/**
 * zxcvbn's estimate and the verdict: at least minLength code points after NFC, and at
 * least 10^minGuessesLog10 guesses for the first maxCheckedLength code points.
 */
export function passphraseStrength(passphrase, rules) {
  const codePoints = Array.from(passphrase.normalize("NFC"));
  if (codePoints.length === 0) {
    return { length: 0, guessesLog10: 0, score: 0, longEnough: false, acceptable: false };
  }
  const checked = oneUnitPerCodePoint(codePoints.slice(0, rules.maxCheckedLength));
  const result = zxcvbn(checked, [...rules.contextWords, ...rules.words]);
  const longEnough = codePoints.length >= rules.minLength;
  return {
    length: codePoints.length,
    guessesLog10: result.guesses_log10,
    score: result.score,
    longEnough,
    acceptable: longEnough && result.guesses_log10 >= rules.minGuessesLog10,
  };
}

/** A uniformly drawn index below `size` (rejection sampling, no modulo bias). */
function uniformIndex(size, randomValues) {
  const limit = Math.floor(0x100000000 / size) * size;
  const buffer = new Uint32Array(1);
  for (;;) {
    randomValues(buffer);
    if (buffer[0] < limit) return buffer[0] % size;
  }
}

/** Six words from the list, joined by hyphens; a draw the estimator refuses is redrawn. */
export function generatePassphrase(
  rules,
  randomValues = (array) => globalThis.crypto.getRandomValues(array),
) {
  for (;;) {
    const words = [];
    for (let i = 0; i < rules.generatedWords; i += 1) {
      words.push(rules.words[uniformIndex(rules.words.length, randomValues)]);
    }
    const passphrase = words.join(rules.separator);
    if (passphraseStrength(passphrase, rules).acceptable) return passphrase;
  }
}
