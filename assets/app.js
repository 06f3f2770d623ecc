// Lägesbild pages: everything works without this file. It adds one thing a server
// cannot: saving a chart as a PNG, drawn from the chart's own SVG in the browser.
(function () {
  "use strict";
  var lang = document.documentElement.lang === "en" ? "en" : "sv";
  var label = lang === "en" ? "Save the chart as PNG" : "Spara grafen som PNG";

  function savePng(svg, name) {
    var text = new XMLSerializer().serializeToString(svg);
    var box = svg.viewBox.baseVal;
    var scale = 3;
    var url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
    var image = new Image();
    image.onload = function () {
      var canvas = document.createElement("canvas");
      canvas.width = box.width * scale;
      canvas.height = box.height * scale;
      var context = canvas.getContext("2d");
      context.fillStyle = "#ffffff";
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.drawImage(image, 0, 0, canvas.width, canvas.height);
      URL.revokeObjectURL(url);
      canvas.toBlob(function (blob) {
        var link = document.createElement("a");
        link.href = URL.createObjectURL(blob);
        link.download = name + ".png";
        document.body.appendChild(link);
        link.click();
        link.remove();
      }, "image/png");
    };
    image.src = url;
  }

  document.addEventListener("DOMContentLoaded", function () {
    // The print button needs a script; without one the browser's own print works.
    Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
      button.hidden = false;
      button.addEventListener("click", function () { window.print(); });
    });
    var figures = document.querySelectorAll("[data-png] figure.multiple");
    Array.prototype.forEach.call(figures, function (figure) {
      var svg = figure.querySelector("svg");
      var title = figure.querySelector("figcaption strong");
      if (!svg) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link png";
      button.textContent = label + (title ? ": " + title.textContent : "");
      button.addEventListener("click", function () {
        savePng(svg, "lagesbild-" + svg.id);
      });
      figure.appendChild(button);
    });
  });
})();
