// What a health-office user chose on the decryption page — the separators of saved
// files, the columns the table shows — remembered in this browser per signed-in user:
// the page names the user (data-user, page data), so colleagues who share a computer
// keep their own choices. Only choices are stored here, never contact data.

const PREFIX = "gastregister.decrypt.";

/** The browser's localStorage, or null where it is switched off or refused. */
export function browserStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null; // storage blocked by the browser's settings: choices last for the page
  }
}

/**
 * The choices of one user. get(name, isValid) answers the stored value when isValid
 * accepts it, else undefined; set(name, value) stores it. Without storage or a user id
 * the choices live as long as the page.
 */
export function userPreferences(storage, userId) {
  const key = storage && userId ? PREFIX + userId : null;
  let values = {};
  if (key !== null) {
    try {
      const stored = JSON.parse(storage.getItem(key) ?? "{}");
      if (stored !== null && typeof stored === "object" && !Array.isArray(stored)) values = stored;
    } catch {
      // unreadable (or storage refused): start afresh
    }
  }
  return {
    get(name, isValid) {
      const value = Object.hasOwn(values, name) ? values[name] : undefined;
      return value !== undefined && isValid(value) ? value : undefined;
    },
    set(name, value) {
      values = { ...values, [name]: value };
      if (key === null) return;
      try {
        storage.setItem(key, JSON.stringify(values));
      } catch {
        // storage full or refused: the choice still holds for this page
      }
    },
  };
}
