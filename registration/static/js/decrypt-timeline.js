// The timeline of the decryption page: the visits shown in the table, as bars over the
// request's window, one band per area; visits that overlap each other get lanes of
// their own. With an index case chosen, its bar is marked, and so is the overlap of
// every visit that shares at least the chosen minimum with it (the RKI counts 15
// minutes or more as close contact).
//
// Drawn here, from the opened data only, as SVG elements made one by one (no markup
// from text, no library, no inline style: the CSP allows neither). The table holds
// the same information; the SVG carries a title and a description for screen readers.

import { berlinText, overlapMinutes } from "./decrypt-rows.js";

const MINUTE = 60000;
const TICK_STEPS = [15, 30, 60, 120, 180, 360, 720, 1440, 2880].map((minutes) => minutes * MINUTE);
const MAX_TICKS = 8;
const SVG = "http://www.w3.org/2000/svg";

// Geometry, in SVG units (pixels at 1:1).
const LABEL_WIDTH = 160;
const AXIS_HEIGHT = 30;
const LANE_HEIGHT = 20;
const BAR_HEIGHT = 14;
const AREA_GAP = 10;
const RIGHT_MARGIN = 16;

/** Milliseconds to add to a UTC time for the wall clock in Berlin at that moment. */
function berlinOffset(ms) {
  const text = berlinText(ms);
  const wall = Date.UTC(
    Number(text.slice(0, 4)),
    Number(text.slice(5, 7)) - 1,
    Number(text.slice(8, 10)),
    Number(text.slice(11, 13)),
    Number(text.slice(14, 16)),
  );
  return wall - Math.floor(ms / MINUTE) * MINUTE;
}

function ticksFor(start, end) {
  const span = end - start;
  const step = TICK_STEPS.find((candidate) => span / candidate <= MAX_TICKS) ?? TICK_STEPS.at(-1);
  const offset = berlinOffset(start);
  const ticks = [];
  let day = "";
  for (let at = Math.ceil((start + offset) / step) * step - offset; at <= end; at += step) {
    const text = berlinText(at);
    const date = text.slice(0, 10);
    const time = text.slice(11);
    ticks.push({ at, label: date === day ? time : `${date.slice(8, 10)}.${date.slice(5, 7)}. ${time}` });
    day = date;
  }
  return ticks;
}

/**
 * What the timeline shows: { start, end, ticks, areas: [{ code, name, lanes: [[bar]] }],
 * closeCount }. A bar: { visit, from, to (clipped to the window), clippedStart,
 * clippedEnd, isIndex, overlap (minutes with the index case, null without one), close
 * (overlap >= minimum and > 0, not the index case itself), overlapFrom, overlapTo }.
 */
export function timelineModel(visits, { windowStart, windowEnd, index, minimum }) {
  const start = windowStart;
  const end = Math.max(windowEnd, windowStart + MINUTE);
  const areas = new Map();
  let closeCount = 0;
  const ordered = [...visits].sort((a, b) => a.arrival - b.arrival || a.number - b.number);
  for (const visit of ordered) {
    if (!areas.has(visit.areaCode)) {
      areas.set(visit.areaCode, { code: visit.areaCode, name: visit.areaName, lanes: [], ends: [] });
    }
    const area = areas.get(visit.areaCode);
    const isIndex = index !== null && index.number === visit.number;
    const overlap = index === null ? null : overlapMinutes(visit, index);
    const close = !isIndex && overlap !== null && overlap > 0 && overlap >= minimum;
    if (close) closeCount += 1;
    const bar = {
      visit,
      from: Math.min(Math.max(visit.arrival, start), end),
      to: Math.max(Math.min(visit.departure, end), start),
      clippedStart: visit.arrival < start,
      clippedEnd: visit.departure > end,
      isIndex,
      overlap,
      close,
      overlapFrom: index === null ? null : Math.max(visit.arrival, index.arrival, start),
      overlapTo: index === null ? null : Math.min(visit.departure, index.departure, end),
    };
    let lane = area.ends.findIndex((laneEnd) => laneEnd <= visit.arrival);
    if (lane === -1) {
      lane = area.lanes.length;
      area.lanes.push([]);
      area.ends.push(0);
    }
    area.lanes[lane].push(bar);
    area.ends[lane] = visit.departure;
  }
  return {
    start,
    end,
    ticks: ticksFor(start, end),
    areas: [...areas.values()].map(({ code, name, lanes }) => ({ code, name, lanes })),
    closeCount,
  };
}

