// JSON as format v1 reads it (docs/FORMAT.md §7.2): strict UTF-8, a byte order mark
// refused, no repeated member names. Python's reader refuses exactly these, and
// both readers must accept the same records and key files.

// fatal: invalid UTF-8 is an error, not U+FFFD; ignoreBOM: a BOM stays in the
// text (and then fails JSON parsing) instead of being dropped silently.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The text of UTF-8 bytes; throws a TypeError on invalid UTF-8. A BOM is kept. */
export function decodeUtf8Strict(bytes) {
  return utf8Decoder.decode(bytes);
}

/** JSON.parse, and a SyntaxError also for an object that repeats a member name. */
export function parseJsonStrict(text) {
  const value = JSON.parse(text);
  if (hasDuplicateMembers(text)) {
    throw new SyntaxError("repeated member name");
  }
  return value;
}

export function hasOwn(object, key) {
  return Object.prototype.hasOwnProperty.call(object, key);
}

/** A JSON object: not null, not an array. */
export function isPlainObject(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * True when an object in the JSON text repeats a member name. JSON.parse
 * keeps the last of repeated members silently. Call only with text that
 * JSON.parse accepted (so strings are known to be terminated).
 */
function hasDuplicateMembers(text) {
  const stack = []; // per open container: a Set of member names, or null for an array
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === "\\" ? 2 : 1;
      const names = stack[stack.length - 1];
      if (expectKey && names) {
        const raw = text.slice(i + 1, end);
        const name = raw.includes("\\") ? JSON.parse(`"${raw}"`) : raw;
        if (names.has(name)) return true;
        names.add(name);
      }
      expectKey = false;
      i = end;
    } else if (char === "{") {
      stack.push(new Set());
      expectKey = true;
    } else if (char === "[") {
      stack.push(null);
    } else if (char === "}" || char === "]") {
      stack.pop();
    } else if (char === ",") {
      expectKey = stack[stack.length - 1] !== null;
    }
  }
  return false;
}
