// Rows to files, in the browser: CSV, SORMAS CSV and XLSX, byte for byte as the CLI
// writes CSV and SORMAS (health_export/exports.py), built here so that no opened
// contact data is ever sent to the server for conversion. Titles and headers come
// from the export layout (export-layout.js), which the server sends.
//
// Guest text never acts: in CSV a cell starting with = + - @ TAB or CR gets a
// leading apostrophe and cells are quoted per RFC 4180; in XLSX every text is an
// inline string cell, which spreadsheet programs never evaluate. The SORMAS CSV
// carries values as SORMAS should store them (sormasText, as exports.sormas_text).

const FORMULA_TRIGGERS = ["=", "+", "-", "@", "\t", "\r"];
export const SEPARATORS = [",", ";", "\t"];
const BOM = "\ufeff";
// A phone number as the contact form accepts it: stays as typed in the SORMAS file.
const SORMAS_PHONE = /^\+?[0-9 ()/.-]+$/;
// eslint-disable-next-line no-control-regex -- line breaks and controls become spaces for SORMAS
const SORMAS_BREAKS = /[\u0000-\u001f\u007f]/g;
// Characters XML 1.0 cannot carry; the CLI replaces the same ones with U+FFFD.
// eslint-disable-next-line no-control-regex -- finding control characters is its job
const XML_ILLEGAL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g;

const utf8 = new TextEncoder();

export function neutralise(text) {
  return FORMULA_TRIGGERS.some((trigger) => text.startsWith(trigger)) ? `'${text}` : text;
}

