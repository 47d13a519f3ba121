// Charts of the channel tracking screens (vendored Chart.js, no inline script: the pages carry a
// strict Content-Security-Policy). Each <canvas data-ct-chart='{...}'> describes itself:
//   {type, labels, datasets: [{label, data, axis?}], stacked?, percent?, dual?}
// The numbers are also in the tables beside the charts.
(function () {
  const COLOURS = ["#1095c1", "#ef6c00", "#2e7d32", "#8e24aa", "#c62828", "#546e7a", "#f9a825",
    "#00897b", "#5e35b1", "#6d4c41", "#d81b60", "#3949ab", "#7cb342", "#757575"];

  function draw(canvas) {
    const spec = JSON.parse(canvas.dataset.ctChart);
    const datasets = spec.datasets.map(function (d, i) {
      const out = { label: d.label, data: d.data, backgroundColor: COLOURS[i % COLOURS.length] };
      if (spec.dual && d.axis === "y1") { out.yAxisID = "y1"; }
      return out;
    });
    const scales = {
      x: { stacked: !!spec.stacked },
      y: { stacked: !!spec.stacked, beginAtZero: true },
    };
    if (spec.integer) {
      scales.y.ticks = { precision: 0 };
    }
    if (spec.percent) {
      scales.y.ticks = { callback: function (v) { return Math.round(v * 100) + "%"; } };
    }
    if (spec.dual) {
      scales.y1 = { position: "right", beginAtZero: true, grid: { drawOnChartArea: false } };
    }
    const chart = new Chart(canvas, {
      type: spec.type || "bar",
      data: { labels: spec.labels, datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { display: datasets.length > 1 } },
        scales: scales,
      },
    });
    canvas.dataset.ctDrawn = String(chart.data.labels.length);
  }

  window.addEventListener("load", function () {
    if (typeof Chart === "undefined") return;
    document.querySelectorAll("canvas[data-ct-chart]").forEach(draw);
  });
})();
