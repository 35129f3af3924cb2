// base64url (RFC 4648 §5), canonical and unpadded: docs/FORMAT.md §7.1.
//
// The one base64url codec of the browser code. Every byte string has exactly one
// accepted text form, as in Python's crypto package, so both sides accept and
// reject the same envelopes and key files.

const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BASE64URL_VALUES = new Int16Array(128).fill(-1);
for (let i = 0; i < BASE64URL_ALPHABET.length; i++) {
  BASE64URL_VALUES[BASE64URL_ALPHABET.charCodeAt(i)] = i;
}

/** Encodes bytes as base64url without padding. */
export function encodeBase64url(bytes) {
  const data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const chars = [];
  let i = 0;
  for (; i + 3 <= data.length; i += 3) {
    const n = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    chars.push(
      BASE64URL_ALPHABET[n >> 18],
      BASE64URL_ALPHABET[(n >> 12) & 63],
      BASE64URL_ALPHABET[(n >> 6) & 63],
      BASE64URL_ALPHABET[n & 63],
    );
  }
  const rest = data.length - i;
  if (rest === 1) {
    const n = data[i] << 16;
    chars.push(BASE64URL_ALPHABET[n >> 18], BASE64URL_ALPHABET[(n >> 12) & 63]);
  } else if (rest === 2) {
    const n = (data[i] << 16) | (data[i + 1] << 8);
    chars.push(
      BASE64URL_ALPHABET[n >> 18],
      BASE64URL_ALPHABET[(n >> 12) & 63],
      BASE64URL_ALPHABET[(n >> 6) & 63],
    );
  }
  return chars.join("");
}

/**
 * Decodes canonical unpadded base64url. Padding, whitespace, characters
 * outside the alphabet and non-zero unused trailing bits are rejected, so
 * every byte string has exactly one accepted text form.
 * Throws a RangeError on any such input.
 */
export function decodeBase64url(text) {
  if (typeof text !== "string") {
    throw new RangeError("base64url: not a string");
  }
  const length = text.length;
  const rest = length % 4;
  if (rest === 1) {
    throw new RangeError("base64url: impossible length");
  }
  const out = new Uint8Array(((length - rest) / 4) * 3 + (rest === 0 ? 0 : rest - 1));
  let o = 0;
  let i = 0;
  const value = (index) => {
    const code = text.charCodeAt(index);
    const v = code < 128 ? BASE64URL_VALUES[code] : -1;
    if (v < 0) {
      throw new RangeError("base64url: character outside the alphabet");
    }
    return v;
  };
  for (; i + 4 <= length; i += 4) {
    const n = (value(i) << 18) | (value(i + 1) << 12) | (value(i + 2) << 6) | value(i + 3);
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
    out[o++] = n & 255;
  }
  if (rest === 2) {
    const n = (value(i) << 18) | (value(i + 1) << 12);
    if (n & 0xffff) {
      throw new RangeError("base64url: non-zero trailing bits");
    }
    out[o] = n >> 16;
  } else if (rest === 3) {
    const n = (value(i) << 18) | (value(i + 1) << 12) | (value(i + 2) << 6);
    if (n & 0xff) {
      throw new RangeError("base64url: non-zero trailing bits");
    }
    out[o] = n >> 16;
    out[o + 1] = (n >> 8) & 255;
  }
  return out;
}
