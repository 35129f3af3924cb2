// The guest's service worker: delivers the outbox after the tab is closed.
//
// Served through /sw.js (registration/checkin/views.py), whose scope is the whole
// site, so that it wakes up for every page of the service: with Background Sync
// (Chromium) the browser wakes it when the network is back; elsewhere it delivers on
// the next visit to any page. It answers no request itself: pages always come from
// the network, and nothing is cached.

import { OutboxSender, PhoneStore } from "./outbox.js";
import { announceChange, SYNC_TAG, sendEntry, settle } from "./delivery.js";

const store = new PhoneStore();
const sender = new OutboxSender(store, sendEntry, async (entry, outcome, data) => {
  await settle(store, entry, outcome, data);
  announceChange();
});

self.addEventListener("install", (event) => event.waitUntil(self.skipWaiting()));
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("sync", (event) => {
  if (event.tag !== SYNC_TAG) return;
  // A rejected promise asks the browser to fire `sync` again later.
  event.waitUntil(
    sender.deliver().then((waiting) => {
      if (waiting) throw new Error(`${waiting} still waiting`);
    }),
  );
});

self.addEventListener("fetch", (event) => {
  // No respondWith: the page loads from the network as if there were no worker.
  if (event.request.mode === "navigate") event.waitUntil(sender.deliver());
});

self.addEventListener("message", (event) => {
  if (event.data === "deliver") event.waitUntil(sender.deliver());
});
