// Opening many sealed records at once, on all cores: a health office's export can
// hold tens of thousands of records, and one thread spends most of its time
// waiting for WebCrypto. A pool of module workers each opens chunks of envelopes
// with openContactRecord (envelope-open.js).

import { checkContextCode } from "./envelope.js";
import { openContactRecord, SealedRecordError } from "./envelope-open.js";

// The workers run sealed-record.js, the module callers import: it imports this
// one, whose last lines answer the pool's messages inside such a worker.
const WORKER_SCRIPT = new URL("./sealed-record.js", import.meta.url);
const OPENER_WORKER_NAME = "gastregister-sealed-record-opener";
const OPENER_CHUNK_SIZE = 500; // envelopes per message to a worker
const OPENER_BATCH_SIZE = 100; // concurrent opens inside one worker or thread

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

function defaultWorkerCount() {
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
    try {
      await Promise.all(
        pool.map(async (worker) => {
          while (next < chunks.length) {
            const index = next++;
            finishChunk(index, await askWorker(worker, privateKeyHandle, chunks[index], codes));
          }
        }),
      );
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

function askWorker(worker, privateKeyHandle, envelopes, codes) {
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
    worker.postMessage({ privateKeyHandle, envelopes, codes });
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
      const results = await openInBatches(data.privateKeyHandle, data.envelopes, data.codes);
      globalThis.postMessage({ results });
    } catch (error) {
      // Only the error's name: its message could one day carry record content.
      globalThis.postMessage({ failure: error?.name ?? "error" });
    }
  };
}
