// The fixture files (tests/js/fixtures), written by make_fixtures.py from the Python
// rules and exports; test_fixtures.py keeps them current.

import { readFileSync } from "node:fs";

export function fixture(name) {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8"));
}

export function vector(name) {
  return JSON.parse(
    readFileSync(new URL(`../crypto/vectors/${name}`, import.meta.url), "utf8"),
  );
}
