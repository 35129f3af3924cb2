// The decryption page (/amt/requests/<id>/decrypt and /amt/decrypt).
//
// The key file and the passphrase are read here and used here only: the page's
// one request to the server is the GET of the package (which carries neither),
// and saved files are built in the browser (decrypt-export.js). Guest text is put
// into the page with textContent only, never as markup.

import { readKeyFile } from "./sealed-record.js";
import {
  overlapMinutes,
  openPackage,
  VISIT_CHECK_KINDS,
  packageKeyIds,
  sormasRows,
  visitRows,
  berlinText,
} from "./decrypt-rows.js";
import { PackageFormatError, parsePackage, parseTime } from "./export-package.js";
import { startOpenerWorkers, stopOpenerWorkers } from "./record-opener.js";
import { rowsToCsv, rowsToSormas, rowsToXlsx } from "./decrypt-export.js";
import { pageExportLayout } from "./export-layout.js";
import { browserStorage, userPreferences } from "./decrypt-preferences.js";
import { drawTimeline, timelineModel } from "./decrypt-timeline.js";

const root = document.getElementById("decrypt");
const messages = document.getElementById("decrypt-messages").dataset;
const statusLine = document.getElementById("decrypt-status");
const errorBox = document.getElementById("decrypt-error");
const layout = pageExportLayout();
// The signed-in user's choices on this page (separators, columns), kept in this browser.
const preferences = userPreferences(browserStorage(), root.dataset.user ?? "");

const state = {
  pkg: null,
  visits: [],
  rows: [],
  shown: [],
  sortColumn: null,
  sortDescending: false,
  index: null,
};

function message(name, values = {}) {
  return (messages[name] ?? name).replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
}

function showError(text) {
  errorBox.textContent = text;
  errorBox.hidden = false;
  errorBox.focus?.();
}

function clearError() {
  errorBox.textContent = "";
  errorBox.hidden = true;
}

const PACKAGE_MESSAGES = {
  not_a_package: "notPackage",
  unsupported_version: "unsupported",
  truncated: "truncated",
  integrity: "integrity",
  malformed: "malformed",
};

async function loadPackageBytes() {
  const url = root.dataset.packageUrl;
  if (url) {
    statusLine.textContent = message("loading");
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { Accept: "application/vnd.gastregister.export, application/json" },
    });
    if (!response.ok) {
      let text = message("downloadFailed");
      try {
        const body = await response.json();
        if (body?.error?.message) text = `${text} ${body.error.message}`;
      } catch {
        // not JSON: keep the general message
      }
      throw new Error(text);
    }
    return response.arrayBuffer();
  }
  const input = document.getElementById("package-file");
  if (!input.files?.length) throw new Error(message("noPackage"));
  return input.files[0].arrayBuffer();
}

/** The key file opened by the first passphrase that fits, or null if none does. */
async function openWithAny(content, passphrases) {
  for (const passphrase of passphrases) {
    try {
      return await readKeyFile(content, passphrase);
    } catch (error) {
      if (error?.kind !== "wrong_passphrase") {
        throw new Error(message("badKeyFile"), { cause: error });
      }
    }
  }
  return null;
}

/** A password field for one key file whose passphrase differs (after a key rotation). */
function askPassphraseFor(index, name) {
  const id = `passphrase-${index}`;
  let field = document.getElementById(id);
  if (!field) {
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = message("passphraseFor", { name });
    field = document.createElement("input");
    field.type = "password";
    field.id = id;
    field.autocomplete = "off";
    field.className = "key-passphrase";
    document.getElementById("extra-passphrases").append(label, field);
  }
  field.focus();
}

function passphrasesEntered() {
  const fields = [document.getElementById("passphrase"), ...document.querySelectorAll(".key-passphrase")];
  return fields.map((field) => field.value).filter((value) => value !== "");
}

function forgetPassphrases() {
  document.getElementById("passphrase").value = "";
  document.getElementById("extra-passphrases").replaceChildren();
}

// Each key file may have its own passphrase: a key rotation makes a new key file, and
// nothing makes its holder reuse the old passphrase. Every passphrase entered is tried
// on each file; a file that none opens gets a field of its own.
async function readKeys(passphrases) {
  const input = document.getElementById("key-file");
  if (!input.files?.length) throw new Error(message("noKey"));
  statusLine.textContent = message("readingKey");
  const keys = [];
  for (const [index, file] of [...input.files].entries()) {
    const key = await openWithAny(new Uint8Array(await file.arrayBuffer()), passphrases);
    if (key) {
      keys.push(key);
    } else if (input.files.length === 1) {
      throw new Error(message("wrongPassphrase"));
    } else {
      askPassphraseFor(index, file.name);
      throw new Error(message("needPassphrase", { name: file.name }));
    }
  }
  return keys;
}

