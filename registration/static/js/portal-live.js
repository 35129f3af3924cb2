// Live view of a location: refreshes the counts every 15 seconds from the portal's
// JSON endpoint (session cookie, same origin). Counts only; nothing else is fetched.
const REFRESH_MS = 15000;

const root = document.getElementById("live");
let timer = null;

function schedule(delay) {
  window.clearTimeout(timer);
  timer = window.setTimeout(refresh, delay);
}

function setText(selector, value) {
  const element = root.querySelector(selector);
  if (element && value !== null && value !== undefined) {
    element.textContent = String(value);
  }
}

function formatTime(iso) {
  const lang = document.documentElement.lang || "de";
  return new Intl.DateTimeFormat(lang, {
    dateStyle: "medium",
    timeStyle: "medium",
    timeZone: "Europe/Berlin",
  }).format(new Date(iso));
}

function show(counts) {
  setText('[data-live="present"]', counts.present);
  setText('[data-live="today_checkins"]', counts.todayCheckins);
  setText('[data-live="today_persons"]', counts.todayPersons);
  setText('[data-live="percent"]', counts.percentOfCapacity);
  setText('[data-live="as_of"]', formatTime(counts.asOf));
  const meter = root.querySelector('[data-live="meter"]');
  if (meter) {
    meter.value = counts.present;
    meter.textContent = `${counts.percentOfCapacity} %`;
  }
  for (const area of counts.areas) {
    setText(`[data-live-area="${Number(area.id)}"]`, area.present);
  }
}

async function refresh() {
  try {
    const response = await fetch(root.dataset.endpoint, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.ok) {
      show(await response.json());
      root.dataset.liveState = "ok";
    } else if (response.status === 401) {
      root.dataset.liveState = "logged-out";
      window.clearTimeout(timer);
      return; // the session ended: stop polling until the page is reloaded
    } else {
      root.dataset.liveState = "error";
    }
  } catch {
    root.dataset.liveState = "offline";
  }
  schedule(REFRESH_MS);
}

if (root && root.dataset.endpoint) {
  schedule(document.hidden ? REFRESH_MS : 1000);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && root.dataset.liveState !== "logged-out") {
      schedule(0);
    }
  });
}
