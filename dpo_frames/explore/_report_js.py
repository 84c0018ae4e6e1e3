"""The report page's own JavaScript: the pair browser and the chart drawing (no library but Vega).

The pair browser reads ``#pairs-data`` (:func:`~dpo_frames.explore._report_pairs.encode`):
filters (run, split, margin range, example, turn index, text search) and a sort run over the
embedded pairs on every change (a few thousand at most, so a plain loop is instant); a page of
cards is drawn at a time, each with chosen and rejected side by side and the differing words
marked (a word-level longest common subsequence, after the common head and tail). Opening a
card shows the whole prompt as a conversation. Data only ever reaches the page as text nodes.
"""

__all__ = ["SCRIPT"]

SCRIPT = r"""
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const D = JSON.parse($("pairs-data").textContent);
  const S = D.s, P = D.pairs, N = P.m.length, RUNS = D.runs;
  const nf = new Intl.NumberFormat("en-US");
  const fmtN = (n) => nf.format(n);
  const fmtS = (x) => (x === null || x === undefined ? "\u2014" : String(Number(x.toPrecision(3))));

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function messages(i) {
    const p = D.prompts[P.p[i]];
    if (typeof p === "number") return [[null, S[p]]];
    return p.map(([role, at]) => [role, S[at]]);
  }
  function lastPrompt(i) {
    const ms = messages(i);
    for (let k = ms.length - 1; k >= 0; k--) if (ms[k][0] === "user" || ms[k][0] === null) return ms[k][1];
    return ms.length ? ms[ms.length - 1][1] : "";
  }
  const hay = new Array(N);
  function haystack(i) {
    if (hay[i] === undefined) {
      hay[i] = (messages(i).map((m) => m[1]).join("\n") + "\n" + S[P.c[i]] + "\n" + S[P.r[i]]).toLowerCase();
    }
    return hay[i];
  }

  // --- the diff: words the two responses do not share ---------------------------------
  const TOKEN = /\s+|[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu;
  const MAX_CELLS = 1500000;
  function diff(a, b) {
    const A = a.match(TOKEN) || [], B = b.match(TOKEN) || [];
    let head = 0;
    while (head < A.length && head < B.length && A[head] === B[head]) head++;
    let tail = 0;
    while (tail < A.length - head && tail < B.length - head && A[A.length - 1 - tail] === B[B.length - 1 - tail]) tail++;
    const a1 = A.slice(head, A.length - tail), b1 = B.slice(head, B.length - tail);
    const keepA = new Uint8Array(a1.length), keepB = new Uint8Array(b1.length);
    const n = a1.length, m = b1.length;
    if (n && m && n * m <= MAX_CELLS) {
      const L = new Uint32Array((n + 1) * (m + 1));
      for (let i = n - 1; i >= 0; i--) {
        for (let j = m - 1; j >= 0; j--) {
          L[i * (m + 1) + j] = a1[i] === b1[j] ? L[(i + 1) * (m + 1) + j + 1] + 1
            : Math.max(L[(i + 1) * (m + 1) + j], L[i * (m + 1) + j + 1]);
        }
      }
      let i = 0, j = 0;
      while (i < n && j < m) {
        if (a1[i] === b1[j]) { keepA[i++] = 1; keepB[j++] = 1; }
        else if (L[(i + 1) * (m + 1) + j] >= L[i * (m + 1) + j + 1]) i++;
        else j++;
      }
    }
    const marks = (T, keep) => {
      const out = [];
      const push = (text, same) => {
        if (out.length && out[out.length - 1][1] === same) out[out.length - 1][0] += text;
        else out.push([text, same]);
      };
      T.slice(0, head).forEach((t) => push(t, true));
      T.slice(head, T.length - tail).forEach((t, k) => push(t, keep[k] === 1));
      T.slice(T.length - tail).forEach((t) => push(t, true));
      return out;
    };
    return [marks(A, keepA), marks(B, keepB)];
  }
  function marked(parts) {
    const box = el("div", "text");
    for (const [text, same] of parts) box.append(same ? document.createTextNode(text) : el("mark", "diff", text));
    return box;
  }

  // --- controls -----------------------------------------------------------------------
  const ctl = {
    run: $("f-run"), split: $("f-split"), lo: $("f-mlo"), hi: $("f-mhi"), out: $("f-mout"), example: $("f-example"),
    turn: $("f-turn"), search: $("f-search"), sort: $("f-sort"), size: $("f-size"),
  };
  let mMin = Infinity, mMax = -Infinity;
  for (let i = 0; i < N; i++) { if (P.m[i] < mMin) mMin = P.m[i]; if (P.m[i] > mMax) mMax = P.m[i]; }
  if (!N) { mMin = 0; mMax = 0; }
  const marginAt = (v) => mMin + ((mMax - mMin) * v) / 100;

  function option(select, value, label) {
    const o = el("option", null, label);
    o.value = value;
    select.append(o);
  }
  function setup() {
    if (RUNS.length > 1) {
      $("f-run-field").hidden = false;
      RUNS.forEach((r, k) => option(ctl.run, String(k), r.label));
    }
    const splits = new Set(P.split.filter((s) => s !== null));
    if (!splits.size) $("f-split-field").hidden = true;
    ["train", "validation"].filter((s) => splits.has(s)).forEach((s) => option(ctl.split, s, s));
    const turns = [...new Set(P.ti.map((t) => (t === null ? "none" : t)))];
    turns.sort((a, b) => (a === "none") - (b === "none") || a - b);
    turns.forEach((t) => option(ctl.turn, String(t), t === "none" ? "unknown" : "turn index " + t));
    const examples = [...new Set(P.ex)].slice(0, 2000);
    examples.forEach((e) => { const o = el("option"); o.value = S[e]; $("f-examples").append(o); });
    const parts = RUNS.map((r) => {
      const what = r.source ? r.source + " frame" : "no pairs";
      const how = r.sampled
        ? fmtN(r.embedded) + " of its " + fmtN(r.total) + " pairs embedded: the " + fmtN(D.limits.extremes)
          + " widest and closest margins and a content-hash sample of the rest (bound: --embed-pairs "
          + fmtN(D.limits.embed_pairs) + "; query every pair with dpo-frames sql)"
        : "all " + fmtN(r.total) + " pairs embedded";
      return (RUNS.length > 1 ? r.label + ": " : "") + what + ", " + how;
    });
    $("sample-note").textContent = parts.join(" \u00b7 ") + ". Texts over " + fmtN(D.limits.max_text)
      + " characters are cut.";
    $("pairs-source").textContent = RUNS.length === 1 && RUNS[0].source ? "(" + RUNS[0].source + " frame)" : "";
  }

  // --- filter, sort, page ---------------------------------------------------------------
  let filtered = [], page = 0;
  const opened = new Set();
  const cmpStr = (x, y) => (x < y ? -1 : x > y ? 1 : 0);
  const SORTS = {
    "example": (i, j) => P.run[i] - P.run[j] || cmpStr(S[P.ex[i]], S[P.ex[j]]) || (P.ti[i] ?? 1e9) - (P.ti[j] ?? 1e9)
      || cmpStr(S[P.turn[i]], S[P.turn[j]]) || P.m[j] - P.m[i] || i - j,
    "margin-desc": (i, j) => P.m[j] - P.m[i] || i - j,
    "margin-asc": (i, j) => P.m[i] - P.m[j] || i - j,
    "chosen-desc": (i, j) => P.cs[j] - P.cs[i] || P.m[j] - P.m[i] || i - j,
    "rejected-asc": (i, j) => P.rs[i] - P.rs[j] || P.m[j] - P.m[i] || i - j,
    "sample": (i, j) => i - j,
  };

  function update(keepPage) {
    let loV = +ctl.lo.value, hiV = +ctl.hi.value;
    if (loV > hiV) { [loV, hiV] = [hiV, loV]; }
    const eps = 1e-9 * Math.max(1, Math.abs(mMax));
    const lo = marginAt(loV) - eps, hi = marginAt(hiV) + eps;
    ctl.out.textContent = fmtS(marginAt(loV)) + " \u2013 " + fmtS(marginAt(hiV));
    const run = ctl.run.value, split = ctl.split.value, turn = ctl.turn.value;
    const ex = ctl.example.value.trim().toLowerCase(), q = ctl.search.value.trim().toLowerCase();
    filtered = [];
    for (let i = 0; i < N; i++) {
      if (run !== "" && P.run[i] !== +run) continue;
      if (split !== "" && P.split[i] !== split) continue;
      if (P.m[i] < lo || P.m[i] > hi) continue;
      if (turn !== "" && String(P.ti[i] === null ? "none" : P.ti[i]) !== turn) continue;
      if (ex && !S[P.ex[i]].toLowerCase().includes(ex)) continue;
      if (q && !haystack(i).includes(q)) continue;
      filtered.push(i);
    }
    filtered.sort(SORTS[ctl.sort.value] || SORTS.example);
    if (!keepPage) page = 0;
    render();
  }

  function render() {
    const size = +ctl.size.value;
    const pages = Math.max(1, Math.ceil(filtered.length / size));
    page = Math.min(Math.max(page, 0), pages - 1);
    const shown = filtered.slice(page * size, page * size + size);
    const list = $("pair-list");
    list.replaceChildren(...shown.map(card));
    if (!shown.length) list.append(el("li", "empty", N ? "no pair matches these filters" : "no pairs to show"));
    const from = filtered.length ? page * size + 1 : 0;
    $("match-count").textContent = fmtN(filtered.length) + " of " + fmtN(N) + " embedded pairs match"
      + (filtered.length ? "; showing " + fmtN(from) + "\u2013" + fmtN(page * size + shown.length) : "");
    for (const suffix of ["", "2"]) {
      $("page-of" + suffix).textContent = "page " + fmtN(page + 1) + " of " + fmtN(pages);
      $("page-prev" + suffix).disabled = page === 0;
      $("page-next" + suffix).disabled = page >= pages - 1;
    }
  }

  function side(kind, score, index, parts) {
    const box = el("div", "side " + kind);
    box.append(el("div", "side-head", kind + " \u00b7 score " + fmtS(score) + (index === null ? "" : " \u00b7 candidate " + index)));
    box.append(marked(parts));
    return box;
  }

  function conversation(i) {
    const box = el("div", "conversation");
    for (const [role, text] of messages(i)) {
      const m = el("div", "msg " + (role || "prompt"));
      m.append(el("div", "role", role || "prompt"), el("div", "content", text));
      box.append(m);
    }
    return box;
  }

  function card(i) {
    const li = el("li", "pair");
    li.dataset.index = String(i);
    li.dataset.margin = String(P.m[i]);
    const head = el("button", "pair-head");
    head.type = "button";
    head.setAttribute("aria-expanded", "false");
    head.append(el("span", "caret", "\u25b8"), el("span", "m", "margin " + fmtS(P.m[i])));
    head.append(el("span", "ex", "example " + S[P.ex[i]]));
    head.append(el("span", "turn", "turn " + S[P.turn[i]] + (P.ti[i] === null ? "" : " (index " + P.ti[i] + ")")));
    if (P.split[i] !== null) head.append(el("span", "split split-" + P.split[i], P.split[i]));
    if (RUNS.length > 1) head.append(el("span", "run muted", RUNS[P.run[i]].label));
    li.append(head, el("div", "prompt-preview", lastPrompt(i)));
    const [c, r] = diff(S[P.c[i]], S[P.r[i]]);
    const sides = el("div", "sides");
    sides.append(side("chosen", P.cs[i], P.ci[i], c), side("rejected", P.rs[i], P.ri[i], r));
    li.append(sides);
    head.addEventListener("click", () => toggle(li, i));
    if (opened.has(i)) toggle(li, i, true);
    return li;
  }

  function toggle(li, i, force) {
    const open = force === true || !li.classList.contains("open");
    li.classList.toggle("open", open);
    li.querySelector(".pair-head").setAttribute("aria-expanded", String(open));
    li.querySelector(".caret").textContent = open ? "\u25be" : "\u25b8";
    for (const old of li.querySelectorAll(".conversation, .pair-meta")) old.remove();
    li.querySelector(".prompt-preview").hidden = open;
    if (open) {
      opened.add(i);
      const meta = el("div", "pair-meta", "pair " + P.id[i] + " \u00b7 chosen " + fmtS(P.cs[i]) + " vs rejected "
        + fmtS(P.rs[i]));
      li.querySelector(".sides").before(conversation(i), meta);
    } else {
      opened.delete(i);
    }
  }

  function init() {
    setup();
    for (const key of ["run", "split", "turn", "sort", "size"]) ctl[key].addEventListener("change", () => update());
    for (const key of ["lo", "hi", "example", "search"]) ctl[key].addEventListener("input", () => update());
    $("controls").addEventListener("submit", (e) => e.preventDefault());
    $("f-reset").addEventListener("click", () => {
      $("controls").reset();
      update();
    });
    for (const suffix of ["", "2"]) {
      $("page-prev" + suffix).addEventListener("click", () => { page--; render(); });
      $("page-next" + suffix).addEventListener("click", () => { page++; render(); });
    }
    update();
    document.body.dataset.pairsReady = String(N);
  }

  // --- charts -------------------------------------------------------------------------
  function drawCharts() {
    const specs = JSON.parse($("chart-specs").textContent);
    const jobs = Object.entries(specs).map(([id, spec]) =>
      vegaEmbed("#" + id, spec, {renderer: "svg", actions: false})
        .then(() => ({id, ok: true}))
        .catch((error) => {
          const div = $(id);
          div.className = "chart-error";
          div.textContent = "chart " + id + " failed: " + error;
          return {id, ok: false};
        }));
    Promise.all(jobs).then((results) => {
      document.body.dataset.rendered = String(results.filter((r) => r.ok).length);
      document.body.dataset.failed = results.filter((r) => !r.ok).map((r) => r.id).join(" ");
    });
  }

  init();
  drawCharts();
})();
"""