async function openAll(event) {
  event.preventDefault();
  clearError();
  const passphrases = passphrasesEntered();
  if (passphrases.length === 0) {
    showError(message("noPassphrase"));
    return;
  }
  const button = document.getElementById("open-records");
  button.disabled = true;
  // The workers that open the records load their modules while the key files and the
  // package are read.
  const pool = startOpenerWorkers();
  try {
    const keys = await readKeys(passphrases);
    forgetPassphrases();
    let pkg;
    try {
      pkg = await parsePackage(await loadPackageBytes());
    } catch (error) {
      if (error instanceof PackageFormatError) {
        throw new Error(message(PACKAGE_MESSAGES[error.kind] ?? "malformed"), { cause: error });
      }
      throw error;
    }
    const known = packageKeyIds(pkg);
    if (pkg.records.length > 0 && !keys.some((key) => known.has(key.keyId))) {
      throw new Error(message("foreignKey"));
    }
    const total = pkg.records.length + pkg.damaged.length;
    const result = await openPackage(
      pkg,
      keys,
      (done, all) => {
        statusLine.textContent = message("opening", { done, total: all });
      },
      { pool },
    );
    state.pkg = pkg;
    state.visits = result.visits;
    state.rows = visitRows(result.visits, layout);
    state.index = null;
    showFailures(pkg, result.failures, result.unbound);
    statusLine.textContent = message("opened", {
      opened: result.visits.length,
      total,
      rows: state.rows.length,
    });
    setUpResults();
  } catch (error) {
    statusLine.textContent = "";
    showError(error.message);
  } finally {
    stopOpenerWorkers(pool);
    button.disabled = false;
  }
}

function showFailures(pkg, failures, unbound) {
  const section = document.getElementById("failures");
  const list = document.getElementById("failure-list");
  list.replaceChildren();
  section.hidden = failures.length === 0 && unbound.length === 0;
  for (const item of failures) {
    const area = pkg.areas.find((a) => a.code === item.area);
    const arrivalMs = Date.parse(item.arrival);
    const li = document.createElement("li");
    // Opened but refused by a visit check (docs/FORMAT.md §11.3), or not opened at all.
    const text = VISIT_CHECK_KINDS.includes(item.kind) ? "refused" : "failure";
    li.textContent = message(text, {
      number: item.number,
      area: area ? String(area.name) : item.area || "?",
      arrival: Number.isNaN(arrivalMs) ? item.arrival || "?" : berlinText(arrivalMs),
      kind: item.kind,
    });
    list.append(li);
  }
  if (failures.length > 0) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = message("failed", { count: failures.length });
    list.prepend(li);
  }
  if (unbound.length > 0) {
    // Format v1 visits open and are shown, but their metadata could not be checked.
    const li = document.createElement("li");
    li.id = "unbound-visits";
    li.textContent = message("unbound", { count: unbound.length, numbers: unbound.join(", ") });
    list.append(li);
  }
}

function setUpResults() {
  document.getElementById("results").hidden = false;
  const select = document.getElementById("filter-area");
  select.replaceChildren(select.options[0]);
  const seen = new Set();
  for (const visit of state.visits) {
    if (seen.has(visit.areaCode)) continue;
    seen.add(visit.areaCode);
    const option = document.createElement("option");
    option.value = visit.areaCode;
    option.textContent = visit.areaName;
    select.append(option);
  }
  renderHead();
  render();
}

// --- columns: which the table shows -----------------------------------------------------

// The table's columns: the export columns (cell is the row's cell index), then the
// overlap with the index case. The name columns are always shown and stay in sight
// (CSS: .name-column) when the wide table is scrolled sideways.
const OVERLAP = "overlap";
const LONG_TEXT = 40;
const tableColumns = [
  ...layout.columns.map((title, cell) => ({
    key: title,
    title,
    cell,
    name: layout.nameColumns.indexOf(cell) + 1, // 1, 2 for the name columns, else 0
  })),
  { key: OVERLAP, title: message("overlap"), cell: null, name: 0 },
];

function isKeyList(value) {
  return Array.isArray(value) && value.every((item) => typeof item === "string");
}

const hiddenColumns = new Set(preferences.get("hiddenColumns", isKeyList) ?? []);

function shownColumns() {
  return tableColumns.filter((column) => column.name > 0 || !hiddenColumns.has(column.key));
}

