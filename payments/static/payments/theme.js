/* Light/dark theme toggle. The system preference applies until the visitor picks a theme; the pick is
   kept in localStorage ("nexora-theme") and applied by an inline script in <head> before first paint. */
(function () {
  "use strict";
  var button = document.getElementById("theme-toggle");
  if (!button) return;
  var root = document.documentElement;
  var systemDark = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function current() {
    var chosen = root.getAttribute("data-theme");
    if (chosen === "light" || chosen === "dark") return chosen;
    return systemDark && systemDark.matches ? "dark" : "light";
  }

  function sync() {
    button.setAttribute("aria-pressed", current() === "dark" ? "true" : "false");
  }

  button.addEventListener("click", function () {
    var next = current() === "dark" ? "light" : "dark";
    root.setAttribute("data-theme", next);
    try { localStorage.setItem("nexora-theme", next); } catch (e) { /* private mode: this page only */ }
    sync();
  });
  button.hidden = false;
  sync();
})();
