/* The top-up pages' behaviour, vanilla JS; everything works without it (values stay selectable,
   forms post, the absolute expiry time is printed).

   * [data-copy] buttons copy their value (Clipboard API, else a hidden textarea) and say "Copied".
   * [data-countdown] counts down to data-expires every second.
   * #topup[data-api-url] polls GET /api/v1/topups/<id>/ every 5 s (not while the tab is hidden) and
     updates the status, confirmations, amounts and payments. The texts come from the server as JSON
     (#topup-texts) and the state key is chosen by the same rule as payments.views.topup_state.
     Polling stops once the top-up is completed, expired or invalid.
   * form[data-submit-once] disables its button after the first submit (the server is idempotent
     anyway: the form key makes a second submit return the same top-up). */
(function () {
  "use strict";
  var POLL_MS = 5000;
  var TERMINAL = ["completed", "expired", "invalid"];
  var box = document.getElementById("topup");
  var lang = document.documentElement.lang || "en";

  function live(name) { return document.querySelector('[data-live="' + name + '"]'); }
  function setText(name, value) { var el = live(name); if (el && el.textContent !== value) el.textContent = value; }

  // --- copy buttons -------------------------------------------------------------------------------
  function copyFallback(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copy(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return copyFallback(text); });
    }
    return copyFallback(text);
  }

  function initCopy(button) {
    var label = button.textContent;
    var copied = (box && box.getAttribute("data-copied-text")) || "Copied";
    var failed = (box && box.getAttribute("data-copy-failed-text")) || label;
    var timer = null;
    button.addEventListener("click", function () {
      copy(button.getAttribute("data-copy")).then(function () {
        button.textContent = "✓ " + copied;
        button.classList.add("is-copied");
      }, function () {
        button.textContent = failed;
      }).then(function () {
        clearTimeout(timer);
        timer = setTimeout(function () { button.textContent = label; button.classList.remove("is-copied"); }, 2500);
      });
    });
    button.setAttribute("aria-live", "polite");
    button.hidden = false;
  }

  // --- countdown ----------------------------------------------------------------------------------
  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function initCountdown(el) {
    var expires = Date.parse(el.getAttribute("data-expires"));
    if (isNaN(expires)) return;
    var holder = el.closest("[data-countdown-box]");
    function tick() {
      var left = Math.max(0, Math.floor((expires - Date.now()) / 1000));
      if (left === 0) { el.textContent = el.getAttribute("data-expired-text"); clearInterval(timer); return; }
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      el.textContent = (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
    }
    var timer = setInterval(tick, 1000);
    tick();
    if (holder) holder.hidden = false;
  }

  // --- live status --------------------------------------------------------------------------------
  function money(value) {
    var n = Number(value);
    if (!isFinite(n)) return value;
    return n.toLocaleString(lang, { minimumFractionDigits: 2, maximumFractionDigits: 2, useGrouping: false });
  }

  function stateKey(data, states) {
    if (data.under_review) return "under_review";
    var key = data.status + ":" + data.exception;
    return states[key] ? key : data.status;
  }

  function shortHash(hash) { return hash.length > 20 ? hash.slice(0, 19) + "…" : hash; }

  function depositRow(d, texts, required, asset) {
    var row = document.createElement("tr");
    var hashCell = document.createElement("td");
    hashCell.className = "hash";
    var hash = document.createElement(d.explorer_url ? "a" : "span");
    if (d.explorer_url) { hash.href = d.explorer_url; hash.rel = "noopener noreferrer"; hash.target = "_blank"; }
    hash.title = d.tx_hash;
    hash.textContent = shortHash(d.tx_hash);
    hashCell.appendChild(hash);
    row.appendChild(hashCell);
    [[d.amount + " " + asset, "num"], [Math.min(d.confirmations, required) + " / " + required, "num"],
     [texts.deposits[d.status] || d.status, ""]].forEach(function (cell) {
      var td = document.createElement("td");
      td.textContent = cell[0];
      if (cell[1]) td.className = cell[1];
      row.appendChild(td);
    });
    return row;
  }

  function renderDeposits(list, texts) {
    var body = live("deposits");
    if (!body) return;
    var required = Number(body.getAttribute("data-required"));
    var asset = body.getAttribute("data-asset");
    var rows = document.createDocumentFragment();
    list.forEach(function (d) { rows.appendChild(depositRow(d, texts, required, asset)); });
    body.replaceChildren(rows);
    live("deposits-table").hidden = list.length === 0;
    live("no-deposits").hidden = list.length > 0;
  }

  function render(data, texts) {
    var key = stateKey(data, texts.states);
    var state = texts.states[key] || texts.states[data.status];
    if (state) {
      setText("title", state.title);
      setText("detail", state.detail);
      document.querySelector(".status-card").setAttribute("data-tone", state.tone);
    }
    setText("confirmations", String(data.confirmations));
    setText("paid", data.paid_crypto);
    setText("credited", money(data.credited_amount));
    renderDeposits(data.deposits, texts);
    var open = data.status === "awaiting_payment" || data.status === "confirming";
    box.classList.toggle("is-closed", !open);
    box.setAttribute("data-status", data.status);
  }

  function initPolling() {
    var url = box.getAttribute("data-api-url");
    var textsEl = document.getElementById("topup-texts");
    if (!url || !textsEl || box.getAttribute("data-terminal") === "1") return;
    var texts = JSON.parse(textsEl.textContent);
    var timer = null;
    function schedule() { timer = setTimeout(poll, POLL_MS); }
    function poll() {
      timer = null;
      if (document.hidden) { schedule(); return; }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 401 || response.status === 403 || response.status === 404) throw new Error("stop");
          if (!response.ok) return null;  // a transient error: try again next round
          return response.json();
        })
        .then(function (data) {
          if (data) render(data, texts);
          if (data && TERMINAL.indexOf(data.status) !== -1) return;
          schedule();
        })
        .catch(function (error) { if (error.message !== "stop") schedule(); });
    }
    schedule();
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && timer !== null) { clearTimeout(timer); poll(); }  // not while a fetch runs
    });
  }

  // --- forms --------------------------------------------------------------------------------------
  function initSubmitOnce(form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector('button[type="submit"]');
      if (button) setTimeout(function () { button.disabled = true; }, 0);
    });
  }

  document.querySelectorAll("[data-js-only]").forEach(function (el) { el.hidden = false; });
  document.querySelectorAll("[data-copy]").forEach(initCopy);
  document.querySelectorAll("[data-countdown]").forEach(initCountdown);
  document.querySelectorAll("form[data-submit-once]").forEach(initSubmitOnce);
  if (box) initPolling();
})();