/** A check box per column that may be hidden; every change is remembered for this user. */
function setUpColumnChoice() {
  const list = document.getElementById("column-choice-list");
  for (const column of tableColumns) {
    if (column.name > 0) continue;
    const id = `column-${tableColumns.indexOf(column)}`;
    const wrapper = document.createElement("p");
    wrapper.className = "checkbox";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = id;
    box.value = column.key;
    box.checked = !hiddenColumns.has(column.key);
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = column.title;
    wrapper.append(box, label);
    list.append(wrapper);
  }
  list.addEventListener("change", (event) => {
    const box = event.target;
    if (box.checked) hiddenColumns.delete(box.value);
    else hiddenColumns.add(box.value);
    preferences.set("hiddenColumns", [...hiddenColumns]);
    if (state.pkg) {
      renderHead();
      render();
    }
  });
}

function nameClass(column) {
  return column.name > 0 ? `name-column name-column-${column.name}` : "";
}

function renderHead() {
  const head = document.getElementById("guest-table-head");
  head.replaceChildren();
  for (const column of shownColumns()) {
    const th = document.createElement("th");
    th.scope = "col";
    th.className = nameClass(column);
    if (column.cell === null) {
      th.textContent = column.title;
    } else {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link sort";
      button.textContent = column.title;
      button.dataset.column = String(column.cell);
      th.append(button);
      if (state.sortColumn === column.cell) {
        th.setAttribute("aria-sort", state.sortDescending ? "descending" : "ascending");
      }
    }
    head.append(th);
  }
  const action = document.createElement("th");
  action.scope = "col";
  action.textContent = message("markIndex");
  head.append(action);
}

function filteredRows() {
  const area = document.getElementById("filter-area").value;
  const from = document.getElementById("filter-from").value.replace("T", " ");
  const until = document.getElementById("filter-until").value.replace("T", " ");
  const minimum = document.getElementById("filter-overlap").value;
  const minOverlap = minimum === "" ? null : Number(minimum);
  let rows = state.rows.filter(({ visit, cells }) => {
    if (area && visit.areaCode !== area) return false;
    if (from && cells[4] < from) return false; // departure before "present after"
    if (until && cells[3] > until) return false; // arrival after "present before"
    if (state.index && minOverlap !== null && overlapMinutes(visit, state.index) < minOverlap) {
      return false;
    }
    return true;
  });
  if (state.sortColumn !== null) {
    const column = state.sortColumn;
    const direction = state.sortDescending ? -1 : 1;
    rows = rows
      .map((row, position) => ({ row, position }))
      .sort((a, b) => {
        const x = a.row.cells[column];
        const y = b.row.cells[column];
        let order;
        if (typeof x === "number" && typeof y === "number") order = x - y;
        else order = String(x).localeCompare(String(y), "de");
        return order * direction || a.position - b.position;
      })
      .map(({ row }) => row);
  }
  return rows;
}

function render() {
  state.shown = filteredRows();
  const body = document.getElementById("guest-table-body");
  const fragment = document.createDocumentFragment();
  const columns = shownColumns();
  for (const { visit, cells } of state.shown) {
    const tr = document.createElement("tr");
    if (state.index === visit) tr.className = "index-visit";
    for (const column of columns) {
      const td = document.createElement("td");
      td.className = nameClass(column);
      if (column.cell !== null) {
        const text = String(cells[column.cell]);
        td.textContent = text;
        // Short cells stay on one line; a long note or street wraps instead of
        // stretching the table.
        if (text.length > LONG_TEXT) td.classList.add("long-text");
      } else if (state.index) {
        td.textContent = String(overlapMinutes(visit, state.index));
      }
      tr.append(td);
    }
    const action = document.createElement("td");
    if (cells[1] === 1) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary mark-index";
      button.dataset.visit = String(visit.number);
      button.textContent = message("markIndex");
      action.append(button);
    }
    tr.append(action);
    fragment.append(tr);
  }
  body.replaceChildren(fragment);
  document.getElementById("result-summary").textContent = message("shown", {
    shown: state.shown.length,
    rows: state.rows.length,
  });
  renderTimeline();
  const indexLine = document.getElementById("index-case");
  const clear = document.getElementById("clear-index");
  if (state.index) {
    indexLine.textContent = message("index", {
      number: state.index.number,
      area: state.index.areaName,
      arrival: berlinText(state.index.arrival),
      departure: berlinText(state.index.departure),
    });
    clear.hidden = false;
  } else {
    indexLine.textContent = "";
    clear.hidden = true;
  }
}

// --- timeline -----------------------------------------------------------------------

function timelineMinimum() {
  const value = Number(document.getElementById("timeline-minimum").value);
  return Number.isFinite(value) && value > 0 ? value : 0;
}

