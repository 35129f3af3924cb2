// ESLint for the browser modules (registration/static/js) and their unit tests
// (tests/js, run by node --test). `make js-lint` runs it from the repository root:
//
//   js/lint/node_modules/.bin/eslint --config js/lint/eslint.config.js
//
// The recommended rules, nothing switched off: findings are fixed, not silenced.

import js from "@eslint/js";
import globals from "globals";

export default [
  {
    ignores: ["registration/static/vendor/**", "**/node_modules/**"],
  },
  js.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: "error" },
  },
  {
    files: ["registration/static/js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      // Pages and the record opener's workers (record-opener.js) run these modules.
      globals: { ...globals.browser, ...globals.worker },
    },
  },
  {
    files: ["tests/js/**/*.mjs", "js/lint/eslint.config.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: { ...globals.node },
    },
  },
];
