// The keyboard shortcuts' settings on the annotation page.
//
// Single-key shortcuts (a letter, digit or sign pressed alone: S, R, N, B, /, digits, +, ?) can be
// turned off, as WCAG 2.1.4 asks: a speech-input user's words, or a stray key, must not skip a task.
// The choice is kept in this browser (localStorage). While they are off, this listener (on window,
// in the capture phase, so before the page's own listeners on document) stops such a key from
// reaching them; the key still does what it does natively (typing, ticking a focused box with Space).
// Keys with Ctrl, Alt or Cmd, the arrows, Delete, Escape and Enter are not single-key shortcuts.
//
// It also opens the list of shortcuts beside the task on screens 1300 px wide or more, and keeps it
// closed (a panel that "?" or the Shortcuts button opens) on smaller ones.

const SETTING = "emotic.singleKeyShortcuts";

export function singleKeyShortcutsOn() {
  return localStorage.getItem(SETTING) !== "off";
}

const checkbox = document.getElementById("single-keys");
checkbox.checked = singleKeyShortcutsOn();
checkbox.addEventListener("change", () => localStorage.setItem(SETTING, checkbox.checked ? "on" : "off"));

window.addEventListener(
  "keydown",
  (event) => {
    if (singleKeyShortcutsOn() || event.ctrlKey || event.metaKey || event.altKey || event.key.length !== 1) return;
    event.stopImmediatePropagation();
  },
  true,
);

const keyMap = document.getElementById("key-map");
const toggle = document.getElementById("keys-toggle");
if (!window.matchMedia("(min-width: 1300px)").matches) {
  keyMap.hidden = true;
  toggle.setAttribute("aria-expanded", "false");
}
document.getElementById("key-map-close").addEventListener("click", () => {
  toggle.click();
  toggle.focus();
});
// Opened as a panel over the page: the focus goes into it, so that Tab reaches its switch next.
new MutationObserver(() => {
  if (!keyMap.hidden && getComputedStyle(keyMap).position === "fixed") document.getElementById("key-map-close").focus();
}).observe(keyMap, { attributes: true, attributeFilter: ["hidden"] });
