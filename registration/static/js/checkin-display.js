// The entrance screen: reload each QR code image at every new 30-second step, so
// the code shown is always the current one (rotating mode) and a photo of it
// soon stops working. Static file, no inline script (CSP).

const display = document.getElementById("display");
const stepMs = Number(display.dataset.refreshSeconds || "30") * 1000;

function refresh() {
  const step = Math.floor(Date.now() / stepMs);
  for (const image of display.querySelectorAll("img[data-qr]")) {
    const url = new URL(image.src, window.location.href);
    url.searchParams.set("s", String(step));
    image.src = url.pathname + url.search;
  }
}

function schedule() {
  // Wake one second after the next step begins, so server and screen agree on the step.
  const wait = stepMs - (Date.now() % stepMs) + 1000;
  setTimeout(() => {
    refresh();
    schedule();
  }, wait);
}

schedule();
