// ami_nb live views: one small ES module for anywidget. The kernel sends data (status, rows, a rate series);
// this module draws it with the DOM (textContent: no HTML injection) and JupyterLab's CSS variables, so the
// light and dark themes both work. It also tells the kernel whether anybody is looking (hello, beat, visibility,
// bye), so a view nobody sees stops redrawing.

const CSS = `
.aminb { font: 12px/1.35 var(--jp-ui-font-family, sans-serif); color: var(--jp-ui-font-color1, #222);
  background: var(--jp-layout-color1, #fff); border: 1px solid var(--jp-border-color2, #ddd); border-radius: 4px;
  padding: 6px 8px; max-width: 1180px; box-sizing: border-box; }
.aminb-head { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 12px; }
.aminb-where { font-weight: 600; }
.aminb-badge { padding: 1px 8px; border-radius: 9px; font-weight: 700; color: #fff; text-transform: uppercase;
  font-size: 11px; letter-spacing: .04em; }
.aminb-badge.live { background: var(--jp-success-color1, #388e3c); }
.aminb-badge.paused, .aminb-badge.idle, .aminb-badge.stopped { background: var(--jp-layout-color4, #757575); }
.aminb-badge.reconnecting, .aminb-badge.connecting { background: var(--jp-warn-color1, #f57c00); }
.aminb-badge.disconnected, .aminb-badge.closed { background: var(--jp-error-color1, #d32f2f); }
.aminb-fig b { font-variant-numeric: tabular-nums; }
.aminb-note { color: var(--jp-ui-font-color2, #666); }
.aminb-tools { display: flex; gap: 6px; align-items: center; margin: 4px 0; }
.aminb-tools button, .aminb-tools select, .aminb-tools input { font: 11px var(--jp-ui-font-family, sans-serif);
  color: var(--jp-ui-font-color1, #222); background: var(--jp-layout-color2, #eee);
  border: 1px solid var(--jp-border-color1, #bbb); border-radius: 3px; padding: 1px 6px; height: 20px; }
.aminb-tools input { width: 190px; background: var(--jp-layout-color1, #fff); }
.aminb-spark { display: block; width: 100%; height: 54px; }
.aminb-grid { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 6px; margin-top: 4px; }
.aminb-title { font-weight: 600; margin: 4px 0 1px; }
.aminb-box { overflow: auto; border: 1px solid var(--jp-border-color2, #ddd); border-radius: 3px; }
.aminb-box.h1 { height: 150px; } .aminb-box.h2 { height: 118px; } .aminb-box.h3 { height: auto; max-height: 240px; }
.aminb table { border-collapse: collapse; width: 100%; font: 11px/15px var(--jp-code-font-family, monospace); }
.aminb th { position: sticky; top: 0; background: var(--jp-layout-color2, #eee); text-align: left;
  font-weight: 600; padding: 1px 6px; white-space: nowrap; }
.aminb td { padding: 0 6px; white-space: nowrap; max-width: 140px; overflow: hidden; text-overflow: ellipsis; }
.aminb tr.ended td { color: var(--jp-ui-font-color2, #666); }
.aminb td.num { text-align: right; font-variant-numeric: tabular-nums; }
.aminb .lvl-ok { color: var(--jp-success-color1, #388e3c); font-weight: 700; }
.aminb .lvl-warn { color: var(--jp-warn-color1, #f57c00); font-weight: 700; }
.aminb .lvl-bad { color: var(--jp-error-color1, #d32f2f); font-weight: 700; }
.aminb-wall { display: grid; grid-template-columns: repeat(auto-fill, minmax(250px, 1fr)); gap: 6px; margin-top: 4px; }
.aminb-card { border: 1px solid var(--jp-border-color2, #ddd); border-radius: 4px; padding: 4px 8px;
  background: var(--jp-layout-color0, #fff); }
.aminb-card h4 { margin: 0 0 2px; font-size: 13px; }
.aminb-card .big { font-size: 22px; font-weight: 700; font-variant-numeric: tabular-nums; }
.aminb-card .row { display: flex; justify-content: space-between; gap: 8px; }
.aminb-card .lbl { color: var(--jp-ui-font-color2, #666); font-size: 11px; }
`;

