// Reading an export package file in the health office's browser: the header line,
// the content's length and SHA-256, and the records' shape (docs/FORMAT.md §11.1–11.2),
// exactly as the offline CLI reads it (health_export/packages.py). Opening and checking
// the visits is decrypt-rows.js's job. Nothing here touches the DOM or the network.

import { sha256, toHex } from "./bytes.js";
import { isPlainObject, parseJsonStrict } from "./strict-json.js";

export const PACKAGE_FORMAT = "gastregister-export";
export const PACKAGE_VERSION = 1;
// The header line with its line feed is at most this long (docs/FORMAT.md §11.1).
const HEADER_MAX = 4096;
const HEADER_MEMBERS = ["format", "version", "contentLength", "contentSha256"];
const SHA256_HEX = /^[0-9a-f]{64}$/;
// The longest visit the server stores: a stay, or a typed-in departure, of 24 hours.
/** The kinds of the visit checks (docs/FORMAT.md §9.3), in the order they are applied. */

const PACKAGE_TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/;

/** A package that cannot be read at all; `kind` matches the CLI's. */
export class PackageFormatError extends Error {
  constructor(kind) {
    super(kind);
    this.name = "PackageFormatError";
    this.kind = kind;
  }
}

// ignoreBOM: a byte order mark stays in the text and fails JSON.parse, as in Python.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Header line, length and SHA-256 first; then the content. Damaged records stay listed. */
export async function parsePackage(buffer) {
  const data = new Uint8Array(buffer);
  const newline = data.subarray(0, HEADER_MAX).indexOf(0x0a);
  if (newline < 0) {
    // Cut inside the header line: truncated; no line feed where it must be: not a package.
    const shortJson = data.length < HEADER_MAX && data[0] === 0x7b;
    throw new PackageFormatError(shortJson ? "truncated" : "not_a_package");
  }
  const line = data.subarray(0, newline);
  let header;
  try {
    if (line.some((byte) => byte > 0x7f)) throw new SyntaxError("not ASCII");
    header = parseJsonStrict(utf8.decode(line));
  } catch {
    throw new PackageFormatError("not_a_package");
  }
  if (!isPlainObject(header) || header.format !== PACKAGE_FORMAT) {
    throw new PackageFormatError("not_a_package");
  }
  if (header.version !== PACKAGE_VERSION) throw new PackageFormatError("unsupported_version");
  const length = header.contentLength;
  const digest = header.contentSha256;
  const members = Object.keys(header);
  if (
    members.length !== HEADER_MEMBERS.length ||
    !HEADER_MEMBERS.every((name) => members.includes(name)) ||
    typeof digest !== "string" ||
    !SHA256_HEX.test(digest) ||
    !Number.isSafeInteger(length) ||
    length < 0
  ) {
    throw new PackageFormatError("malformed");
  }
  const content = data.subarray(newline + 1);
  if (content.length < length) throw new PackageFormatError("truncated");
  const actual = toHex(await sha256(content));
  if (content.length > length || actual !== digest) throw new PackageFormatError("integrity");
  let body;
  try {
    body = JSON.parse(utf8.decode(content));
  } catch {
    throw new PackageFormatError("malformed");
  }
  if (
    !isPlainObject(body) ||
    !Array.isArray(body.records) ||
    !isPlainObject(body.request) ||
    !isPlainObject(body.location) ||
    !Array.isArray(body.areas) ||
    !isWindow(body.request)
  ) {
    throw new PackageFormatError("malformed");
  }
  const records = [];
  const damaged = [];
  body.records.forEach((item, index) => {
    const record = checkedRecord(index, item);
    if (record === null) damaged.push({ index, kind: "malformed" });
    else records.push(record);
  });
  return {
    sha256: digest,
    request: body.request,
    location: body.location,
    areas: body.areas.filter(isPlainObject),
    records,
    damaged,
  };
}

/** The request's window and areas, which every visit is checked against. */
function isWindow(request) {
  return (
    parseTime(request.windowStart) !== null &&
    parseTime(request.windowEnd) !== null &&
    Array.isArray(request.areas) &&
    request.areas.every((code) => typeof code === "string")
  );
}

function checkedRecord(index, item) {
  if (!isPlainObject(item)) return null;
  const { area, arrival, autoDeparture, envelope, persons, departure } = item;
  if (![area, arrival, autoDeparture, envelope].every((value) => typeof value === "string")) {
    return null;
  }
  if (!Number.isInteger(persons)) return null;
  if (departure !== null && departure !== undefined && typeof departure !== "string") return null;
  // Absent in packages from before the mark, and in every timely record.
  const deliveredLate = Object.hasOwn(item, "deliveredLate") ? item.deliveredLate : false;
  if (typeof deliveredLate !== "boolean") return null;
  return {
    index,
    area,
    arrival,
    departure: departure ?? null,
    autoDeparture,
    persons,
    source: typeof item.source === "string" ? item.source : "",
    keyId: typeof item.keyId === "string" ? item.keyId : "",
    envelope,
    deliveredLate,
  };
}

export function areaName(pkg, code) {
  const area = pkg.areas.find((candidate) => candidate.code === code);
  if (area === undefined) return code;
  return String(area.name ?? code);
}

/** Milliseconds since the epoch for a package time, or null (then the record is damaged). */
export function parseTime(text) {
  if (typeof text !== "string" || !PACKAGE_TIME.test(text)) return null;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) return null;
  // Date.parse rolls 31 February over and knows a year 0; the CLI rejects both, so do we.
  if (`${new Date(ms).toISOString().slice(0, 19)}Z` !== text || text.startsWith("0000")) {
    return null;
  }
  return ms;
}
