"""The HTML page of :mod:`dpo_frames.explore.report` (a ``string.Template``) and its style.

Placeholders: ``title``, ``summaries`` (health badges per run), ``funnel``, ``health``,
``charts`` (one ``<div data-chart>`` per chart and run), ``numbers`` (tables), ``specs``
(JSON: chart div id -> Vega-Lite spec), ``pairs`` (JSON: the embedded pairs, see
:func:`~dpo_frames.explore._report_pairs.encode`), ``vega_bundle`` (JavaScript that defines
``vegaEmbed``) and ``script`` (the page's own JavaScript, :mod:`._report_js`). When every
chart has been drawn, ``<body>`` gets ``data-rendered`` (charts drawn) and ``data-failed``
(ids of charts that failed); when the pair browser is ready, ``data-pairs-ready``.
"""

from string import Template

from dpo_frames.explore._report_js import SCRIPT

__all__ = ["PAGE", "SCRIPT", "STYLE"]

STYLE = """
:root { --bad: #b3261e; --bad-bg: #fdecea; --warn: #9a5b00; --warn-bg: #fff3e0; --info: #1f5fa8;
        --info-bg: #e8f1fb; --ok: #2e7d32; --ok-bg: #edf7ee; --line: #dde1e6; --muted: #5f6b7a;
        --chosen: #1e7b34; --chosen-bg: #d5f2dc; --rejected: #b3261e; --rejected-bg: #fbdcdc; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1d2330;
       background: #f5f6f8; font-size: 15px; line-height: 1.45; }
header.top { background: #1d2330; color: #fff; padding: 1rem 1.5rem 0.8rem; }
header.top h1 { font-size: 1.35rem; margin: 0 0 0.4rem; font-weight: 600; }
.summaries { display: flex; flex-wrap: wrap; gap: 0.4rem 1.5rem; }
.summary-run { display: flex; gap: 0.5rem; align-items: center; }
.summary-run .run-name { color: #c9d1dc; }
nav.sections { position: sticky; top: 0; z-index: 5; background: #fff; border-bottom: 1px solid var(--line);
               padding: 0.45rem 1.5rem; display: flex; gap: 1.2rem; font-size: 0.9rem; }
nav.sections a { color: #1f5fa8; text-decoration: none; }
main { padding: 0.5rem 1.5rem 3rem; }
section.panel { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 1rem 0;
                padding: 0.9rem 1.2rem 1.1rem; }
section.panel > h2 { font-size: 1.1rem; margin: 0 0 0.7rem; }
h2 .sub, .muted { color: var(--muted); font-weight: normal; font-size: 0.9rem; }
.badge { display: inline-block; border-radius: 999px; padding: 0.05rem 0.55rem; font-size: 0.78rem;
         font-weight: 600; white-space: nowrap; }
.badge.bad { background: var(--bad); color: #fff; } .badge.warn { background: #f0a030; color: #2b1a00; }
.badge.info { background: var(--info-bg); color: var(--info); } .badge.ok { background: var(--ok-bg); color: var(--ok); }
.funnel { display: grid; gap: 0.8rem 1.6rem; align-items: stretch; overflow-x: auto; }
.stage-head { font-size: 0.8rem; color: var(--muted); text-transform: uppercase; letter-spacing: 0.04em; }
.run-label { font-weight: 600; align-self: center; overflow-wrap: anywhere; }
.stage { position: relative; border: 1px solid var(--line); border-radius: 8px; padding: 0.55rem 0.75rem;
         background: #fafbfc; }
.stage + .stage::before { content: "\\2192"; position: absolute; left: -1.3rem; top: 1.1rem; color: #98a2b3;
                          font-size: 1.1rem; }
.stage-label { font-size: 0.8rem; color: var(--muted); }
.stage-count { font-size: 1.6rem; font-weight: 650; font-variant-numeric: tabular-nums; }
.stage .kept { font-size: 0.8rem; color: var(--ok); }
.stage ul { list-style: none; margin: 0.3rem 0 0; padding: 0; font-size: 0.82rem; }
.stage ul.removed { color: var(--muted); } .minus { color: var(--bad); font-variant-numeric: tabular-nums; }
.note-n { font-weight: 600; font-variant-numeric: tabular-nums; }
.stage-none { color: #bbb; text-align: center; border-style: dashed; }
.health { display: grid; grid-template-columns: repeat(var(--runs), minmax(0, 1fr)); gap: 1rem; }
.health h3 { font-size: 0.95rem; margin: 0 0 0.4rem; }
ul.findings { list-style: none; margin: 0.5rem 0 0; padding: 0; display: grid; gap: 0.4rem;
              grid-template-columns: repeat(auto-fill, minmax(24rem, 1fr)); }
.finding { display: flex; gap: 0.6rem; align-items: flex-start; border-radius: 6px; padding: 0.45rem 0.7rem;
           border-left: 4px solid; }
.finding.bad { background: var(--bad-bg); border-color: var(--bad); }
.finding.warn { background: var(--warn-bg); border-color: #f0a030; }
.finding.info { background: var(--info-bg); border-color: var(--info); }
.finding.ok { background: var(--ok-bg); border-color: #8bc58f; }
.finding .title { font-weight: 600; } .finding.ok .title { font-weight: 500; }
.finding .detail { font-size: 0.85rem; color: #3d4654; }
.controls { display: flex; flex-wrap: wrap; gap: 0.6rem 1.1rem; align-items: flex-end; font-size: 0.88rem; }
.controls label, .controls .field { display: flex; flex-direction: column; gap: 0.15rem; color: var(--muted); }
.controls input, .controls select, .controls button { font: inherit; color: #1d2330; padding: 0.25rem 0.4rem;
         border: 1px solid #c4cad3; border-radius: 5px; background: #fff; }
.controls input[type=search] { width: 18rem; } .controls input[type=range] { padding: 0; width: 9rem; }
.range-pair { display: flex; gap: 0.3rem; align-items: center; }
.sample-note { font-size: 0.85rem; color: var(--muted); margin: 0 0 0.6rem; }
.pager { display: flex; gap: 0.6rem; align-items: center; margin: 0.7rem 0; font-size: 0.88rem; }
.pager button { font: inherit; padding: 0.15rem 0.6rem; }
ol.pair-list { list-style: none; margin: 0; padding: 0; display: grid; gap: 0.7rem; }
li.pair { border: 1px solid var(--line); border-radius: 8px; background: #fff; }
li.pair.open { box-shadow: 0 1px 6px rgba(0, 0, 0, 0.12); }
.pair-head { display: flex; flex-wrap: wrap; gap: 0.3rem 0.9rem; align-items: center; width: 100%; text-align: left;
             font: inherit; font-size: 0.88rem; background: #f7f8fa; border: 0; border-bottom: 1px solid var(--line);
             border-radius: 8px 8px 0 0; padding: 0.4rem 0.8rem; cursor: pointer; }
.pair-head .caret { color: var(--muted); width: 0.8rem; }
.pair-head .m { font-weight: 650; font-variant-numeric: tabular-nums; }
.split-train { color: #2e5c9a; } .split-validation { color: #8a3ea0; }
.prompt-preview, .text, .content { white-space: pre-wrap; overflow-wrap: anywhere;
        font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.82rem; }
.prompt-preview { margin: 0.5rem 0.8rem 0; color: #3d4654; line-height: 1.4; max-height: 11.2em; overflow: hidden; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 0.7rem; padding: 0.6rem 0.8rem 0.7rem; }
.side { border-radius: 6px; border: 1px solid var(--line); min-width: 0; }
.side-head { font-size: 0.8rem; font-weight: 600; padding: 0.2rem 0.6rem; border-radius: 6px 6px 0 0; }
.side.chosen .side-head { background: var(--chosen-bg); color: var(--chosen); }
.side.rejected .side-head { background: var(--rejected-bg); color: var(--rejected); }
.side .text { padding: 0.4rem 0.6rem; max-height: 12em; overflow: hidden; }
li.pair.open .side .text { max-height: none; }
.side.chosen mark { background: var(--chosen-bg); color: inherit; border-radius: 2px; }
.side.rejected mark { background: var(--rejected-bg); color: inherit; border-radius: 2px; }
.conversation { margin: 0.6rem 0.8rem 0; display: grid; gap: 0.4rem; }
.msg { border-radius: 6px; padding: 0.35rem 0.6rem; background: #f2f4f7; max-width: 92%; }
.msg.user, .msg.prompt { background: #e8f1fb; justify-self: end; }
.msg.system { background: #f3efe2; } .msg.assistant { background: #eef6ee; }
.msg .role { font-size: 0.72rem; text-transform: uppercase; letter-spacing: 0.05em; color: var(--muted); }
.pair-meta { font-size: 0.78rem; color: var(--muted); margin: 0.3rem 0.8rem 0; }
.empty { color: var(--muted); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(30rem, 1fr)); gap: 1rem 1.5rem; }
.charts.several { grid-template-columns: repeat(var(--runs), minmax(0, 1fr)); }
figure.chart { margin: 0; min-width: 0; } figure.chart > div { width: 100%; }
.chart-error { color: var(--bad); }
.numbers-grid { display: flex; flex-wrap: wrap; gap: 1rem 2.5rem; align-items: flex-start; }
table.numbers { border-collapse: collapse; font-size: 0.84rem; }
table.numbers caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
table.numbers th { text-align: left; font-weight: normal; color: var(--muted); padding: 0.1rem 1rem 0.1rem 0; }
table.numbers thead th { font-weight: 600; color: #1d2330; }
table.numbers td { text-align: right; font-variant-numeric: tabular-nums; padding: 0.1rem 0 0.1rem 1rem;
                   max-width: 28rem; overflow-wrap: anywhere; }
details.all-numbers summary { cursor: pointer; color: #1f5fa8; margin: 0.4rem 0; }
"""

