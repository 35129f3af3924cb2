// Export rows and files in the browser (registration/static/js/decrypt-rows.js,
// decrypt-export.js, export-layout.js): the same rows, CSV and SORMAS CSV bytes as the
// CLI for the visits in fixtures/export-cases.json, guest text neutralised against
// spreadsheet formulas, and export packages refused with the CLI's kinds.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";

import {
  csvCell,
  neutralise,
  rowsToCsv,
  rowsToSormas,
  rowsToXlsx,
  sormasCell,
  sormasText,
} from "../../registration/static/js/decrypt-export.js";
import {
  berlinText,
  overlapMinutes,
  sormasRows,
  visitRows,
} from "../../registration/static/js/decrypt-rows.js";
import {
  PackageFormatError,
  parsePackage,
  parseTime,
} from "../../registration/static/js/export-package.js";
import { readExportLayout } from "../../registration/static/js/export-layout.js";
import { fixture } from "./fixtures.mjs";

const LAYOUT = readExportLayout(fixture("export-layout.json"));
const CASES = fixture("export-cases.json");
const VISITS = CASES.visits.map((visit) => ({
  ...visit,
  arrival: parseTime(visit.arrival),
  departure: parseTime(visit.departure),
}));
const text = (bytes) => new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);

test("rows are the CLI's rows, cell for cell", () => {
  assert.deepEqual(
    visitRows(VISITS, LAYOUT).map((row) => row.cells),
    CASES.rows,
  );
  assert.deepEqual(sormasRows(VISITS, CASES.locationName), CASES.sormasRows);
});

for (const [separator, expected] of Object.entries(CASES.csv)) {
  test(`CSV with separator ${JSON.stringify(separator)} is byte for byte the CLI's`, () => {
    const rows = visitRows(VISITS, LAYOUT).map((row) => row.cells);
    assert.equal(text(rowsToCsv(rows, LAYOUT, separator)), expected);
  });
}

for (const [separator, expected] of Object.entries(CASES.sormas)) {
  test(`SORMAS CSV with separator ${JSON.stringify(separator)} is byte for byte the CLI's`, () => {
    const rows = sormasRows(VISITS, CASES.locationName);
    assert.equal(text(rowsToSormas(rows, LAYOUT, separator)), expected);
  });
}

test("a text starting with = + - @ TAB or CR gets an apostrophe; others stay as typed", () => {
  for (const trigger of ["=", "+", "-", "@", "\t", "\r"]) {
    assert.equal(neutralise(`${trigger}1+1`), `'${trigger}1+1`);
  }
  for (const plain of ["O'Brien", "Müller", "李", "😀", "a=b", " =1", ""]) {
    assert.equal(neutralise(plain), plain);
  }
});

test("CSV cells: neutralised first, then quoted when they hold the separator, a quote, CR or LF", () => {
  assert.equal(csvCell('=HYPERLINK("x")', ","), `"'=HYPERLINK(""x"")"`);
  assert.equal(csvCell("-5", ";"), "'-5");
  assert.equal(csvCell("a,b", ","), '"a,b"');
  assert.equal(csvCell("a,b", ";"), "a,b");
  assert.equal(csvCell("a;b", ";"), '"a;b"');
  assert.equal(csvCell("a\tb", "\t"), '"a\tb"');
  assert.equal(csvCell("\tb", ","), "'\tb");
  assert.equal(csvCell("line\nbreak", ","), '"line\nbreak"');
  assert.equal(csvCell("\r", ","), `"'\r"`);
  assert.equal(csvCell(42, ","), "42");
  assert.throws(() => rowsToCsv([], LAYOUT, "|"), RangeError);
});

test("SORMAS values: a phone number as typed, one trimmed line, formulas still neutralised", () => {
  for (const phone of ["+49 170 1234567", "-1", "+(1) 2-3/4.5", "0151 2345678"]) {
    assert.equal(sormasText(phone), phone);
  }
  assert.equal(sormasText("+49 170 CALL"), "'+49 170 CALL");
  assert.equal(sormasText('=HYPERLINK("x")'), `'=HYPERLINK("x")`);
  assert.equal(sormasText(" \t=1+1\r\n"), "'=1+1");
  assert.equal(sormasText("Weg\n## Hof"), "Weg ## Hof");
  assert.equal(sormasText("O'Brien"), "O'Brien");
  assert.equal(sormasCell("##Raute", ","), '"##Raute"');
  assert.equal(sormasCell("a,b", ","), '"a,b"');
});

test("the CSV starts with a BOM and the column titles; SORMAS has no BOM, entity and field rows", () => {
  // By default CSV is split on ";" (Excel in German), SORMAS on "," (its importer).
  assert.deepEqual({ ...LAYOUT.separators }, { csv: ";", sormas: "," });
  const csv = text(rowsToCsv([], LAYOUT));
  assert.equal(csv, `\ufeff${LAYOUT.columns.join(";")}\r\n`);
  const sormas = text(rowsToSormas([], LAYOUT)).split("\r\n");
  assert.equal(sormas[0], LAYOUT.sormasFields.map(() => LAYOUT.sormasEntity).join(","));
  assert.equal(sormas[1], LAYOUT.sormasFields.join(","));
});

test("XLSX: guest text in inline string cells, unaltered but for characters XML cannot carry", () => {
  const xlsx = rowsToXlsx([[1, 1, '=HYPERLINK("x")', "a\u0001b\r\nc", "<b>&"]], LAYOUT);
  const zip = Buffer.from(xlsx).toString("utf8"); // a stored zip: the XML is there as it is
  assert.ok(zip.startsWith("PK\u0003\u0004"));
  assert.match(zip, /<c r="C2" t="inlineStr"><is><t xml:space="preserve">=HYPERLINK\(&quot;x&quot;\)<\/t>/);
  assert.match(zip, /<t xml:space="preserve">a\ufffdb\nc<\/t>/);
  assert.match(zip, /&lt;b&gt;&amp;/);
  assert.match(zip, /<sheet name="Kontakte"/);
  assert.doesNotMatch(zip, /<f>/);
  assert.match(zip, /<c r="A2"><v>1<\/v><\/c>/);
});

