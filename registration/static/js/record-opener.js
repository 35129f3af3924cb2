// Opening many sealed records at once, on all cores: a health office's export can
// hold tens of thousands of records, and opening one costs about 0.2 ms of CPU, most
// of it in WebCrypto (which Chromium runs on the calling thread). A pool of module
// workers each opens chunks of envelopes with openContactRecord (envelope-open.js):
// openContactRecords for one area and key, openPackageEnvelopes for a whole package.

import { decodeBase64url } from "./b64url.js";
import { checkContextCode } from "./envelope.js";
import { openContactRecord, SealedRecordError } from "./envelope-open.js";

// The workers run sealed-record.js, the module callers import: it imports this
// one, whose last lines answer the pool's messages inside such a worker.
const WORKER_SCRIPT = new URL("./sealed-record.js", import.meta.url);
const OPENER_WORKER_NAME = "gastregister-sealed-record-opener";
const OPENER_CHUNK_SIZE = 500; // envelopes per message to a worker
const OPENER_BATCH_SIZE = 100; // concurrent opens inside one worker or thread
// A package's envelopes go out in chunks of this many: small enough that the
// results come back steadily (the page checks them as they arrive) and the
// workers finish together, large enough that messages are few (200 for 50,000
// records).
export const PACKAGE_CHUNK_SIZE = 250;

/** Opens envelopes with Promise batches; a result per envelope, never throws for one. */
async function openInBatches(privateKeyHandle, envelopes, codes) {
  const results = [];
  for (let first = 0; first < envelopes.length; first += OPENER_BATCH_SIZE) {
    const batch = envelopes.slice(first, first + OPENER_BATCH_SIZE).map((envelope) =>
      openContactRecord(privateKeyHandle, envelope, codes).then(
        (record) => ({ record }),
        (error) => {
          if (error instanceof SealedRecordError) return { kind: error.kind };
          throw error;
        },
      ),
    );
    results.push(...(await Promise.all(batch)));
  }
  return results;
}

const HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, "0"));

function hex(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += HEX[bytes[i]];
  return text;
}

/**
 * The envelope's key id and enc (hex) from the first 140 characters of its text
 * (105 bytes), or null when they do not decode: opening then says why.
 */
function envelopeIds(envelope) {
  let head;
  try {
    head = decodeBase64url(envelope.slice(0, 140));
  } catch {
    return null;
  }
  if (head.length < 104) return null;
  return { keyId: hex(head.subarray(7, 39)), enc: hex(head.subarray(39, 104)) };
}

/**
 * Opens one chunk of a package: each envelope with the key its key id names
 * (keys[0] when none does, which then says why it fails), for its own area.
 * A result per envelope: { record, keyId, enc } (the ids in hex, for the visit
 * checks) or { kind }.
 */
async function openPackageChunk(keys, locationCode, envelopes, areaCodes) {
  const handles = new Map(keys.map(({ keyId, handle }) => [keyId, handle]));
  const fallback = keys.length > 0 ? keys[0].handle : null;
  const results = [];
  for (let first = 0; first < envelopes.length; first += OPENER_BATCH_SIZE) {
    const batch = [];
    for (let i = first; i < Math.min(first + OPENER_BATCH_SIZE, envelopes.length); i++) {
      const ids = envelopeIds(envelopes[i]);
      const handle = (ids !== null && handles.get(ids.keyId)) || fallback;
      const codes = { locationCode, areaCode: areaCodes[i] };
      batch.push(
        openContactRecord(handle, envelopes[i], codes).then(
          (record) => ({ record, keyId: ids.keyId, enc: ids.enc }),
          (error) => {
            if (error instanceof SealedRecordError) return { kind: error.kind };
            throw error;
          },
        ),
      );
    }
    results.push(...(await Promise.all(batch)));
  }
  return results;
}

/** How many workers open records by default: every core, at least two, at most eight. */
export function defaultWorkerCount() {
  const cores = globalThis.navigator?.hardwareConcurrency ?? 2;
  return Math.max(2, Math.min(cores, 8));
}

/**
 * Opens many sealed records for one location and area, using all cores: a
 * health office's export can hold tens of thousands of records, and one
 * thread spends most of its time waiting for WebCrypto. Returns one result
 * per envelope, in order: { record } or { error: SealedRecordError }, so one
 * bad envelope does not hide the others. onProgress(done, total) is called
 * as chunks finish. With workers: 0, or where module workers are missing,
 * everything runs on this thread.
 */
export async function openContactRecords(
  privateKeyHandle,
  envelopes,
  { locationCode, areaCode } = {},
  { workers = defaultWorkerCount(), onProgress } = {},
) {
  // A caller's mistake fails the whole call here, not once per envelope.
  checkContextCode(locationCode, "locationCode");
  checkContextCode(areaCode, "areaCode");
  const codes = { locationCode, areaCode };
  const chunks = [];
  for (let first = 0; first < envelopes.length; first += OPENER_CHUNK_SIZE) {
    chunks.push(envelopes.slice(first, first + OPENER_CHUNK_SIZE));
  }
  const chunkResults = new Array(chunks.length);
  let done = 0;
  const finishChunk = (index, results) => {
    chunkResults[index] = results;
    done += results.length;
    if (onProgress) onProgress(done, envelopes.length);
  };

  const poolSize = typeof Worker === "function" ? Math.min(workers, chunks.length) : 0;
  if (poolSize === 0) {
    for (let index = 0; index < chunks.length; index++) {
      finishChunk(index, await openInBatches(privateKeyHandle, chunks[index], codes));
    }
  } else {
    const pool = Array.from(
      { length: poolSize },
      () => new Worker(WORKER_SCRIPT, { type: "module", name: OPENER_WORKER_NAME }),
    );
    let next = 0;
    const take = () => {
      if (next >= chunks.length) return null;
      const index = next++;
      return { index, message: { privateKeyHandle, envelopes: chunks[index], codes } };
    };
    try {
      await Promise.all(pool.map((worker) => keepBusy(worker, take, finishChunk)));
    } finally {
      for (const worker of pool) worker.terminate();
    }
  }
  return chunkResults
    .flat()
    .map((result) =>
      "record" in result ? result : { error: new SealedRecordError(result.kind) },
    );
}

