// The admin's typed forms: each slider shows its value beside it, and keeps it up to date.
(function () {
  "use strict";
  function attach(input) {
    var shown = document.createElement("output");
    shown.className = "typed-range-value";
    shown.htmlFor = input.id;
    shown.textContent = input.value;
    input.insertAdjacentElement("afterend", shown);
    input.addEventListener("input", function () { shown.textContent = input.value; });
  }
  function start() {
    document.querySelectorAll("input.typed-range").forEach(attach);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