PAGE = Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>$title</title>
<style>"""
    + STYLE.replace("$", "$$")
    + """</style>
<script>
$vega_bundle
</script>
</head>
<body>
<header class="top"><h1>$title</h1><div class="summaries">$summaries</div></header>
<nav class="sections"><a href="#funnel">Funnel</a><a href="#health">Health</a><a href="#pairs">Pairs</a>
<a href="#charts">Charts</a><a href="#numbers">Numbers</a></nav>
<noscript><p class="chart-error">The pair browser and the charts need JavaScript (inlined in this file; no
network is used).</p></noscript>
<main>
<section class="panel" id="funnel"><h2>From steps to the dataset</h2>
$funnel
</section>
<section class="panel" id="health"><h2>Health</h2>
$health
</section>
<section class="panel" id="pairs"><h2>Pairs <span class="sub" id="pairs-source"></span></h2>
<p class="sample-note" id="sample-note"></p>
<form class="controls" id="controls" autocomplete="off">
<label id="f-run-field" hidden>run <select id="f-run"><option value="">all runs</option></select></label>
<label id="f-split-field">split <select id="f-split"><option value="">all</option></select></label>
<div class="field">margin <span class="range-pair"><input type="range" id="f-mlo" min="0" max="100" step="1" value="0"
 aria-label="smallest margin"><input type="range" id="f-mhi" min="0" max="100" step="1" value="100"
 aria-label="largest margin"></span><output id="f-mout"></output></div>
