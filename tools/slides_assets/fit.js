/* Fit every slide of a course deck (tools/slides.py) to the reveal.js canvas, once reveal.js,
   the fonts, the figures and MathJax are ready. The build already splits long slides and
   moves prose that does not fit into speaker notes; this scales what is still too big:
   1. anything wider than the slide (a table, a display formula) is scaled to its width;
   2. figures grow into the room a slide leaves (to 1.5 times their size at most: saved for
      a notebook, they are small on a projected slide), or shrink (to half their height at
      most) until the slide fits;
   3. a slide still taller than the canvas is scaled as a whole.
   window.d2lmhaSlides reports each slide's scale (1: as built) once done. */
function d2lmhaFit(Reveal) {
  "use strict";
  var config = Reveal.getConfig();
  var W = config.width, H = config.height;
  var slides = Reveal.getSlides();
  var scales = [];
  var heights = [];  // each slide's content height as built, before figures and scale

  function show(section) {
    var shown = [section];
    if (section.parentNode.tagName === "SECTION") shown.push(section.parentNode);
    var saved = shown.map(function (s) { return s.style.display; });
    shown.forEach(function (s) { s.style.display = "block"; });
    return function () { shown.forEach(function (s, i) { s.style.display = saved[i]; }); };
  }

  function box(section) {
    var inner = section.querySelector(":scope > .d2lmha-fit");
    if (!inner) {
      inner = document.createElement("div");
      inner.className = "d2lmha-fit";
      while (section.firstChild) inner.appendChild(section.firstChild);
      section.appendChild(inner);
    }
    return inner;
  }

  // Layout height on the canvas: what the screen shows, without reveal.js's own scale.
  function tall(el) {
    return el.getBoundingClientRect().height / Reveal.getScale();
  }

  function fit(section) {
    var inner = box(section);
    inner.style.zoom = "";
    var width = inner.clientWidth || W;
    // 1. too wide: scale that element alone (outermost first)
    inner.querySelectorAll("table, pre, .MJXc-display, .MathJax_CHTML, .jp-OutputArea-output > *")
      .forEach(function (el) {
        if (el.parentElement.closest("[data-d2lmha-zoom]")) return;
        var wide = Math.max(el.scrollWidth, el.offsetWidth);
        if (wide > width + 1) {
          el.style.zoom = (width / wide).toFixed(4);
          el.setAttribute("data-d2lmha-zoom", el.style.zoom);
        }
      });
    // 2. figures grow into the room left, or shrink until the slide fits
    heights.push(Math.round(tall(inner)));
    var room = H - tall(inner);
    var images = Array.prototype.filter.call(inner.querySelectorAll("img"),
      function (img) { return img.offsetHeight > 0; });
    var total = images.reduce(function (sum, img) { return sum + tall(img); }, 0);
    if (total > 0 && (room < 0 || room > 20)) {
      var f = Math.min(1.5, Math.max(0.5, 1 + (room - 4) / total));
      images.forEach(function (img) {
        var wide = img.getBoundingClientRect().width / Reveal.getScale();
        var g = Math.min(f, (img.parentElement.clientWidth || width) / Math.max(1, wide));
        img.style.height = (tall(img) * Math.max(0.5, g)).toFixed(1) + "px";
        img.style.width = "auto";
      });
    }
    // 3. still too tall: scale the whole slide
    var scale = 1;
    for (var i = 0; i < 5 && tall(inner) > H; i++) {
      scale = scale * (H - 1) / tall(inner);
      inner.style.zoom = scale.toFixed(4);
    }
    return scale;
  }

  function done() {
    Reveal.layout();
    window.d2lmhaSlides = {fitted: true, width: W, height: H, scales: scales, heights: heights};
    document.documentElement.setAttribute("data-d2lmha-fitted", "true");
  }

  function run() {
    var hub = window.MathJax && window.MathJax.Hub;
    slides.forEach(function (section, i) {
      var restore;
      var step = function () { restore = show(section); };
      var finish = function () { scales[i] = fit(section); restore(); };
      if (hub) {
        hub.Queue(step);
        if (section.querySelector(".MathJax_CHTML, .MathJax_Preview, script[type^='math/tex']")) {
          hub.Queue(["Rerender", hub, section]);
        }
        hub.Queue(finish);
      } else {
        step();
        finish();
      }
    });
    if (hub) hub.Queue(done); else done();
  }

  var loaded = document.readyState === "complete" ? Promise.resolve() :
    new Promise(function (resolve) { window.addEventListener("load", resolve); });
  Promise.all([loaded, document.fonts ? document.fonts.ready : null]).then(run);
}
