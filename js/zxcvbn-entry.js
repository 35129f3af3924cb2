// Entry point of static/vendor/zxcvbn.js: the zxcvbn password strength estimator, the
// same algorithm and word lists as the Python package zxcvbn that `gastregister keygen`
// uses, so the key page refuses the same passphrases (crypto/passphrase.py). Only the
// key page loads it (about 800 kB of word lists); the guest page never does.
// Rebuild with `make js`; CI runs `make js-check`.
import zxcvbn from "zxcvbn";

export { zxcvbn };
