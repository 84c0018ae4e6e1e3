"""The HTML page of :mod:`dpo_frames.explore.report` (a ``string.Template``).

Placeholders: ``title``, ``stats`` (HTML tables), ``charts`` (one ``<div data-chart>``
per chart), ``specs`` (JSON: chart name -> Vega-Lite spec), ``vega_bundle`` (JavaScript
that defines ``vegaEmbed``). When every chart has been drawn, ``<body>`` gets
``data-rendered`` (charts drawn) and ``data-failed`` (names of charts that failed), which
the browser test reads.
"""

from string import Template

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem; color: #222; }
  h1 { font-size: 1.5rem; }
  .stats-row { display: flex; flex-wrap: wrap; gap: 2rem; align-items: flex-start; }
  table.stats { border-collapse: collapse; font-size: 0.85rem; }
  table.stats caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
  table.stats th { text-align: left; font-weight: normal; color: #555; padding: 0.1rem 1rem 0.1rem 0; }
  table.stats td { text-align: right; font-variant-numeric: tabular-nums; max-width: 28rem;
                   overflow-wrap: anywhere; }
  section.chart { margin: 2rem 0; }
  .chart-error { color: #b00; }
</style>
<script>
$vega_bundle
</script>
</head>
<body>
<h1>$title</h1>
<noscript><p class="chart-error">The charts need JavaScript (inlined in this file; no network is used).</p>
</noscript>
<div class="stats-row">
$stats
</div>
$charts
<script>
(function () {
  const specs = $specs;
  const jobs = Object.entries(specs).map(([name, spec]) =>
    vegaEmbed("#chart-" + name, spec, {renderer: "svg", actions: false})
      .then(() => ({name, ok: true}))
      .catch((error) => {
        const div = document.getElementById("chart-" + name);
        div.className = "chart-error";
        div.textContent = "chart " + name + " failed: " + error;
        return {name, ok: false};
      }));
  Promise.all(jobs).then((results) => {
    document.body.dataset.rendered = String(results.filter((r) => r.ok).length);
    document.body.dataset.failed = results.filter((r) => !r.ok).map((r) => r.name).join(" ");
  });
})();
</script>
</body>
</html>
""")