export function csvCell(value, separator) {
  if (typeof value === "number") return String(value);
  const text = neutralise(String(value));
  if (text.includes(separator) || /["\r\n]/.test(text)) {
    return `"${text.replaceAll('"', '""')}"`;
  }
  return text;
}

/**
 * A value for SORMAS's importer (exports.sormas_text): one line, trimmed, a phone
 * number as typed, any other value starting with a formula trigger neutralised.
 */
export function sormasText(text) {
  const line = text.replace(SORMAS_BREAKS, " ").replace(/^ +| +$/g, "");
  return SORMAS_PHONE.test(line) ? line : neutralise(line);
}

/** A SORMAS CSV cell; one starting with "#" is quoted so no line can begin with "##". */
export function sormasCell(value, separator) {
  const text = sormasText(String(value));
  if (text.includes(separator) || text.includes('"') || text.startsWith("#")) {
    return `"${text.replaceAll('"', '""')}"`;
  }
  return text;
}

function csvLines(rows, separator, cell = csvCell) {
  if (!SEPARATORS.includes(separator)) throw new RangeError("separator must be , ; or TAB");
  return rows.map((row) => `${row.map((v) => cell(v, separator)).join(separator)}\r\n`).join("");
}

/** CSV with a UTF-8 BOM (spreadsheet programs then read umlauts right). */
export function rowsToCsv(rows, layout, separator = layout.separators.csv) {
  return utf8.encode(BOM + csvLines([[...layout.columns], ...rows], separator));
}

/** SORMAS event-participant import: entity row, field row, then data; no BOM. */
export function rowsToSormas(rows, layout, separator = layout.separators.sormas) {
  const fields = layout.sormasFields;
  const header = [fields.map(() => layout.sormasEntity), [...fields]];
  return utf8.encode(csvLines([...header, ...rows], separator, sormasCell));
}

// --- XLSX: a stored (uncompressed) zip of five XML parts --------------------------------

function xmlEscape(text) {
  // XML readers turn CR into LF anyway; the CLI does the same, visibly.
  return text
    .replaceAll("\r\n", "\n")
    .replaceAll("\r", "\n")
    .replace(XML_ILLEGAL, "\ufffd")
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

function columnName(index) {
  let name = "";
  for (let n = index + 1; n > 0; n = Math.floor((n - 1) / 26)) {
    name = String.fromCharCode(65 + ((n - 1) % 26)) + name;
  }
  return name;
}

function sheetXml(rows) {
  const parts = [
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n',
    '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>',
  ];
  rows.forEach((row, r) => {
    parts.push(`<row r="${r + 1}">`);
    row.forEach((value, c) => {
      const ref = `${columnName(c)}${r + 1}`;
      if (value === "") return; // as openpyxl: an empty text is no cell at all
      if (typeof value === "number") {
        parts.push(`<c r="${ref}"><v>${value}</v></c>`);
      } else {
        parts.push(
          `<c r="${ref}" t="inlineStr"><is><t xml:space="preserve">${xmlEscape(String(value))}</t></is></c>`,
        );
      }
    });
    parts.push("</row>");
  });
  parts.push("</sheetData></worksheet>");
  return parts.join("");
}

const XML_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
const RELS = "http://schemas.openxmlformats.org/package/2006/relationships";
const DOC_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const CT = "application/vnd.openxmlformats-";

function xlsxParts(rows, sheetName) {
  return [
    [
      "[Content_Types].xml",
      `${XML_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
        `<Default Extension="rels" ContentType="${CT}package.relationships+xml"/>` +
        '<Default Extension="xml" ContentType="application/xml"/>' +
        `<Override PartName="/xl/workbook.xml" ContentType="${CT}officedocument.spreadsheetml.sheet.main+xml"/>` +
        `<Override PartName="/xl/worksheets/sheet1.xml" ContentType="${CT}officedocument.spreadsheetml.worksheet+xml"/>` +
        "</Types>",
    ],
    [
      "_rels/.rels",
      `${XML_HEAD}<Relationships xmlns="${RELS}"><Relationship Id="rId1" ` +
        `Type="${DOC_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
    ],
    [
      "xl/workbook.xml",
      `${XML_HEAD}<workbook xmlns="${MAIN}" xmlns:r="${DOC_RELS}"><sheets>` +
        `<sheet name="${xmlEscape(sheetName)}" sheetId="1" r:id="rId1"/></sheets></workbook>`,
    ],
    [
      "xl/_rels/workbook.xml.rels",
      `${XML_HEAD}<Relationships xmlns="${RELS}"><Relationship Id="rId1" ` +
        `Type="${DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`,
    ],
    ["xl/worksheets/sheet1.xml", sheetXml(rows)],
  ];
}

let crcTable = null;

function crc32(bytes) {
  if (crcTable === null) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n += 1) {
      let c = n;
      for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i += 1) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** A zip with every entry stored (method 0); the date is fixed so output is reproducible. */
export function storedZip(entries) {
  const chunks = [];
  const central = [];
  let offset = 0;
  const DOS_DATE = (0 << 9) | (1 << 5) | 1; // 1980-01-01
  for (const [name, data] of entries) {
    const nameBytes = utf8.encode(name);
    const crc = crc32(data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint16(6, 0x0800, true); // UTF-8 names
    local.setUint16(8, 0, true);
    local.setUint16(10, 0, true);
    local.setUint16(12, DOS_DATE, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, data.length, true);
    local.setUint32(22, data.length, true);
    local.setUint16(26, nameBytes.length, true);
    local.setUint16(28, 0, true);
    chunks.push(new Uint8Array(local.buffer), nameBytes, data);
    const entry = new DataView(new ArrayBuffer(46));
    entry.setUint32(0, 0x02014b50, true);
    entry.setUint16(4, 20, true);
    entry.setUint16(6, 20, true);
    entry.setUint16(8, 0x0800, true);
    entry.setUint16(10, 0, true);
    entry.setUint16(12, 0, true);
    entry.setUint16(14, DOS_DATE, true);
    entry.setUint32(16, crc, true);
    entry.setUint32(20, data.length, true);
    entry.setUint32(24, data.length, true);
    entry.setUint16(28, nameBytes.length, true);
    entry.setUint32(42, offset, true);
    central.push(new Uint8Array(entry.buffer), nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const centralSize = central.reduce((sum, part) => sum + part.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, centralSize, true);
  end.setUint32(16, offset, true);
  const all = [...chunks, ...central, new Uint8Array(end.buffer)];
  const out = new Uint8Array(all.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of all) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** XLSX with one sheet (layout.xlsxSheet): header row, then the rows; texts as inline strings. */
export function rowsToXlsx(rows, layout) {
  const table = [[...layout.columns], ...rows];
  return storedZip(
    xlsxParts(table, layout.xlsxSheet).map(([name, xml]) => [name, utf8.encode(xml)]),
  );
}
