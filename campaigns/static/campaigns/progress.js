// The campaign's admin page: its figures and plots refresh by themselves every 20 seconds.
const box = document.getElementById("campaign-progress");
if (box) {
  const refresh = async () => {
    const response = await fetch(box.dataset.progressUrl, { credentials: "same-origin" }).catch(() => null);
    if (!response || !response.ok) return;
    const data = await response.json();
    const body = document.querySelector("#campaign-figures tbody");
    body.replaceChildren(...data.figures.map(([name, value]) => {
      const row = document.createElement("tr");
      const th = document.createElement("th");
      const td = document.createElement("td");
      th.textContent = name;
      td.textContent = value;
      td.className = "figure";
      row.append(th, td);
      return row;
    }));
    const warnings = document.getElementById("campaign-warnings");
    warnings.replaceChildren(...data.warnings.map((text) => {
      const item = document.createElement("li");
      item.textContent = text;
      return item;
    }));
    for (const img of box.querySelectorAll("img[data-plot]")) {
      img.src = img.src.split("?")[0] + "?t=" + Date.now();
    }
  };
  window.setInterval(refresh, 20000);
}
