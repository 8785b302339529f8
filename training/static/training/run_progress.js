// The live line of a training run's admin page: polls the run's status while it is queued or running,
// and reloads the page once it has ended (to show its metrics and report).
// The admin loads this in the page's head: it starts once the document is parsed.
document.addEventListener("DOMContentLoaded", () => {
  "use strict";
  const line = document.getElementById("run-progress");
  if (!line) return;
  const shown = (value) => (value === null || value === undefined ? "-" : value.toFixed(4));

  function show(status) {
    const last = status.history.length ? status.history[status.history.length - 1] : {};
    line.textContent =
      `${status.state} (epoch ${status.epoch}, step ${status.step}, loss ${shown(status.loss)}, ` +
      `val mAP of the last epoch ${shown(last.val_map)}, best ${shown(status.best_val_map)})`;
  }

  function poll() {
    fetch(line.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => {
        if (!response.ok) throw new Error(`status ${response.status}`);
        return response.json();
      })
      .then((status) => {
        show(status);
        if (status.state === "queued" || status.state === "running") {
          setTimeout(poll, Number(line.dataset.pollMs) || 2000);
        } else {
          window.location.reload();
        }
      })
      .catch(() => setTimeout(poll, 5000)); // a lost request or a restarting server: try again later
  }

  setTimeout(poll, Number(line.dataset.pollMs) || 2000);
});
