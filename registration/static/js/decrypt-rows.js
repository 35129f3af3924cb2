// Export packages in the health office's browser: parse, check, open, and make rows.
//
// The offline CLI (health_export/packages.py, decryption.py) does exactly the same:
// same checks on the package, same Europe/Berlin times, one row per person, and the
// same texts: the export layout (export-layout.js) comes from the server. A record
// that cannot be opened is listed, never dropped.
// Nothing here touches the DOM or the network: the page (decrypt.js) does that.

import { sha256, toHex } from "./bytes.js";
import { openContactRecords, SealedRecordError } from "./sealed-record.js";
import { isPlainObject } from "./strict-json.js";

export const PACKAGE_FORMAT = "gastregister-export";
export const PACKAGE_VERSION = 1;
const HEADER_MAX = 4096;

const ADDRESS_FIELDS = ["street", "houseNumber", "zipCode", "city"];
const PERSON_FIELDS = ["firstName", "lastName", ...ADDRESS_FIELDS, "phone", "email"];
const PACKAGE_TIME = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$/;

/** A package that cannot be read at all; `kind` matches the CLI's. */
export class PackageFormatError extends Error {
  constructor(kind) {
    super(kind);
    this.name = "PackageFormatError";
    this.kind = kind;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Header line, length and SHA-256 first; then the content. Damaged records stay listed. */
export async function parsePackage(buffer) {
  const data = new Uint8Array(buffer);
  const newline = data.subarray(0, HEADER_MAX).indexOf(0x0a);
  if (newline < 0) {
    throw new PackageFormatError(data[0] === 0x7b ? "truncated" : "not_a_package");
  }
  let header;
  try {
    header = JSON.parse(utf8.decode(data.subarray(0, newline)));
  } catch {
    throw new PackageFormatError("not_a_package");
  }
  if (!isPlainObject(header) || header.format !== PACKAGE_FORMAT) {
    throw new PackageFormatError("not_a_package");
  }
  if (header.version !== PACKAGE_VERSION) throw new PackageFormatError("unsupported_version");
  const length = header.contentLength;
  const digest = header.contentSha256;
  if (!Number.isSafeInteger(length) || typeof digest !== "string") {
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
    !Array.isArray(body.areas)
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

function checkedRecord(index, item) {
  if (!isPlainObject(item)) return null;
  const { area, arrival, autoDeparture, envelope, persons, departure } = item;
  if (![area, arrival, autoDeparture, envelope].every((value) => typeof value === "string")) {
    return null;
  }
  if (!Number.isInteger(persons)) return null;
  if (departure !== null && departure !== undefined && typeof departure !== "string") return null;
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
  // Date.parse rolls 31 February over; the CLI rejects it, so do we.
  if (`${new Date(ms).toISOString().slice(0, 19)}Z` !== text) return null;
  return ms;
}

const berlinFormat = new Intl.DateTimeFormat("en-GB", {
  timeZone: "Europe/Berlin",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});

/** `YYYY-MM-DD HH:MM` in Europe/Berlin, as the CLI writes it. */
export function berlinText(ms) {
  const parts = {};
  for (const part of berlinFormat.formatToParts(new Date(ms))) parts[part.type] = part.value;
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}`;
}

/** Distinct key ids of the records: to tell "wrong key file" from "some damaged". */
export function packageKeyIds(pkg) {
  return new Set(pkg.records.map((record) => record.keyId));
}

function failure(number, area, arrival, kind) {
  return { number, area, arrival, kind };
}

/**
 * Opens every record with the key handles (from readKeyFile; keyed by keyId hex),
 * on all cores (openContactRecords runs a worker pool per key and area).
 * onProgress(done, total) is called as chunks finish.
 */
export async function openPackage(pkg, keys, onProgress = () => {}) {
  const handles = new Map(keys.map((key) => [key.keyId, key.privateKey]));
  const fallback = keys.length > 0 ? keys[0].privateKey : null;
  const locationCode = String(pkg.location.code ?? "");
  const failures = pkg.damaged.map((item) => failure(item.index + 1, "", "", item.kind));
  const groups = new Map();
  let total = 0;
  for (const record of pkg.records) {
    const times = [record.arrival, record.autoDeparture];
    if (record.departure !== null) times.push(record.departure);
    if (times.some((value) => parseTime(value) === null)) {
      failures.push(failure(record.index + 1, record.area, record.arrival, "malformed"));
      continue;
    }
    const keyId = handles.has(record.keyId) ? record.keyId : "";
    const group = `${keyId}\n${record.area}`;
    if (!groups.has(group)) groups.set(group, { handle: handles.get(keyId) ?? fallback, records: [] });
    groups.get(group).records.push(record);
    total += 1;
  }
  const visits = [];
  let finished = 0;
  for (const { handle, records } of groups.values()) {
    let outcomes;
    try {
      outcomes = await openContactRecords(
        handle,
        records.map((record) => record.envelope),
        { locationCode, areaCode: records[0].area },
        { onProgress: (done) => onProgress(finished + done, total) },
      );
    } catch {
      // An area or location code that cannot be a code: every record of it is damaged.
      outcomes = records.map(() => ({ error: new SealedRecordError("malformed") }));
    }
    records.forEach((record, i) => {
      const outcome = outcomes[i];
      if (!("record" in outcome)) {
        const kind = outcome.error instanceof SealedRecordError ? outcome.error.kind : "malformed";
        failures.push(failure(record.index + 1, record.area, record.arrival, kind));
        return;
      }
      const autoDeparture = parseTime(record.autoDeparture);
      const departure = record.departure === null ? null : parseTime(record.departure);
      visits.push({
        number: record.index + 1,
        areaCode: record.area,
        areaName: areaName(pkg, record.area),
        arrival: parseTime(record.arrival),
        departure: departure ?? autoDeparture,
        departureIsAutomatic: departure === null,
        persons: record.persons,
        source: record.source,
        keyId: record.keyId,
        record: outcome.record,
      });
    });
    finished += records.length;
    onProgress(finished, total);
  }
  failures.sort((a, b) => a.number - b.number);
  visits.sort((a, b) => a.number - b.number);
  return { visits, failures };
}

function text(value) {
  return value === undefined || value === null ? "" : String(value);
}

/** The people of a visit: the guest, then every additional person. */
export function personsOf(visit) {
  const record = visit.record;
  const main = {};
  for (const name of PERSON_FIELDS) main[name] = text(record[name]);
  main.note = text(record.note);
  const people = [main];
  for (const extra of record.additionalPersons ?? []) {
    const person = {};
    for (const name of PERSON_FIELDS) person[name] = text(extra[name]);
    if (extra.sameAddress === true) {
      for (const name of ADDRESS_FIELDS) if (!person[name]) person[name] = main[name];
    }
    person.note = "";
    people.push(person);
  }
  return people;
}

/**
 * One row per person, as the CLI's visit_rows; each row remembers its visit.
 * layout: from export-layout.js (the "Abreise automatisch" and "Quelle" texts).
 */
export function visitRows(visits, layout) {
  const rows = [];
  for (const visit of visits) {
    const common = [
      visit.areaName,
      berlinText(visit.arrival),
      berlinText(visit.departure),
      visit.departureIsAutomatic ? layout.yes : layout.no,
      visit.persons,
      layout.sourceLabels.get(visit.source) ?? visit.source,
    ];
    personsOf(visit).forEach((person, i) => {
      const cells = [
        visit.number,
        i + 1,
        ...common,
        person.firstName,
        person.lastName,
        person.street,
        person.houseNumber,
        person.zipCode,
        person.city,
        person.phone,
        person.email,
        person.note,
      ];
      rows.push({ visit, cells });
    });
  }
  return rows;
}

/** SORMAS event participants (same as the CLI's sormas_rows). */
export function sormasRows(visits, locationName) {
  const rows = [];
  for (const visit of visits) {
    const involvement =
      `${locationName}, ${visit.areaName}: ` +
      `${berlinText(visit.arrival)} - ${berlinText(visit.departure)}`;
    for (const person of personsOf(visit)) {
      rows.push([
        person.firstName,
        person.lastName,
        "",
        person.street,
        person.houseNumber,
        person.zipCode,
        person.city,
        person.phone,
        person.email,
        involvement,
      ]);
    }
  }
  return rows;
}

/** Whole minutes two visits overlap (0 when they do not). */
export function overlapMinutes(a, b) {
  const start = Math.max(a.arrival, b.arrival);
  const end = Math.min(a.departure, b.departure);
  return end > start ? Math.floor((end - start) / 60000) : 0;
}
