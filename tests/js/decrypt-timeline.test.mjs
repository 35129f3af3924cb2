// The timeline of the decryption page (registration/static/js/decrypt-timeline.js):
// bars over the request window, by area, overlapping visits on lanes of their own,
// the index case and the overlaps of at least the chosen minimum marked.

import assert from "node:assert/strict";
import { test } from "node:test";

import { timelineModel } from "../../registration/static/js/decrypt-timeline.js";

const MINUTE = 60000;
const START = Date.parse("2026-11-20T16:00:00Z"); // 17:00 in Berlin

function visit(number, areaCode, from, to) {
  return {
    number,
    areaCode,
    areaName: areaCode === "a" ? "Saal" : "Bar",
    arrival: START + from * MINUTE,
    departure: START + to * MINUTE,
  };
}

const VISITS = [
  visit(1, "a", 60, 180),
  visit(2, "a", 120, 150),
  visit(3, "b", 170, 240),
  visit(4, "b", 240, 300),
  visit(5, "a", -30, 20), // began before the window
  visit(6, "b", 350, 420), // ends after the window
];
const WINDOW = { windowStart: START, windowEnd: START + 360 * MINUTE };

function bars(model) {
  const found = new Map();
  model.areas.forEach((area) =>
    area.lanes.forEach((lane, laneIndex) =>
      lane.forEach((bar) => found.set(bar.visit.number, { ...bar, area: area.name, laneIndex })),
    ),
  );
  return found;
}

test("bars by area, clipped to the window, overlapping visits on lanes of their own", () => {
  const model = timelineModel(VISITS, { ...WINDOW, index: null, minimum: 15 });
  assert.deepEqual(
    model.areas.map((area) => [area.name, area.lanes.length]),
    [
      ["Saal", 2],
      ["Bar", 1],
    ],
  );
  const found = bars(model);
  assert.equal(found.size, 6);
  assert.equal(found.get(5).from, START); // clipped at the window's start
  assert.equal(found.get(5).clippedStart, true);
  assert.equal(found.get(6).to, START + 360 * MINUTE);
  assert.equal(found.get(6).clippedEnd, true);
  assert.equal(found.get(1).laneIndex, found.get(5).laneIndex); // 5 ends before 1 begins
  assert.notEqual(found.get(1).laneIndex, found.get(2).laneIndex);
  assert.equal(found.get(4).laneIndex, 0); // 3 leaves as 4 arrives: one lane
  assert.ok([...found.values()].every((bar) => !bar.isIndex && !bar.close && bar.overlap === null));
  assert.equal(model.closeCount, 0);
});

test("the index case and the overlaps of at least the minimum are marked", () => {
  const index = VISITS[0];
  let found = bars(timelineModel(VISITS, { ...WINDOW, index, minimum: 15 }));
  assert.equal(found.get(1).isIndex, true);
  assert.equal(found.get(1).close, false);
  assert.deepEqual(
    [2, 3, 4, 5, 6].map((number) => [found.get(number).overlap, found.get(number).close]),
    [
      [30, true],
      [10, false],
      [0, false],
      [0, false],
      [0, false],
    ],
  );
  assert.equal(found.get(2).overlapFrom, START + 120 * MINUTE);
  assert.equal(found.get(2).overlapTo, START + 150 * MINUTE);
  found = bars(timelineModel(VISITS, { ...WINDOW, index, minimum: 10 }));
  assert.equal(found.get(3).close, true);
  assert.equal(timelineModel(VISITS, { ...WINDOW, index, minimum: 10 }).closeCount, 2);
  // A minimum of 0 marks only visits that overlap at all.
  found = bars(timelineModel(VISITS, { ...WINDOW, index, minimum: 0 }));
  assert.equal(found.get(4).close, false);
});

test("ticks fall on whole Berlin hours and name the day where it changes", () => {
  const model = timelineModel(VISITS, { ...WINDOW, index: null, minimum: 15 });
  assert.deepEqual(
    model.ticks.map((tick) => tick.label),
    ["20.11. 17:00", "18:00", "19:00", "20:00", "21:00", "22:00", "23:00"],
  );
  const long = timelineModel([], {
    windowStart: START,
    windowEnd: START + 3 * 24 * 60 * MINUTE,
    index: null,
    minimum: 15,
  });
  assert.ok(long.ticks.length <= 10 && long.ticks.length >= 3);
  assert.ok(long.ticks.some((tick) => tick.label.startsWith("21.11.")));
  assert.ok(long.ticks.every((tick) => tick.at >= START && tick.at <= START + 3 * 24 * 60 * MINUTE));
});
