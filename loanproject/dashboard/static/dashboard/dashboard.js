// Draws the dashboard's charts (Chart.js, vendored) from the JSON the page embeds.
// Amounts arrive as decimal strings; they become numbers only to be drawn.
(function () {
  "use strict";
  const charts = JSON.parse(document.getElementById("dashboard-charts").textContent);
  const colours = [["rgba(65, 118, 144, 0.6)", "rgb(65, 118, 144)"], ["rgba(204, 122, 41, 0.3)", "rgb(204, 122, 41)"]];
  for (const chart of charts) {
    const canvas = document.querySelector(`canvas[data-chart="${chart.key}"]`);
    if (!canvas) continue;
    // Each series: its label, its values as drawn, the values as shown in tooltips, its axis.
    const series = [{ label: chart.value_label || chart.title, values: chart.values, money: chart.money, kind: chart.kind, axis: "y" }];
    if (chart.second) series.push({ ...chart.second, axis: "y1" });
    const scales = { y: { beginAtZero: true, title: { display: !!chart.second, text: series[0].label } } };
    if (chart.second) {
      scales.y1 = { beginAtZero: true, position: "right", grid: { drawOnChartArea: false },
                    title: { display: true, text: chart.second.label } };
    }
    new Chart(canvas, {
      type: chart.kind,
      data: {
        labels: chart.labels,
        datasets: series.map((s, i) => ({
          type: s.kind,
          label: s.label,
          data: s.values.map(Number),
          yAxisID: s.axis,
          backgroundColor: colours[i][0],
          borderColor: colours[i][1],
          fill: false,
          tension: 0.2,
          order: i === 0 ? 2 : 1,  // the line is drawn over the bars
        })),
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        plugins: {
          legend: { display: series.length > 1 },
          tooltip: {
            callbacks: {
              label: (context) => {
                const s = series[context.datasetIndex];
                const shown = s.money ? s.values[context.dataIndex] : String(context.parsed.y);
                return series.length > 1 ? `${s.label}: ${shown}` : shown;
              },
            },
          },
        },
        scales: scales,
        onClick: (event, elements) => {
          if (elements.length) window.location.href = chart.links[elements[0].index];
        },
      },
    });
  }
})();
