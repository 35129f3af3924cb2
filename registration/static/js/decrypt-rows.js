// Export packages in the health office's browser: check, open, and make rows (the file
// itself is read by export-package.js).
//
// The offline CLI (health_export/packages.py, decryption.py) does exactly the same:
// same checks on the package, same Europe/Berlin times, one row per person, and the
// same texts: the export layout (export-layout.js) comes from the server. A record
// that cannot be opened is listed, never dropped.
// Every opened visit is checked against its package as the CLI does
// (docs/FORMAT.md §11.3): a v2 record's sealed arrival and source against the row,
// the window, the areas, the persons, duplicates. A visit that fails is listed with
// the kind of the first failed check; v1 visits (nothing bound) are reported.
// Nothing here touches the DOM or the network: the page (decrypt.js) does that.

import { checkContextCode } from "./envelope.js";
import { areaName, parseTime } from "./export-package.js";
import {
  openPackageEnvelopes,
  PACKAGE_CHUNK_SIZE,
  startOpenerWorkers,
  stopOpenerWorkers,
} from "./record-opener.js";

const MAX_STAY_MS = 24 * 3600 * 1000;

export const VISIT_CHECK_KINDS = [
  "arrival_mismatch",
  "source_mismatch",
  "key_id_mismatch",
  "departure_out_of_range",
  "outside_window",
  "area_not_requested",
  "persons_mismatch",
  "duplicate",
];

const ADDRESS_FIELDS = ["street", "houseNumber", "zipCode", "city"];

// What a companion who ticked "same address and contact details as me" shares with
// the guest (SHARED_WITH_GUEST in decryption.py): filled in from the guest.
const SHARED_WITH_GUEST = [...ADDRESS_FIELDS, "phone", "email"];

const PERSON_FIELDS = ["firstName", "lastName", ...SHARED_WITH_GUEST];

const berlinFormat = new Intl.DateTimeFormat("en-GB", {
  timeZone: "Europe/Berlin",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});

const HOUR_MS = 3600 * 1000;
// Berlin's offset from UTC for each UTC hour asked so far: offsets change only on a
// whole UTC hour, so one Intl call per hour of visits is exact. Intl's formatToParts
// for every time cost ~1 s of main thread per 50,000 visits; this costs ~0.1 s.
const berlinOffsets = new Map();

function berlinOffsetAtHour(hourMs) {
  let offset = berlinOffsets.get(hourMs);
  if (offset === undefined) {
    const parts = {};
    for (const part of berlinFormat.formatToParts(new Date(hourMs))) parts[part.type] = part.value;
    const wall = Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), Number(parts.hour), Number(parts.minute));
    offset = wall - hourMs;
    berlinOffsets.set(hourMs, offset);
  }
  return offset;
}

const two = (number) => String(number).padStart(2, "0");

const MINUTE_MS = 60 * 1000;
// The text of each UTC minute asked so far: a 50,000-visit export has a few hundred
// distinct minutes, and its rows ask for two times per visit.
const berlinTexts = new Map();
const MAX_KEPT_TEXTS = 100_000;

/** `YYYY-MM-DD HH:MM` in Europe/Berlin, as the CLI writes it. */
export function berlinText(ms) {
  // Berlin's offset is whole hours, so the text depends only on the UTC minute.
  const minuteMs = ms - (((ms % MINUTE_MS) + MINUTE_MS) % MINUTE_MS);
  let text = berlinTexts.get(minuteMs);
  if (text === undefined) {
    const hourMs = ms - (((ms % HOUR_MS) + HOUR_MS) % HOUR_MS);
    const wall = new Date(minuteMs + berlinOffsetAtHour(hourMs));
    const year = String(wall.getUTCFullYear()).padStart(4, "0");
    text = `${year}-${two(wall.getUTCMonth() + 1)}-${two(wall.getUTCDate())} ${two(wall.getUTCHours())}:${two(wall.getUTCMinutes())}`;
    if (berlinTexts.size >= MAX_KEPT_TEXTS) berlinTexts.clear();
    berlinTexts.set(minuteMs, text);
  }
  return text;
}

/** Distinct key ids of the records: to tell "wrong key file" from "some damaged". */
export function packageKeyIds(pkg) {
  return new Set(pkg.records.map((record) => record.keyId));
}