function h(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function table(header, rows, opts = {}) {
  const t = h("table");
  const thead = h("thead");
  const tr = h("tr");
  header.forEach((c) => tr.appendChild(h("th", null, c)));
  thead.appendChild(tr);
  t.appendChild(thead);
  const body = h("tbody");
  rows.forEach((r) => {
    const row = h("tr", r.cls || null);
    (r.cells || r).forEach((c, i) => {
      const td = h("td", opts.num && opts.num.includes(i) ? "num" : null, c);
      if (typeof c === "string" && c.length > 30) td.title = c;
      row.appendChild(td);
    });
    body.appendChild(row);
  });
  t.appendChild(body);
  return t;
}

function fmt(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return Math.round(n / 1e3) + "k";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + "k";
  return String(Math.round(n));
}

// A log-scale line: a flood of 60,000/s and a quiet 3/s stay readable on one chart.
function sparkline(svg, series) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const NS = "http://www.w3.org/2000/svg";
  const W = Math.max(200, svg.clientWidth || 600), H = 54, top = 4, bottom = 14;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const vals = series.values || [];
  const max = Math.max(1, ...vals);
  const decades = Math.max(1, Math.ceil(Math.log10(max + 1)));
  const y = (v) => H - bottom - (Math.log10(v + 1) / decades) * (H - bottom - top);
  const n = Math.max(vals.length - 1, 1);
  const x = (i) => (i * W) / n;
  const step = (H - bottom - top) / decades < 14 ? 2 : 1;  // labels 9 px tall: every other decade when tight
  for (let d = 0; d <= decades; d++) {
    const v = Math.pow(10, d) - 1;
    const line = document.createElementNS(NS, "line");
    line.setAttribute("x1", 0); line.setAttribute("x2", W);
    line.setAttribute("y1", y(v)); line.setAttribute("y2", y(v));
    line.setAttribute("style", "stroke: var(--jp-border-color2, #ddd); stroke-width: 1");
    svg.appendChild(line);
    if (d > 0 && (decades - d) % step === 0) {
      const t = document.createElementNS(NS, "text");
      t.setAttribute("x", 2); t.setAttribute("y", y(v) + 10);
      t.setAttribute("style", "fill: var(--jp-ui-font-color3, #999); font: 9px var(--jp-ui-font-family, sans-serif)");
      t.textContent = fmt(Math.pow(10, d)) + "/s";
      svg.appendChild(t);
    }
  }
  const pts = vals.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  const area = document.createElementNS(NS, "polygon");
  area.setAttribute("points", `0,${H - bottom} ${pts} ${W},${H - bottom}`);
  area.setAttribute("style", "fill: var(--jp-brand-color3, #bbdefb); opacity: .55; stroke: none");
  svg.appendChild(area);
  const line = document.createElementNS(NS, "polyline");
  line.setAttribute("points", pts);
  line.setAttribute("style", "fill: none; stroke: var(--jp-brand-color1, #1976d2); stroke-width: 1.5");
  svg.appendChild(line);
  const label = document.createElementNS(NS, "text");
  label.setAttribute("x", W - 4); label.setAttribute("y", H - 3); label.setAttribute("text-anchor", "end");
  label.setAttribute("style", "fill: var(--jp-ui-font-color2, #666); font: 10px var(--jp-ui-font-family, sans-serif)");
  label.textContent = `events/s, last ${series.window || ""} · peak ${fmt(max)}/s · log scale`;
  svg.appendChild(label);
}