<label>example <input type="text" id="f-example" list="f-examples" placeholder="id contains"></label>
<datalist id="f-examples"></datalist>
<label>turn <select id="f-turn"><option value="">all</option></select></label>
<label>search <input type="search" id="f-search" placeholder="words in the prompt or the responses"></label>
<label>sort <select id="f-sort">
<option value="example">example, turn</option><option value="margin-desc">widest margin first</option>
<option value="margin-asc">closest call first</option><option value="chosen-desc">best chosen score first</option>
<option value="rejected-asc">worst rejected score first</option><option value="sample">embedded order</option>
</select></label>
<label>per page <select id="f-size"><option>10</option><option selected>20</option><option>50</option>
<option>100</option></select></label>
<div class="field"><span>&nbsp;</span><button type="button" id="f-reset">reset</button></div>
</form>
<div class="pager"><button type="button" id="page-prev" aria-label="previous page">&lsaquo;</button>
<span id="page-of"></span><button type="button" id="page-next" aria-label="next page">&rsaquo;</button>
<span id="match-count"></span></div>
<ol class="pair-list" id="pair-list"></ol>
<div class="pager"><button type="button" id="page-prev2" aria-label="previous page">&lsaquo;</button>
<span id="page-of2"></span><button type="button" id="page-next2" aria-label="next page">&rsaquo;</button></div>
</section>
<section class="panel" id="charts"><h2>Charts</h2>
$charts
</section>
<section class="panel" id="numbers"><h2>Numbers</h2>
$numbers
</section>
</main>
<script type="application/json" id="chart-specs">$specs</script>
<script type="application/json" id="pairs-data">$pairs</script>
<script>
$script
</script>
</body>
</html>
"""
)
