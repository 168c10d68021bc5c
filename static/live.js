// Live updates for dashboard pages, from the WebSocket feed (/api/v1/stream).
//
// The page says where the feed should start (body[data-feed-after]: the log's
// head when the page was read) and which parts of it follow the feed
// (tbody or div with data-live-block). A payment that completes or fails
// changes its rows at once (data-status, the badge); a part that the event
// concerns is then fetched again from the server (?fragment=<block>), so
// rows are always written by the same template. A lost connection is
// reopened with after=<last seq seen>, so no event is missed.
"use strict";

(() => {
  const body = document.body;
  if (!("feedAfter" in body.dataset) || !("WebSocket" in window)) return;

  // What changes a payment's status: its settlement, and a hold's end.
  const FINAL = new Set([
    "payment.authorized",
    "payment.completed",
    "payment.failed",
    "payment.voided",
    "payment.expired",
  ]);
  const indicator = document.getElementById("live-status");
  const regions = Array.from(document.querySelectorAll("[data-live-block]"));
  const stale = new Set();
  let after = Number(body.dataset.feedAfter) || 0;
  let retryDelay = 500;
  let refreshTimer = null;
  let refreshing = false;

  function show(state, text) {
    if (!indicator) return;
    indicator.dataset.state = state;
    indicator.textContent = text;
  }

  function connect() {
    const url = new URL("/api/v1/stream", window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("after", String(after));
    url.searchParams.set("types", ["payment.created", ...FINAL].join(","));
    const socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      retryDelay = 500;
      show("live", "Live");
    });
    socket.addEventListener("message", (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === "hello" || frame.seq <= after) return;
      after = frame.seq;
      receive(frame);
    });
    socket.addEventListener("close", () => {
      show("reconnecting", "Reconnecting…");
      window.setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    });
  }

  function receive(frame) {
    const payment = frame.data;
    if (FINAL.has(frame.type)) markStatus(payment);
    for (const region of regions) {
      if (concerns(region, frame)) stale.add(region);
    }
    if (stale.size && refreshTimer === null) refreshTimer = window.setTimeout(refresh, 250);
  }

  function markStatus(payment) {
    const rows = document.querySelectorAll(`[data-payment-id="${CSS.escape(payment.id)}"]`);
    for (const row of rows) {
      row.dataset.status = payment.status;
      const badge = row.querySelector("[data-badge]");
      if (badge) badge.textContent = payment.status;
      if (payment.failure_code && badge && !row.querySelector("[data-reason]")) {
        const reason = document.createElement("span");
        reason.className = "reason";
        reason.dataset.reason = "";
        reason.textContent = payment.failure_code.replace(/_/g, " ");
        badge.after(" ", reason);
      }
    }
  }

  function concerns(region, frame) {
    const wanted = (region.dataset.liveOn || "").split(" ");
    if (!wanted.includes(frame.type)) return false;
    const payment = frame.data;
    const account = region.dataset.liveAccount;
    if (account && payment.from_account !== account && payment.to_account !== account) return false;
    const only = region.dataset.livePayment;
    return !only || payment.id === only;
  }

  async function refresh() {
    refreshTimer = null;
    if (refreshing) {
      refreshTimer = window.setTimeout(refresh, 250);
      return;
    }
    refreshing = true;
    try {
      for (const region of Array.from(stale)) {
        // Never pull a row from under the keyboard: wait until focus leaves.
        if (region.contains(document.activeElement)) continue;
        stale.delete(region);
        const url = new URL(region.dataset.liveFrom || window.location.href, window.location.href);
        url.hash = "";
        url.searchParams.set("fragment", region.dataset.liveBlock);
        const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (response.ok && !response.redirected) region.innerHTML = await response.text();
      }
    } finally {
      refreshing = false;
      if (stale.size && refreshTimer === null) refreshTimer = window.setTimeout(refresh, 1000);
    }
  }

  show("connecting", "Connecting…");
  connect();
})();