function element(name, attributes = {}, text = null) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== null) node.textContent = text;
  return node;
}

/**
 * Draws the model into the <svg> (replacing what it held), `width` units wide.
 * texts: { title, description, bar(bar) -> the bar's tooltip }.
 */
export function drawTimeline(svg, model, width, texts) {
  const lanes = model.areas.reduce((sum, area) => sum + Math.max(1, area.lanes.length), 0);
  const height = AXIS_HEIGHT + lanes * LANE_HEIGHT + model.areas.length * AREA_GAP + 4;
  const plot = width - LABEL_WIDTH - RIGHT_MARGIN;
  const x = (ms) => LABEL_WIDTH + ((ms - model.start) / (model.end - model.start)) * plot;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  const title = element("title", { id: "timeline-title" }, texts.title);
  const description = element("desc", { id: "timeline-desc" }, texts.description);
  const parts = [title, description];

  const axis = element("g", { class: "timeline-axis" });
  for (const tick of model.ticks) {
    const at = x(tick.at).toFixed(1);
    axis.append(
      element("line", { x1: at, x2: at, y1: AXIS_HEIGHT - 6, y2: height, class: "timeline-grid" }),
      element("text", { x: at, y: AXIS_HEIGHT - 10, "text-anchor": "middle" }, tick.label),
    );
  }
  parts.push(axis);

  let top = AXIS_HEIGHT;
  for (const area of model.areas) {
    const band = element("g", { class: "timeline-area" });
    const rows = Math.max(1, area.lanes.length);
    band.append(
      element("line", { x1: 0, x2: width, y1: top + 0.5, y2: top + 0.5, class: "timeline-rule" }),
      element("text", { x: LABEL_WIDTH - 8, y: top + AREA_GAP / 2 + LANE_HEIGHT / 2 + 4, "text-anchor": "end" }, area.name),
    );
    area.lanes.forEach((lane, laneIndex) => {
      const y = top + AREA_GAP / 2 + laneIndex * LANE_HEIGHT + (LANE_HEIGHT - BAR_HEIGHT) / 2;
      for (const bar of lane) band.append(barGroup(bar, x, y, texts));
    });
    parts.push(band);
    top += rows * LANE_HEIGHT + AREA_GAP;
  }
  svg.replaceChildren(...parts);
}

function barGroup(bar, x, y, texts) {
  const classes = ["timeline-visit"];
  if (bar.isIndex) classes.push("index");
  if (bar.close) classes.push("close");
  const group = element("g", { class: classes.join(" "), "data-visit": bar.visit.number });
  group.append(element("title", {}, texts.bar(bar)));
  const left = x(bar.from);
  const barWidth = Math.max(2, x(bar.to) - left);
  group.append(
    element("rect", {
      class: "timeline-bar",
      x: left.toFixed(1),
      y,
      width: barWidth.toFixed(1),
      height: BAR_HEIGHT,
      rx: 2,
    }),
  );
  if (bar.close) {
    const from = x(bar.overlapFrom);
    group.append(
      element("rect", {
        class: "timeline-overlap",
        x: from.toFixed(1),
        y: y - 2,
        width: Math.max(2, x(bar.overlapTo) - from).toFixed(1),
        height: BAR_HEIGHT + 4,
      }),
    );
  }
  return group;
}