// The page must stay responsive while tens of thousands of visits are sorted and
// checked: the loops below give the event loop a turn after this many milliseconds.
const SLICE_MS = 12;

/**
 * A turn for the page (input, painting) between slices of a long loop: a task of
 * its own, posted to ourselves. Not scheduler.yield(): Chromium runs its
 * continuation ahead of rendering, so frames wait up to 100 ms while a loop
 * yields that way. Not setTimeout: a background tab's timers are throttled to one
 * a second.
 */
export function yieldToPage() {
  if (globalThis.scheduler?.postTask) {
    return globalThis.scheduler.postTask(() => {}, { priority: "user-visible" });
  }
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/** A clock for a long loop: `pause()` yields once the current slice is used up. */
function timeSlices() {
  let sliceStart = performance.now();
  return {
    async pause() {
      if (performance.now() - sliceStart < SLICE_MS) return;
      await yieldToPage();
      sliceStart = performance.now();
    },
  };
}

function failure(number, area, arrival, kind) {
  return { number, area, arrival, kind };
}

/**
 * The checks of docs/FORMAT.md §11.3 for one package, in their fixed order, as the
 * CLI's _VisitChecks. Duplicates are looked for among the visits that passed every
 * other check, so a forged copy cannot push out the genuine one.
 */
function visitChecks(pkg) {
  const windowStart = parseTime(pkg.request.windowStart);
  const windowEnd = parseTime(pkg.request.windowEnd);
  const requested = new Set(pkg.request.areas);
  const locationAreas = new Set(
    pkg.areas.filter((area) => typeof area.code === "string").map((area) => area.code),
  );
  const seenEncs = new Set();
  const seenKeys = new Set();

  function metadataFailure(row, visit, envelopeKeyId, autoDeparture) {
    const record = visit.record;
    if (visit.formatVersion === 2) {
      if (record.arrival !== row.arrival) return "arrival_mismatch";
      if (record.source !== row.source) return "source_mismatch";
    }
    if (row.keyId !== envelopeKeyId) return "key_id_mismatch";
    const latest = visit.arrival + MAX_STAY_MS;
    if (!(visit.arrival <= autoDeparture && autoDeparture <= latest)) {
      return "departure_out_of_range";
    }
    // No lower bound for a departure, as in the CLI (closing time after a fast phone clock).
    if (visit.departure > latest) return "departure_out_of_range";
    if (visit.arrival > windowEnd || visit.departure < windowStart) return "outside_window";
    if (!locationAreas.has(row.area) || (requested.size > 0 && !requested.has(row.area))) {
      return "area_not_requested";
    }
    if (row.persons !== 1 + record.additionalPersons.length) return "persons_mismatch";
    return null;
  }

  return function firstFailure(row, visit, ids, autoDeparture) {
    const kind = metadataFailure(row, visit, ids.keyId, autoDeparture);
    if (kind !== null) return kind;
    const key = visit.record.idempotencyKey;
    if (seenEncs.has(ids.enc) || (typeof key === "string" && seenKeys.has(key))) {
      return "duplicate";
    }
    seenEncs.add(ids.enc);
    if (typeof key === "string") seenKeys.add(key);
    return null;
  };
}

function isContextCode(code) {
  try {
    checkContextCode(code, "code");
    return true;
  } catch {
    return false;
  }
}

/**
 * Opens every record with the key handles (from readKeyFile; keyed by keyId hex),
 * on all cores (openPackageEnvelopes: one pool of workers for the whole package,
 * started before the records are read), and checks each opened visit against the
 * package while later records are still being opened. The key is chosen by the
 * key id in the envelope, never by the row's keyId. onProgress(done, total) is
 * called as chunks finish; options.workers: how many workers (0: this thread);
 * options.pool: workers the caller started ahead (startOpenerWorkers) and stops
 * itself, so they load their modules while the page still reads the key files and
 * the package (50,000 records: the first results came 156-164 ms after opening
 * began with workers started here, 89-102 ms with workers started ahead).
 * Returns { visits, failures, unbound } (unbound: numbers of opened v1 visits).
 */
export async function openPackage(pkg, keys, onProgress = () => {}, options = {}) {
  if (options.pool !== undefined) return openWithPool(pkg, keys, onProgress, options.pool);
  const pool = startOpenerWorkers(options.workers, pkg.records.length);
  try {
    return await openWithPool(pkg, keys, onProgress, pool);
  } finally {
    stopOpenerWorkers(pool);
  }
}

async function openWithPool(pkg, keys, onProgress, pool) {
  const keyHandles = keys.map((key) => ({ keyId: key.keyId, handle: key.privateKey }));
  const locationCode = String(pkg.location.code ?? "");
  const failures = pkg.damaged.map((item) => failure(item.index + 1, "", "", item.kind));
  // An area's name and whether its code can be a code, once per area.
  const areas = new Map();
  const openable = [];
  // The envelopes for the workers, in chunks, made here a slice at a time (in one go,
  // 50,000 of them hold up the page's frames for a tenth of a second).
  const chunks = [];
  const slices = timeSlices();
  for (const record of pkg.records) {
    await slices.pause();
    let area = areas.get(record.area);
    if (area === undefined) {
      const usable =
        keyHandles.length > 0 && isContextCode(locationCode) && isContextCode(record.area);
      area = { usable, name: areaName(pkg, record.area) };
      areas.set(record.area, area);
    }
    // No key, or a location or area code that cannot be a code: the record is damaged.
    if (!area.usable) {
      failures.push(failure(record.index + 1, record.area, record.arrival, "malformed"));
      continue;
    }
    if (openable.length % PACKAGE_CHUNK_SIZE === 0) {
      chunks.push({ first: openable.length, envelopes: [], areaCodes: [] });
    }
    const chunk = chunks[chunks.length - 1];
    chunk.envelopes.push(record.envelope);
    chunk.areaCodes.push(record.area);
    openable.push(record);
  }

  // The checks run in package order, so "duplicate" marks the later of two copies;
  // openPackageEnvelopes hands the chunks over in that order.
  const firstFailure = visitChecks(pkg);
  const visits = [];
  const unbound = [];
  let done = 0;
  const checkChunk = (first, results) => {
    results.forEach((outcome, i) => {
      const record = openable[first + i];
      // A record whose times cannot be read is damaged, whatever its envelope holds
      // (the workers opened it all the same: the times are read here, as results come).
      const arrival = parseTime(record.arrival);
      const autoDeparture = parseTime(record.autoDeparture);
      const departure = record.departure === null ? null : parseTime(record.departure);
      const badDeparture = departure === null && record.departure !== null;
      if (arrival === null || autoDeparture === null || badDeparture) {
        failures.push(failure(record.index + 1, record.area, record.arrival, "malformed"));
        return;
      }
      if (!("record" in outcome)) {
        failures.push(failure(record.index + 1, record.area, record.arrival, outcome.kind));
        return;
      }
      const contact = outcome.record;
      const visit = {
        number: record.index + 1,
        areaCode: record.area,
        areaName: areas.get(record.area).name,
        arrival,
        departure: departure ?? autoDeparture,
        departureIsAutomatic: departure === null,
        persons: record.persons,
        source: record.source,
        keyId: record.keyId,
        record: contact,
        formatVersion: contact.v,
        deliveredLate: record.deliveredLate,
      };
      const kind = firstFailure(record, visit, outcome, autoDeparture);
      if (kind !== null) {
        failures.push(failure(record.index + 1, record.area, record.arrival, kind));
        return;
      }
      visits.push(visit);
      if (visit.formatVersion === 1) unbound.push(visit.number);
    });
    done += results.length;
    onProgress(done, openable.length);
  };
  await openPackageEnvelopes(keyHandles, chunks, locationCode, pool, checkChunk);
  failures.sort((a, b) => a.number - b.number);
  return { visits, failures, unbound };
}

function text(value) {
  return value === undefined || value === null ? "" : String(value);
}

/** The people of a visit: the guest, then each companion, with the contact to use. */
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
      for (const name of SHARED_WITH_GUEST) if (!person[name]) person[name] = main[name];
    }
    person.note = "";
    people.push(person);
  }
  return people;
}

/**
 * One row per person, as the CLI's visit_rows; each row remembers its visit.
 * layout: from export-layout.js (the "Abreise automatisch", "Quelle" and
 * "Verspätet übermittelt" texts).
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
    const late = visit.deliveredLate ? layout.yes : layout.no;
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
        late,
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