/**
 * Starts the workers for openPackageEnvelopes ahead of time, so they load their
 * modules while the page still reads the package: count of them (all cores by
 * default), no more than itemCount envelopes keep busy, [] where module workers
 * are missing. The caller terminates them (stopOpenerWorkers).
 */
export function startOpenerWorkers(count = defaultWorkerCount(), itemCount = Infinity) {
  if (typeof Worker !== "function") return [];
  const useful = Math.ceil(itemCount / PACKAGE_CHUNK_SIZE);
  return Array.from(
    { length: Math.max(0, Math.min(count, useful)) },
    () => new Worker(WORKER_SCRIPT, { type: "module", name: OPENER_WORKER_NAME }),
  );
}

export function stopOpenerWorkers(pool) {
  for (const worker of pool) worker.terminate();
}

/**
 * Opens all envelopes of an export package on one pool of workers (from
 * startOpenerWorkers), kept for the whole package: a pool per area would start
 * its workers, and warm up their code, again for every area. keys: [{ keyId
 * (hex), handle }] from the key files, the first one also for envelopes no key's
 * id matches. chunks: [{ first, envelopes, areaCodes }] in package order, at most
 * PACKAGE_CHUNK_SIZE envelopes each, first the index of the chunk's first envelope
 * (the caller builds them as it reads the package, a slice at a time); every area
 * code must pass checkContextCode (the caller sorts out the others).
 * onChunk(first, results) is called for the chunks in order, so the caller can
 * check visits while later chunks are still being opened; each result is
 * { record, keyId, enc } or { kind } (openPackageChunk). With an empty pool
 * everything runs on this thread.
 */
export async function openPackageEnvelopes(keys, chunks, locationCode, pool, onChunk) {
  checkContextCode(locationCode, "locationCode");
  const checked = new Set();
  for (const { areaCodes } of chunks) {
    for (const areaCode of areaCodes) {
      if (checked.has(areaCode)) continue;
      checkContextCode(areaCode, "areaCode");
      checked.add(areaCode);
    }
  }
  if (pool.length === 0) {
    for (const { first, envelopes, areaCodes } of chunks) {
      onChunk(first, await openPackageChunk(keys, locationCode, envelopes, areaCodes));
    }
    return;
  }
  // Chunks finish out of order; the caller gets them in order.
  const finished = new Map();
  let delivered = 0;
  const deliver = (index, results) => {
    finished.set(index, results);
    while (finished.has(delivered)) {
      const ready = finished.get(delivered);
      finished.delete(delivered);
      onChunk(chunks[delivered].first, ready);
      delivered += 1;
    }
  };
  let next = 0;
  const take = () => {
    if (next >= chunks.length) return null;
    const index = next++;
    const { envelopes, areaCodes } = chunks[index];
    return { index, message: { keys, locationCode, envelopes, areaCodes } };
  };
  await Promise.all(pool.map((worker) => keepBusy(worker, take, deliver)));
}

/**
 * Gives `worker` the tasks take() hands out ({ index, message }, null when there are
 * none left), one at a time, and each task's results to onResults(index, results).
 * The next task is posted before onResults runs, so the worker opens records while
 * this thread checks the last chunk's visits (decrypt-rows.js: about 1.4 ms per 250
 * records) instead of waiting for the checks and then for its next message.
 */
async function keepBusy(worker, take, onResults) {
  let task = take();
  let answer = task === null ? null : ask(worker, task.message);
  while (answer !== null) {
    const results = await answer;
    const finished = task;
    task = take();
    answer = task === null ? null : ask(worker, task.message);
    onResults(finished.index, results);
  }
}

function ask(worker, message) {
  return new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.failure) reject(new Error(`record opener worker: ${data.failure}`));
      else resolve(data.results);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`record opener worker failed to run: ${event.message ?? "no details"}`));
    };
    // CryptoKeys, even non-extractable ones, are cloned into the worker as keys.
    worker.postMessage(message);
  });
}

// Loaded as a record opener worker (by name: a service worker or any other
// worker that imports this module is left alone), answer open requests.
if (
  typeof DedicatedWorkerGlobalScope === "function" &&
  globalThis instanceof DedicatedWorkerGlobalScope &&
  globalThis.name === OPENER_WORKER_NAME
) {
  globalThis.onmessage = async ({ data }) => {
    try {
      const results =
        "keys" in data
          ? await openPackageChunk(data.keys, data.locationCode, data.envelopes, data.areaCodes)
          : await openInBatches(data.privateKeyHandle, data.envelopes, data.codes);
      globalThis.postMessage({ results });
    } catch (error) {
      // Only the error's name: its message could one day carry record content.
      globalThis.postMessage({ failure: error?.name ?? "error" });
    }
  };
}
