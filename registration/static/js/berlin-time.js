// A wall-clock time typed in Europe/Berlin, as the server reads it, in UTC.
//
// Staff type a paper form's arrival as local time ("2026-11-20T19:30"); the server
// converts it with zoneinfo (registration/portal/staff_entry.py parse_local_time), and
// the browser must seal exactly the same instant into a format v2 record
// (docs/FORMAT.md §6.5), or the health office's reader would report the visit as
// re-dated. zoneinfo's rule for the hour that does not exist (spring) and the hour
// that exists twice (autumn) is fold=0: the offset in force before the change.

const WALL_TIME = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?$/;
const HOUR_MS = 3600 * 1000;

const berlinParts = new Intl.DateTimeFormat("en-GB", {
  timeZone: "Europe/Berlin",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

/** Berlin's offset from UTC in milliseconds at the instant ms. */
function berlinOffset(ms) {
  const parts = {};
  for (const part of berlinParts.formatToParts(new Date(ms))) parts[part.type] = Number(part.value);
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return wall - Math.floor(ms / 1000) * 1000;
}

/**
 * "YYYY-MM-DDTHH:MM[:SS]" in Europe/Berlin → "YYYY-MM-DDTHH:MM:SSZ" in UTC, the
 * instant the server stores for it; null for any other text or an impossible date.
 */
export function berlinWallTimeToUtc(text) {
  const match = typeof text === "string" ? WALL_TIME.exec(text) : null;
  if (match === null) return null;
  const [year, month, day, hour, minute, second] = match.slice(1).map((part) => Number(part ?? 0));
  const wall = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(wall);
  if (
    Number.isNaN(wall) ||
    check.getUTCFullYear() !== year ||
    check.getUTCMonth() !== month - 1 ||
    check.getUTCDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return null;
  }
  // Offsets some hours before and after: different only near a change of offset.
  const before = berlinOffset(wall - 6 * HOUR_MS);
  const after = berlinOffset(wall + 6 * HOUR_MS);
  let instant = wall - before;
  if (before !== after && berlinOffset(instant) !== before) {
    // Not valid with the earlier offset: after the change, or inside the skipped
    // hour, which fold=0 reads with the earlier offset (instant stays as it is).
    const later = wall - after;
    if (berlinOffset(later) === after) instant = later;
  }
  return `${new Date(instant).toISOString().slice(0, 19)}Z`;
}
