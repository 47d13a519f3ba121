// Dashboard charts (vendored Chart.js); the numbers are also in the tables beside them.
window.addEventListener("load", function () {
  if (typeof Chart === "undefined") return;
  const pipeline = document.getElementById("pipeline-chart");
  if (pipeline) {
    const d = JSON.parse(pipeline.dataset.chart);
    new Chart(pipeline, {
      type: "bar",
      data: { labels: d.labels, datasets: [{ label: d.label_count, data: d.counts, backgroundColor: "#1095c1" }] },
      options: { animation: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  }
  const tickets = document.getElementById("tickets-chart");
  if (tickets) {
    const d = JSON.parse(tickets.dataset.chart);
    new Chart(tickets, {
      type: "doughnut",
      data: { labels: d.labels, datasets: [{ label: d.label_count, data: d.counts,
        backgroundColor: ["#90caf9", "#42a5f5", "#ffb74d", "#66bb6a", "#bdbdbd"] }] },
      options: { animation: false, plugins: { legend: { position: "right" } } },
    });
  }
});
