// Draws every Plotly figure a page embeds: <div data-figure="ID"> next to <script type="application/json" id="ID">.
// The figures are built by the server (taxiway/ui/charts.py); this file only hands them to plotly.min.js.
(function () {
  "use strict";
  const CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function draw(root) {
    if (typeof Plotly === "undefined") {
      return;
    }
    root.querySelectorAll("[data-figure]").forEach(function (element) {
      if (element.dataset.drawn) {
        return;
      }
      const source = document.getElementById(element.dataset.figure);
      if (!source) {
        return;
      }
      const figure = JSON.parse(source.textContent);
      Plotly.newPlot(element, figure.data, figure.layout, CONFIG);
      element.dataset.drawn = "true";
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (event) { draw(event.target); });
})();
