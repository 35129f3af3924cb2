// The fixed texts of the export files: column titles, source labels, the SORMAS
// header, the default separators. health_export/export_layout.py defines them once; the decryption page
// hands them over as page data (<script type="application/json" id="export-layout">,
// no inline script under the CSP), and decrypt-rows.js and decrypt-export.js take
// the layout read here as an argument, so the browser writes the CLI's texts.

function isStringList(value) {
  return Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === "string");
}

function isText(value) {
  return typeof value === "string" && value !== "";
}

function isSeparator(value) {
  return [",", ";", "\t"].includes(value);
}

/**
 * The layout from its JSON form (export_layout.client_layout). Throws a TypeError
 * when a part is missing or of the wrong type: better no file than one without
 * its titles.
 */
export function readExportLayout(data) {
  const labels = data?.sourceLabels;
  const fine =
    isStringList(data?.columns) &&
    typeof labels === "object" &&
    labels !== null &&
    !Array.isArray(labels) &&
    Object.values(labels).every(isText) &&
    isText(data.yes) &&
    isText(data.no) &&
    isText(data.xlsxSheet) &&
    isText(data.sormasEntity) &&
    isStringList(data.sormasFields) &&
    isSeparator(data.separators?.csv) &&
    isSeparator(data.separators?.sormas) &&
    Array.isArray(data.nameColumns) &&
    data.nameColumns.every((column) => Number.isInteger(column) && column in data.columns);
  if (!fine) throw new TypeError("export layout: missing or malformed page data");
  return Object.freeze({
    columns: Object.freeze([...data.columns]),
    // The positions of the name columns, which the page always shows and keeps in sight.
    nameColumns: Object.freeze([...data.nameColumns]),
    // A Map, so that a source named like an Object property is no label.
    sourceLabels: new Map(Object.entries(labels)),
    yes: data.yes,
    no: data.no,
    xlsxSheet: data.xlsxSheet,
    sormasEntity: data.sormasEntity,
    sormasFields: Object.freeze([...data.sormasFields]),
    // The separators a file gets unless the user chose another (export_layout.py).
    separators: Object.freeze({ csv: data.separators.csv, sormas: data.separators.sormas }),
  });
}

/** The layout the page carries. */
export function pageExportLayout(doc = document) {
  return readExportLayout(JSON.parse(doc.getElementById("export-layout").textContent));
}
