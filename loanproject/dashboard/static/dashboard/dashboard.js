// Draws the dashboard's charts (Chart.js, vendored) from the JSON the page embeds.
// Amounts arrive as decimal strings; they become numbers only to be drawn.
(function () {
  "use strict";
  const charts = JSON.parse(document.getElementById("dashboard-charts").textContent);
  for (const chart of charts) {
    const canvas = document.querySelector(`canvas[data-chart="${chart.key}"]`);
    if (!canvas) continue;
    new Chart(canvas, {
      type: chart.kind,
      data: {
        labels: chart.labels,
        datasets: [{
          label: chart.title,
          data: chart.values.map(Number),
          backgroundColor: "rgba(65, 118, 144, 0.6)",
          borderColor: "rgb(65, 118, 144)",
          fill: false,
          tension: 0.2,
        }],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: (context) => (chart.money ? chart.values[context.dataIndex] : String(context.parsed.y)),
            },
          },
        },
        scales: { y: { beginAtZero: true } },
        onClick: (event, elements) => {
          if (elements.length) window.location.href = chart.links[elements[0].index];
        },
      },
    });
  }
})();