/** The visits shown in the table, drawn over the request's window (decrypt-timeline.js). */
function renderTimeline() {
  const visits = shownVisits();
  const minimum = timelineMinimum();
  const model = timelineModel(visits, {
    windowStart: parseTime(state.pkg.request.windowStart),
    windowEnd: parseTime(state.pkg.request.windowEnd),
    index: state.index,
    minimum,
  });
  let description = message("timelineSummary", {
    visits: visits.length,
    areas: model.areas.length,
    start: berlinText(model.start),
    end: berlinText(model.end),
  });
  description += " ";
  description += state.index
    ? message("timelineIndex", { number: state.index.number, close: model.closeCount, minimum })
    : message("timelineNoIndex");
  document.getElementById("timeline-summary").textContent = description;
  const svg = document.getElementById("timeline");
  const width = Math.max(640, Math.floor(svg.parentElement.clientWidth) - 2);
  drawTimeline(svg, model, width, {
    title: message("timelineTitle"),
    description,
    bar(bar) {
      const visit = bar.visit;
      let text = message("timelineBar", {
        number: visit.number,
        area: visit.areaName,
        arrival: berlinText(visit.arrival),
        departure: berlinText(visit.departure),
      });
      if (bar.isIndex) text += ` (${message("markIndex")})`;
      else if (bar.overlap) text += `; ${message("timelineOverlap", { minutes: bar.overlap })}`;
      return text;
    },
  });
}

const SEPARATOR_CHOICES = [",", ";", "tab"];
// The separator fields and the preference each is remembered as.
const SEPARATOR_FIELDS = { separator: "csvSeparator", "sormas-separator": "sormasSeparator" };

function separator(id) {
  const value = document.getElementById(id).value;
  return value === "tab" ? "\t" : value;
}

/** Each separator field shows the user's last choice, or the layout's default (the template's). */
function setUpSeparators() {
  for (const [id, name] of Object.entries(SEPARATOR_FIELDS)) {
    const select = document.getElementById(id);
    const remembered = preferences.get(name, (value) => SEPARATOR_CHOICES.includes(value));
    if (remembered !== undefined) select.value = remembered;
    select.addEventListener("change", () => preferences.set(name, select.value));
  }
}

function save(bytes, type, suffix) {
  const id = state.pkg?.request?.id ?? "paket";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([bytes], { type }));
  link.download = `gastregister-anfrage-${id}.${suffix}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 60000);
}

function shownVisits() {
  const seen = new Set();
  const visits = [];
  for (const { visit } of state.shown) {
    if (!seen.has(visit.number)) {
      seen.add(visit.number);
      visits.push(visit);
    }
  }
  return visits;
}

setUpSeparators();
setUpColumnChoice();
document.getElementById("open-form").addEventListener("submit", openAll);
document.getElementById("key-file").addEventListener("change", () => {
  document.getElementById("extra-passphrases").replaceChildren();
});
// Enabled only now: a click before this module ran would submit the form natively.
document.getElementById("open-records").disabled = false;
document.getElementById("guest-table-head").addEventListener("click", (event) => {
  const button = event.target.closest("button.sort");
  if (!button) return;
  const column = Number(button.dataset.column);
  state.sortDescending = state.sortColumn === column ? !state.sortDescending : false;
  state.sortColumn = column;
  renderHead();
  render();
});
document.getElementById("guest-table-body").addEventListener("click", (event) => {
  const button = event.target.closest("button.mark-index");
  if (!button) return;
  const number = button.dataset.visit;
  state.index = state.visits.find((visit) => visit.number === Number(number));
  render();
  // The row was drawn anew: keep the keyboard where it was.
  document.querySelector(`#guest-table-body button.mark-index[data-visit="${number}"]`)?.focus();
});
document.getElementById("clear-index").addEventListener("click", () => {
  state.index = null;
  render();
});
document.getElementById("timeline-minimum").addEventListener("input", () => {
  if (state.pkg) renderTimeline();
});
// The timeline is drawn to the width it has: again when the window changes size.
let resizeFrame = 0;
window.addEventListener("resize", () => {
  cancelAnimationFrame(resizeFrame);
  resizeFrame = requestAnimationFrame(() => {
    if (state.pkg && !document.getElementById("results").hidden) renderTimeline();
  });
});
for (const id of ["filter-area", "filter-from", "filter-until", "filter-overlap"]) {
  document.getElementById(id).addEventListener("input", render);
}
document.getElementById("save-csv").addEventListener("click", () => {
  const rows = state.shown.map((row) => row.cells);
  save(rowsToCsv(rows, layout, separator("separator")), "text/csv", "csv");
});
document.getElementById("save-sormas").addEventListener("click", () => {
  const rows = sormasRows(shownVisits(), String(state.pkg.location.name ?? ""));
  save(rowsToSormas(rows, layout, separator("sormas-separator")), "text/csv", "sormas.csv");
});
document.getElementById("save-xlsx").addEventListener("click", () => {
  save(
    rowsToXlsx(state.shown.map((row) => row.cells), layout),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "xlsx",
  );
});