test("times are Berlin wall-clock times, across both daylight-saving switches", () => {
  assert.equal(berlinText(Date.parse("2026-03-29T00:30:00Z")), "2026-03-29 01:30");
  assert.equal(berlinText(Date.parse("2026-03-29T01:30:00Z")), "2026-03-29 03:30");
  assert.equal(berlinText(Date.parse("2026-10-25T00:15:00Z")), "2026-10-25 02:15");
  assert.equal(berlinText(Date.parse("2026-10-25T01:15:00Z")), "2026-10-25 02:15");
});

test("package times: whole seconds in UTC, real dates only", () => {
  assert.equal(parseTime("2026-07-01T10:00:00Z"), Date.UTC(2026, 6, 1, 10));
  for (const bad of ["2026-02-31T10:00:00Z", "2026-07-01T10:00:00.5Z", "2026-07-01 10:00:00Z", "2026-07-01T10:00:00+02:00", 7]) {
    assert.equal(parseTime(bad), null, String(bad));
  }
});

test("overlap is counted in whole minutes, never negative", () => {
  const visit = (from, until) => ({ arrival: Date.parse(from), departure: Date.parse(until) });
  const a = visit("2026-07-01T10:00:00Z", "2026-07-01T12:00:00Z");
  assert.equal(overlapMinutes(a, visit("2026-07-01T11:29:30Z", "2026-07-01T13:00:00Z")), 30);
  assert.equal(overlapMinutes(a, visit("2026-07-01T12:00:00Z", "2026-07-01T13:00:00Z")), 0);
  assert.equal(overlapMinutes(a, visit("2026-07-01T13:00:00Z", "2026-07-01T14:00:00Z")), 0);
});

test("an unknown source is shown as it is; a source named like an Object member too", () => {
  const [visit] = VISITS;
  for (const source of ["api_import", "constructor", "__proto__"]) {
    const [row] = visitRows([{ ...visit, source }], LAYOUT);
    assert.equal(row.cells[LAYOUT.columns.indexOf("Quelle")], source);
  }
});

test("the export layout must be complete", () => {
  const data = fixture("export-layout.json");
  assert.throws(() => readExportLayout({ ...data, columns: [] }), TypeError);
  assert.throws(() => readExportLayout({ ...data, sormasFields: undefined }), TypeError);
  assert.throws(() => readExportLayout({ ...data, sourceLabels: { guest_page: 1 } }), TypeError);
  assert.throws(() => readExportLayout(null), TypeError);
  assert.throws(() => readExportLayout({ ...data, separators: { csv: "|", sormas: "," } }), TypeError);
  assert.throws(() => readExportLayout({ ...data, separators: undefined }), TypeError);
  assert.throws(() => readExportLayout({ ...data, nameColumns: [99] }), TypeError);
  assert.deepEqual(
    readExportLayout(data).nameColumns.map((column) => data.columns[column]),
    ["Vorname", "Nachname"],
  );
});

const REQUEST = { windowStart: "2026-07-01T00:00:00Z", windowEnd: "2026-07-02T00:00:00Z", areas: [] };

function exportPackage(content, header = {}) {
  const body = Buffer.from(JSON.stringify(content));
  const line = JSON.stringify({
    format: "gastregister-export",
    version: 1,
    contentLength: body.length,
    contentSha256: createHash("sha256").update(body).digest("hex"),
    ...header,
  });
  return Buffer.concat([Buffer.from(`${line}\n`), body]);
}

async function packageKind(bytes) {
  try {
    await parsePackage(bytes);
    return "ok";
  } catch (error) {
    assert.ok(error instanceof PackageFormatError, String(error));
    return error.kind;
  }
}

test("export packages are refused with the CLI's kinds (docs/FORMAT.md §11.2)", async () => {
  const content = { records: [], request: REQUEST, location: { code: "L" }, areas: [] };
  const good = exportPackage(content);
  assert.equal(await packageKind(good), "ok");
  assert.equal(await packageKind(Buffer.from("PK\u0003\u0004")), "not_a_package");
  assert.equal(await packageKind(good.subarray(0, 20)), "truncated");
  assert.equal(await packageKind(good.subarray(0, good.length - 1)), "truncated");
  assert.equal(await packageKind(exportPackage(content, { version: 2 })), "unsupported_version");
  assert.equal(await packageKind(Buffer.concat([good, Buffer.from(" ")])), "integrity");
  assert.equal(await packageKind(exportPackage({ ...content, areas: {} })), "malformed");
  assert.equal(await packageKind(exportPackage({ ...content, request: {} })), "malformed");
});

test("a damaged record in a package is listed, not dropped", async () => {
  const record = {
    area: "a",
    arrival: "2026-07-01T10:00:00Z",
    departure: null,
    autoDeparture: "2026-07-01T12:00:00Z",
    persons: 1,
    source: "guest_page",
    keyId: "ab".repeat(32),
    envelope: "AA",
  };
  const pkg = await parsePackage(
    exportPackage({
      records: [record, { ...record, persons: "1" }],
      request: REQUEST,
      location: { code: "L" },
      areas: [],
    }),
  );
  assert.equal(pkg.records.length, 1);
  assert.deepEqual(pkg.damaged, [{ index: 1, kind: "malformed" }]);
});
