// Small comforts for the dashboard's forms; every form works without them.
// - A button with data-confirm asks before its form is sent.
// - A form that is being sent cannot be sent twice by a second click.
// - A chart wider than the screen opens on its newest day (the right end).
"use strict";

document.addEventListener("submit", (event) => {
  const form = event.target;
  const button = event.submitter;
  const question = button && button.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  if (form.method.toLowerCase() !== "post") return;
  if (form.dataset.sending) {
    event.preventDefault();
    return;
  }
  form.dataset.sending = "true";
  if (button) button.setAttribute("aria-disabled", "true");
});

// Coming back to a page through the browser's history shows it as it was
// left: let its forms be sent again.
window.addEventListener("pageshow", () => {
  for (const form of document.querySelectorAll("form[data-sending]")) {
    delete form.dataset.sending;
    for (const button of form.querySelectorAll("[aria-disabled]")) button.removeAttribute("aria-disabled");
  }
});

document.addEventListener("DOMContentLoaded", () => {
  for (const chart of document.querySelectorAll(".chart")) chart.scrollLeft = chart.scrollWidth;
});
