// Entry point of static/vendor/hpke.js: only the parts of @hpke/core that the
// sealed contact record format uses (DHKEM(P-256, HKDF-SHA256), HKDF-SHA256,
// AES-128-GCM on WebCrypto), so the guest page loads as little code as possible.
// Rebuild with `make js`; CI runs `make js-check`.
export {
  Aes128Gcm,
  CipherSuite,
  DhkemP256HkdfSha256,
  HkdfSha256,
  HpkeError,
} from "@hpke/core";
