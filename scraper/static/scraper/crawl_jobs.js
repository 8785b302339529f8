// The crawl-job list and a job's page keep themselves up to date: while a shown job is pending or
// running, the page asks for the jobs' progress (JSON) and updates their state, bar and counts in
// place. When a job ends, the page reloads once (for its buttons and other figures), unless rows are
// ticked for an action. The admin loads this in the page's head: it starts once the document is parsed.
document.addEventListener("DOMContentLoaded", () => {
  "use strict";
  const live = document.getElementById("crawl-jobs-live");
  if (!live) return;
  const bars = Array.from(document.querySelectorAll(".crawl-job-progress[data-job]"));
  const ids = bars.filter((bar) => bar.dataset.live === "1").map((bar) => bar.dataset.job);
  if (!ids.length) return;
  const pollMs = Number(live.dataset.pollMs) || 2000;
  const url = `${live.dataset.progressUrl}?ids=${ids.join(",")}`;

  function show(job) {
    for (const cell of document.querySelectorAll(`[data-job="${job.id}"][data-field]`)) {
      const value = job[cell.dataset.field];
      if (value !== undefined) cell.textContent = String(value);
    }
    const bar = document.querySelector(`.crawl-job-progress[data-job="${job.id}"]`);
    if (bar) {
      bar.querySelector("progress").value = job.percent;
      bar.querySelector('[data-field="percent"]').textContent = `${job.percent}%${job.finding ? " (finding images)" : ""}`;
      bar.dataset.live = job.live ? "1" : "";
    }
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => {
        if (!response.ok) throw new Error(`status ${response.status}`);
        return response.json();
      })
      .then((answer) => {
        answer.jobs.forEach(show);
        if (answer.jobs.some((job) => job.live)) {
          setTimeout(poll, pollMs);
        } else if (!document.querySelector("input.action-select:checked")) {
          window.location.reload();
        }
      })
      .catch(() => setTimeout(poll, 5000)); // a lost request or a restarting server: try again later
  }

  setTimeout(poll, pollMs);
});
