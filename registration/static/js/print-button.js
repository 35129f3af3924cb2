// A "print" button needs JavaScript (window.print); without it the button stays hidden
// and the browser's own print command still prints only the codes (app.css @media print).
for (const button of document.querySelectorAll("[data-print]")) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}