function render({ model, el }) {
  const root = h("div", "aminb");
  const style = h("style");
  style.textContent = CSS;
  root.appendChild(style);
  const head = h("div", "aminb-head");
  const tools = h("div", "aminb-tools");
  const pause = h("button", null, "Pause");
  const rate = h("select");
  [0.5, 1, 2, 4, 10].forEach((r) => { const o = h("option", null, `${r}/s`); o.value = r; rate.appendChild(o); });
  const filter = h("input");
  filter.placeholder = "filter: event or channel";
  tools.append(pause, h("span", "aminb-note", "redraws"), rate);
  if (model.get("kind") !== "wallboard") tools.append(filter);  // the wallboard has no filter (its queues= does)
  const NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "aminb-spark");
  const body = h("div");
  root.append(head, tools, svg, body);
  el.appendChild(root);

  pause.addEventListener("click", () => { model.set("paused", !model.get("paused")); model.save_changes(); });
  rate.addEventListener("change", () => { model.set("rate", parseFloat(rate.value)); model.save_changes(); });
  let timer = null;
  filter.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { model.set("filter", filter.value); model.save_changes(); }, 300);
  });

  function drawHead() {
    const s = model.get("status") || {};
    head.replaceChildren();
    head.appendChild(h("span", `aminb-badge ${s.badge || "idle"}`, s.badge_text || s.badge || ""));
    head.appendChild(h("span", "aminb-where", s.where || ""));
    (s.figures || []).forEach(([label, value]) => {
      const f = h("span", "aminb-fig");
      f.append(document.createTextNode(label + " "), h("b", null, value));
      head.appendChild(f);
    });
    if (s.note) head.appendChild(h("span", "aminb-note", s.note));
    pause.textContent = model.get("paused") ? "Resume" : "Pause";
    const r = String(model.get("rate"));
    if (![...rate.options].some((o) => o.value === r)) {
      const o = h("option", null, `${r}/s`); o.value = r; rate.appendChild(o);
    }
    rate.value = r;
    if (document.activeElement !== filter) filter.value = model.get("filter") || "";
  }

  function section(title, node, cls) {
    const wrap = h("div");
    wrap.appendChild(h("div", "aminb-title", title));
    const box = h("div", `aminb-box ${cls}`);
    box.appendChild(node);
    wrap.appendChild(box);
    return wrap;
  }

  function drawBody() {
    const kind = model.get("kind");
    body.replaceChildren();
    if (kind === "wallboard") {
      const wall = h("div", "aminb-wall");
      (model.get("queues") || []).forEach((q) => {
        const card = h("div", "aminb-card");
        card.appendChild(h("h4", null, q.Queue));
        const big = h("div", "row");
        [["waiting", q.waiting, q.lvl_waiting], ["longest wait", q.longest, q.lvl_longest],
         ["service level", q.sl, q.lvl_sl]].forEach(([label, value, lvl]) => {
          const cell = h("div");
          cell.append(h("div", `big lvl-${lvl || "none"}`, value), h("div", "lbl", label));
          big.appendChild(cell);
        });
        card.appendChild(big);
        const agents = h("div", "row");
        [["available", q.available, q.lvl_available], ["on a call", q.busy], ["paused", q.paused],
         ["answered", q.answered], ["abandoned", q.abandoned]].forEach(([label, value, lvl]) => {
          const cell = h("div");
          cell.append(h("div", lvl ? `lvl-${lvl}` : null, value), h("div", "lbl", label));
          agents.appendChild(cell);
        });
        card.appendChild(agents);
        wall.appendChild(card);
      });
      body.appendChild(wall);
      const callers = model.get("callers") || {};
      body.appendChild(section(`Callers waiting (${(callers.rows || []).length})`,
        table(callers.header || [], callers.rows || [], { num: [1, 4] }), "h2"));
      const members = model.get("members") || {};
      body.appendChild(section("Agents", table(members.header || [], members.rows || [], { num: [4] }), "h3"));
      return;
    }
    const grid = h("div", "aminb-grid");
    const ch = model.get("channels") || {};
    grid.appendChild(section(ch.title || "Active channels", table(ch.header || [], ch.rows || []), "h1"));
    const ended = model.get("ended") || {};
    grid.appendChild(section(ended.title || "Calls", table(ended.header || [], ended.rows || [], { num: [4] }),
      "h1"));
    body.appendChild(grid);
    const tail = model.get("tail") || {};
    body.appendChild(section(tail.title || "Latest events", table(tail.header || [], tail.rows || []), "h2"));
  }

  drawHead();
  sparkline(svg, model.get("series") || {});
  drawBody();
  const onHead = () => drawHead();
  const onSeries = () => sparkline(svg, model.get("series") || {});
  let resize = null;
  if (typeof ResizeObserver !== "undefined") {  // the first draw may happen before the view has a width
    resize = new ResizeObserver(() => onSeries());
    resize.observe(svg);
  }
  const onBody = () => drawBody();
  model.on("change:status", onHead);
  model.on("change:paused", onHead);
  model.on("change:rate", onHead);
  model.on("change:series", onSeries);
  ["channels", "ended", "tail", "queues", "callers", "members"].forEach((k) => model.on(`change:${k}`, onBody));

  // presence: the kernel pauses a view that nobody sees (a hidden tab, scrolled away, or no browser at all)
  let inView = true;
  const visible = () => inView && document.visibilityState !== "hidden";
  const send = (kind) => { try { model.send({ kind, visible: visible() }); } catch (e) { /* closed */ } };
  let io = null;
  if (typeof IntersectionObserver !== "undefined") {
    io = new IntersectionObserver((entries) => {
      const now = entries[entries.length - 1].isIntersecting;
      if (now !== inView) { inView = now; send("visibility"); }
    });
    io.observe(root);
  }
  const onVis = () => send("visibility");
  document.addEventListener("visibilitychange", onVis);
  const beat = setInterval(() => send("beat"), 5000);
  send("hello");
  return () => {
    clearInterval(beat);
    if (io) io.disconnect();
    if (resize) resize.disconnect();
    document.removeEventListener("visibilitychange", onVis);
    model.off("change:status", onHead);
    model.off("change:series", onSeries);
    send("bye");
  };
}

export default { render };
