// The website's saved widgets (chapter 04's head viewer), offline and readable by everyone.
// 1. ipywidgets 8's embed manager (tools/site.py copies it into _vendor/ from npm) loads its
//    fonts from where RequireJS says its modules live: point RequireJS at that copy.
// 2. The manager draws a slider's handle (role="slider") with no accessible name and an Output
//    widget's figure with no alt text: name each handle after its slider's description, and
//    give each such figure the alt text of the static copy that the same cell shows
//    (tools/site.py, alt_text), whenever the manager adds to the page.
(() => {
  const requirejs = document.querySelector('script[src*="_vendor/requirejs/require.js"]');
  if (requirejs && window.require?.config) {
    const dist = new URL("../html-manager/dist", requirejs.src).href;
    window.require.config({ paths: { "@jupyter-widgets/html-manager/dist": dist } });
  }
  const name = () => {
    for (const handle of document.querySelectorAll(".jupyter-widgets [role=slider]:not([aria-label])")) {
      const label = handle.closest(".widget-slider")?.querySelector(".widget-label");
      handle.setAttribute("aria-label", label?.textContent.trim() || "slider");
    }
    for (const img of document.querySelectorAll(".jupyter-widgets img:not([alt])")) {
      const cell = img.closest(".cell");
      const copy = [...(cell?.querySelectorAll("img[alt]") ?? [])].find(
        (i) => !i.closest(".jupyter-widgets"),
      );
      img.setAttribute("alt", copy?.getAttribute("alt") || "figure");
    }
  };
  new MutationObserver(name).observe(document.documentElement, { childList: true, subtree: true });
})();
