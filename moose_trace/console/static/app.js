// moose-trace console: plain JavaScript, no build step.
// Log content is hostile: every value from an event reaches the page through textContent,
// setAttribute or a CSS class from a fixed list; never parsed as HTML.
"use strict";

const ROW_HEIGHT = 20;
const MAX_LINES = 200000; // lines the stream keeps; older ones are dropped (the DOM never grows)
const OVERSCAN = 10;
const LEVELS = ["debug", "info", "warning", "error", "critical"];
const LAYERS = ["webserver", "streaming", "sync", "storage", "workflow"];
const DEFAULT_COLUMNS = "timestamp,level,service,type,name,event,trace_id,latency_ms";
const FIELD_FILTERS = { service: "service", type: "type", layer: "layer", name: "name" };
const FORM_KEYS = ["level", "service", "type", "layer", "name", "tenant", "since", "until", "search", "filter"];
const VIEWS = ["stream", "events", "trace", "errors", "histogram", "stats"];

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function text(value) {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

function levelClass(level) {
  return LEVELS.includes(level) ? "level-" + level : "";
}

function layerClass(layer) {
  return "layer-" + (LAYERS.includes(layer) ? layer : "other");
}

function toast(message) {
  const box = $("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 5000);
}

// ---- route: #/<view>[/<arg>]?<params> -------------------------------------------------

function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query] = hash.split("?", 2);
  const [view, ...rest] = path.split("/");
  return {
    view: VIEWS.includes(view) ? view : "stream",
    arg: rest.length ? decodeURIComponent(rest.join("/")) : "",
    params: new URLSearchParams(query || ""),
  };
}

function routeHash(view, arg, params) {
  const query = params.toString();
  return "#/" + view + (arg ? "/" + encodeURIComponent(arg) : "") + (query ? "?" + query : "");
}

function formParams() {
  const params = new URLSearchParams();
  const form = $("filters");
  for (const key of FORM_KEYS) {
    const value = form.elements[key].value.trim();
    if (value) params.set(key, value);
  }
  return params;
}

function fillForm(params) {
  const form = $("filters");
  for (const key of FORM_KEYS) form.elements[key].value = params.get(key) || "";
}

function quoteValue(value) {
  return /^[^\s,"'=!<>:]+$/.test(value) ? value : '"' + value.replace(/"/g, "") + '"';
}

// The API's parameters for the filters of the route: field boxes become filter expressions.
function apiParams(params) {
  const out = new URLSearchParams();
  for (const [key, field] of Object.entries(FIELD_FILTERS)) {
    const value = params.get(key);
    if (value) out.append("filter", field + "=" + quoteValue(value));
  }
  if (params.get("filter")) out.append("filter", params.get("filter"));
  // tenant: the API looks in tenant_id and tenant_slug.
  for (const key of ["level", "tenant", "since", "until", "search"]) {
    if (params.get(key)) out.set(key, params.get(key));
  }
  return out;
}

async function getJSON(path, params) {
  const response = await fetch(path + (params && params.toString() ? "?" + params : ""), {
    headers: { Accept: "application/json" },
  });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    const error = new Error((body && body.error) || response.status + " " + response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

// ---- the detail drawer ------------------------------------------------------------------

function showDetail(event) {
  $("drawer-body").textContent = JSON.stringify(event, null, 2);
  const link = $("drawer-trace");
  if (event && typeof event.trace_id === "string" && event.trace_id) {
    link.setAttribute("href", routeHash("trace", event.trace_id, new URLSearchParams()));
    link.hidden = false;
  } else {
    link.hidden = true;
  }
  $("drawer").hidden = false;
  $("drawer-close").focus();
}

function closeDetail() {
  $("drawer").hidden = true;
}

// ---- the live stream: a virtual list over an array of events ----------------------------

const stream = {
  lines: [],
  pending: [],
  paused: false,
  follow: true,
  selected: -1,
  socket: null,
  key: null,
  pool: [],
  frame: 0,
  retry: 0,
  userAt: -Infinity,
};

function streamRow() {
  const row = el("div", { class: "row", role: "row" },
    el("span", { class: "ts" }), el("span", { class: "lvl" }), el("span", { class: "svc" }),
    el("span", { class: "what" }), el("span", { class: "msg" }));
  row.addEventListener("click", () => {
    const index = Number(row.dataset.index);
    stream.selected = index;
    scheduleRender();
    showDetail(stream.lines[index]);
  });
  return row;
}

function fillRow(row, event, index) {
  const [ts, lvl, svc, what, msg] = row.children;
  row.dataset.index = String(index);
  row.style.transform = "translateY(" + index * ROW_HEIGHT + "px)";
  row.classList.toggle("selected", index === stream.selected);
  ts.textContent = text(event.timestamp);
  lvl.textContent = text(event.level);
  lvl.className = "lvl " + levelClass(event.level);
  svc.textContent = text(event.service);
  what.textContent = [text(event.type), text(event.name)].filter(Boolean).join(" ");
  msg.textContent = text(event.event) + (event.error_message ? " — " + text(event.error_message) : "");
}

function renderStream() {
  stream.frame = 0;
  const scroller = $("stream");
  const rows = $("stream-rows");
  $("stream-spacer").style.height = stream.lines.length * ROW_HEIGHT + "px";
  if (stream.follow) scroller.scrollTop = scroller.scrollHeight;
  const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_HEIGHT) - OVERSCAN);
  const visible = Math.ceil(scroller.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN;
  const last = Math.min(stream.lines.length, first + visible);
  while (stream.pool.length < last - first) {
    const row = streamRow();
    stream.pool.push(row);
    rows.append(row);
  }
  stream.pool.forEach((row, slot) => {
    const index = first + slot;
    if (index < last) {
      row.hidden = false;
      fillRow(row, stream.lines[index], index);
    } else {
      row.hidden = true;
    }
  });
  const waiting = stream.pending.length ? " (" + stream.pending.length + " new while paused)" : "";
  $("stream-count").textContent = stream.lines.length + " lines" + waiting;
}

function scheduleRender() {
  if (!stream.frame) stream.frame = requestAnimationFrame(renderStream);
}

function addLines(events) {
  if (stream.paused) {
    stream.pending.push(...events);
    if (stream.pending.length > MAX_LINES) stream.pending.splice(0, stream.pending.length - MAX_LINES);
  } else {
    for (const event of events) if (event && typeof event === "object") stream.lines.push(event);
    const excess = stream.lines.length - MAX_LINES;
    if (excess > 0) {
      stream.lines.splice(0, excess);
      stream.selected -= excess;
    }
  }
  scheduleRender();
}

function setPaused(paused) {
  stream.paused = paused;
  $("pause").textContent = paused ? "Resume" : "Pause";
  if (!paused && stream.pending.length) {
    const pending = stream.pending;
    stream.pending = [];
    addLines(pending);
  }
  scheduleRender();
}

function connectStream(params) {
  const key = apiParams(params).toString();
  if (stream.socket && stream.key === key) return;
  disconnectStream();
  stream.key = key;
  stream.lines = [];
  stream.pending = [];
  stream.selected = -1;
  const status = $("stream-status");
  // The latest lines first, then everything new as it is written.
  const backlog = apiParams(params);
  backlog.set("limit", "200");
  getJSON("/api/events", backlog).then((page) => {
    if (stream.key === key) {
      stream.lines = page.events.concat(stream.lines);
      scheduleRender();
    }
  }).catch((error) => toast(error.message));
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const socket = new WebSocket(scheme + location.host + "/api/stream?batch=1" + (key ? "&" + key : ""));
  stream.socket = socket;
  status.textContent = "connecting…";
  socket.addEventListener("open", () => {
    stream.retry = 0;
    status.textContent = "live";
  });
  socket.addEventListener("message", (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch (_) { return; }
    if (Array.isArray(event)) {
      addLines(event);
    } else if (event && typeof event.error === "string" && Object.keys(event).length === 1) {
      toast(event.error);
    }
  });
  socket.addEventListener("close", (closed) => {
    if (stream.socket !== socket) return;
    stream.socket = null;
    status.textContent = "disconnected" + (closed.reason ? ": " + closed.reason : "") + "; retrying";
    const delay = Math.min(10000, 500 * 2 ** stream.retry++);
    setTimeout(() => {
      if (!stream.socket && stream.key === key && parseRoute().view === "stream") {
        stream.key = null;
        connectStream(params);
      }
    }, delay);
  });
}

function disconnectStream() {
  if (stream.socket) {
    const socket = stream.socket;
    stream.socket = null;
    socket.close();
  }
  stream.key = null;
}

function moveSelection(delta) {
  if (!stream.lines.length) return;
  stream.selected = Math.max(0, Math.min(stream.lines.length - 1, (stream.selected < 0 ? stream.lines.length : stream.selected) + delta));
  stream.follow = false;
  const scroller = $("stream");
  const top = stream.selected * ROW_HEIGHT;
  if (top < scroller.scrollTop) scroller.scrollTop = top;
  else if (top + ROW_HEIGHT > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = top + ROW_HEIGHT - scroller.clientHeight;
  scheduleRender();
}

// ---- tables ------------------------------------------------------------------------------

function fillTable(table, columns, rows, onOpen, numeric) {
  table.replaceChildren();
  const head = el("tr", {}, ...columns.map((column) => el("th", { class: numeric && numeric.has(column.key) ? "num" : null, text: column.title })));
  const body = el("tbody");
  for (const row of rows) {
    const tr = el("tr", { tabindex: "0", class: row.className || null });
    for (const column of columns) {
      const value = column.value(row.data);
      const cell = el("td", { class: numeric && numeric.has(column.key) ? "num" : null, text: text(value) });
      if (column.key === "level") cell.classList.add(...(levelClass(value) ? [levelClass(value)] : []));
      cell.setAttribute("title", text(value));
      tr.append(cell);
    }
    if (onOpen) {
      tr.addEventListener("click", () => onOpen(row.data));
      tr.addEventListener("keydown", (key) => {
        if (key.key === "Enter") onOpen(row.data);
        if (key.key === "ArrowDown" && tr.nextElementSibling) tr.nextElementSibling.focus();
        if (key.key === "ArrowUp" && tr.previousElementSibling) tr.previousElementSibling.focus();
      });
    }
    body.append(tr);
  }
  table.append(el("thead", {}, head), body);
}

function eventColumns(names) {
  return names.map((name) => ({ key: name, title: name, value: (event) => event[name] }));
}

// ---- query results -----------------------------------------------------------------------

// While the console loads the logs, an answer holds what is loaded so far: say so, ask again.
let partialRetry = null;

function partialNote(body) {
  clearTimeout(partialRetry);
  if (!body.partial) return "";
  const share = body.total_bytes ? Math.floor((100 * body.loaded_bytes) / body.total_bytes) : 0;
  const hash = location.hash;
  partialRetry = setTimeout(() => { if (location.hash === hash) show(); }, 3000);
  return " — partial: the logs are still loading (" + share + "% read), updating…";
}

const results = { events: [], cursor: null, key: null };

function chosenColumns(params) {
  return (params.get("columns") || DEFAULT_COLUMNS).split(",").map((name) => name.trim()).filter(Boolean);
}

async function loadEvents(params, older) {
  const query = apiParams(params);
  query.set("limit", "200");
  if (older && results.cursor) query.set("cursor", results.cursor);
  $("events-status").textContent = "loading…";
  try {
    const page = await getJSON("/api/events", query);
    const newestFirst = page.events.slice().reverse();
    results.events = older ? results.events.concat(newestFirst) : newestFirst;
    results.cursor = page.next_cursor;
    $("older").hidden = !page.next_cursor;
    const skipped = page.skipped_lines ? "; " + page.skipped_lines + " lines were not log events" : "";
    $("events-status").textContent = results.events.length + " events, newest first" + skipped + partialNote(page);
    renderEvents(params);
  } catch (error) {
    $("events-status").textContent = error.message;
  }
}

function renderEvents(params) {
  const columns = chosenColumns(params);
  $("columns").value = columns.join(",");
  fillTable($("events-table"), eventColumns(columns), results.events.map((event) => ({ data: event })), showDetail, new Set(["latency_ms"]));
}

function exportUrl(format, params) {
  const query = apiParams(params);
  query.set("format", format);
  if (format === "csv") query.set("columns", chosenColumns(params).join(","));
  return "/api/export?" + query;
}

// ---- the trace waterfall -----------------------------------------------------------------

function formatMs(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
  return (ms >= 10 ? ms.toFixed(0) : ms.toFixed(2)) + " ms";
}

async function loadTrace(id) {
  $("trace-id").value = id;
  const box = $("waterfall");
  box.replaceChildren();
  $("span-events").replaceChildren();
  $("span-title").hidden = true;
  if (!id) {
    $("trace-status").textContent = "give a trace id, or open one from an event or an error group";
    return;
  }
  $("trace-status").textContent = "loading…";
  try {
    const trace = await getJSON("/api/traces/" + encodeURIComponent(id));
    renderTrace(trace);
  } catch (error) {
    $("trace-status").textContent = error.message;
  }
}

// Epoch microseconds of an ISO 8601 timestamp (Date keeps milliseconds only).
function isoMicros(iso) {
  if (typeof iso !== "string") return null;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return null;
  const fraction = /\.(\d+)/.exec(iso);
  const micros = fraction ? Number(fraction[1].padEnd(6, "0").slice(0, 6)) : 0;
  return Math.floor(ms / 1000) * 1e6 + micros;
}

function flattenSpans(spans, out) {
  for (const span of spans) {
    const start = isoMicros(span.start);
    const end = start === null ? null : start + Math.round((span.duration_ms || 0) * 1000);
    out.push({ ...span, start_us: start, end_us: end });
    flattenSpans(span.children || [], out);
  }
  return out;
}

function spanTitle(span) {
  return text(span.name) || text(span.type) || text(span.span_id) || "span";
}

function renderTrace(trace) {
  const box = $("waterfall");
  const spans = flattenSpans(trace.spans, []);
  const starts = spans.map((span) => span.start_us).filter((value) => value !== null);
  const ends = spans.map((span) => span.end_us).filter((value) => value !== null);
  const start = starts.length ? Math.min(...starts) : 0;
  const total = Math.max(1, (ends.length ? Math.max(...ends) : start) - start);
  const gaps = spans.filter((span) => span.gap_ms > 0 && span.start_us !== null);
  $("trace-status").textContent = trace.span_count + " spans across " + trace.services.length + " services, " +
    formatMs(total / 1000) + (trace.errors ? ", " + trace.errors + " failed" : "") +
    (gaps.length ? ", " + gaps.length + " gaps" : "") +
    (trace.outcome && trace.outcome.summary ? " — " + trace.outcome.summary : "");
  const pct = (micros) => (100 * (micros - start) / total).toFixed(3) + "%";
  const width = (micros) => (100 * micros / total).toFixed(3) + "%";
  const axis = el("div", { class: "wf-track" });
  for (let tick = 0; tick <= 4; tick++) {
    const label = el("span", { class: "wf-tick", text: formatMs(total * tick / 4 / 1000) });
    label.style.left = (tick * 25) + "%";
    axis.append(label);
  }
  for (const span of gaps) {
    const mark = el("div", { class: "gap", title: "gap: " + formatMs(span.gap_ms) + " before " + spanTitle(span) });
    mark.style.left = pct(span.start_us - span.gap_ms * 1000);
    mark.style.width = width(span.gap_ms * 1000);
    axis.append(mark);
  }
  box.append(el("div", { class: "wf-axis" }, el("div", { class: "wf-label", text: "span" }), axis));
  for (const span of spans) {
    const flags = [span.orphan ? "orphan" : null, span.batch ? "batch" : null].filter(Boolean).join(", ");
    const label = el("div", { class: "wf-label" + (span.critical ? " critical" : "") },
      span.status === "error" ? el("span", { class: "err-mark", text: "! " }) : null,
      spanTitle(span),
      el("span", { class: "muted", text: "  " + text(span.service) + (flags ? " (" + flags + ")" : "") }));
    label.style.paddingLeft = (6 + span.depth * 16) + "px";
    const track = el("div", { class: "wf-track" });
    if (span.gap_ms > 0 && span.start_us !== null) {
      const mark = el("div", { class: "gap", title: "waited " + formatMs(span.gap_ms) });
      mark.style.left = pct(span.start_us - span.gap_ms * 1000);
      mark.style.width = width(span.gap_ms * 1000);
      track.append(mark);
    }
    if (span.start_us !== null) {
      const bar = el("div", {
        class: "bar " + layerClass(span.layer) + (span.status === "error" ? " error" : ""),
        title: [text(span.layer), formatMs(span.duration_ms), text(span.status), text(span.error_message)].filter(Boolean).join(" · "),
      });
      bar.style.left = pct(span.start_us);
      bar.style.width = width(span.end_us - span.start_us);
      track.append(bar);
      const note = el("span", { class: "bar-label", text: formatMs(span.duration_ms) });
      note.style.left = "calc(" + pct(span.end_us) + " + 4px)";
      track.append(note);
    }
    const row = el("div", {
      class: "span-row", tabindex: "0", "data-span": text(span.span_id), "data-depth": String(span.depth),
      "data-layer": text(span.layer), "data-status": text(span.status),
    }, label, track);
    const open = () => {
      for (const other of box.querySelectorAll(".span-row.selected")) other.classList.remove("selected");
      row.classList.add("selected");
      showSpan(span);
    };
    row.addEventListener("click", open);
    row.addEventListener("keydown", (key) => {
      if (key.key === "Enter") open();
      if (key.key === "ArrowDown" && row.nextElementSibling) row.nextElementSibling.focus();
      if (key.key === "ArrowUp" && row.previousElementSibling && row.previousElementSibling.classList.contains("span-row")) row.previousElementSibling.focus();
    });
    box.append(row);
  }
}

function showSpan(span) {
  const title = $("span-title");
  title.textContent = "Events of " + spanTitle(span) + " (" + span.events.length + ")";
  title.hidden = false;
  fillTable($("span-events"), eventColumns(["timestamp", "level", "service", "event", "latency_ms", "status"]),
    span.events.map((event) => ({ data: event })), showDetail, new Set(["latency_ms"]));
}

// ---- error groups, histogram, stats ------------------------------------------------------

async function loadErrors(params) {
  $("errors-status").textContent = "loading…";
  try {
    const body = await getJSON("/api/errors", apiParams(params));
    $("errors-status").textContent = body.groups.length + " error groups" + (body.truncated ? " (the most frequent)" : "") + "; click one for its example trace" + partialNote(body);
    const columns = [
      { key: "count", title: "count", value: (g) => g.count },
      { key: "signature", title: "signature", value: (g) => g.signature },
      { key: "category", title: "category", value: (g) => g.category },
      { key: "layer", title: "layer", value: (g) => g.layer },
      { key: "first_seen", title: "first seen", value: (g) => g.first_seen },
      { key: "last_seen", title: "last seen", value: (g) => g.last_seen },
      { key: "example", title: "example", value: (g) => g.example },
    ];
    fillTable($("errors-table"), columns, body.groups.map((group) => ({ data: group })), (group) => {
      if (group.trace_id) location.hash = routeHash("trace", group.trace_id, new URLSearchParams());
      else toast("this group's events carry no trace id");
    }, new Set(["count"]));
  } catch (error) {
    $("errors-status").textContent = error.message;
  }
}

async function loadHistogram(params) {
  const query = apiParams(params);
  if (params.get("interval")) query.set("interval", params.get("interval"));
  $("interval").value = params.get("interval") || "";
  $("histogram-status").textContent = "loading…";
  const chart = $("histogram");
  chart.replaceChildren();
  $("histogram-axis").replaceChildren();
  try {
    const body = await getJSON("/api/histogram", query);
    const totals = body.buckets.map((bucket) => LEVELS.reduce((sum, level) => sum + (bucket.counts[level] || 0), 0));
    const highest = Math.max(1, ...totals);
    $("histogram-status").textContent = body.buckets.length + " buckets of " + formatMs(body.interval_ms) + "; highest " + highest + " events" + partialNote(body);
    $("legend").replaceChildren(...LEVELS.map((level) => el("span", { class: levelClass(level), text: level })));
    body.buckets.forEach((bucket, index) => {
      const column = el("div", { class: "hcol", title: bucket.start + ": " + LEVELS.map((level) => level + " " + (bucket.counts[level] || 0)).join(", ") });
      column.dataset.total = String(totals[index]);
      for (const level of LEVELS) {
        const count = bucket.counts[level] || 0;
        if (!count) continue;
        const segment = el("div", { class: "hseg " + level });
        segment.style.height = (100 * count / highest).toFixed(3) + "%";
        column.append(segment);
      }
      chart.append(column);
    });
    if (body.buckets.length) {
      $("histogram-axis").append(el("span", { text: body.buckets[0].start }), el("span", { text: body.buckets[body.buckets.length - 1].start }));
    }
  } catch (error) {
    $("histogram-status").textContent = error.message;
  }
}

function percent(value) {
  return value === null || value === undefined ? "" : (100 * value).toFixed(2) + "%";
}

async function loadStats(params) {
  const query = apiParams(params);
  const by = params.get("by") || "type,name";
  query.set("by", by);
  $("stats-by").value = by;
  $("stats-status").textContent = "loading…";
  try {
    const body = await getJSON("/api/stats", query);
    $("stats-status").textContent = body.count + " events, " + percent(body.success_rate) + " success" + (body.truncated ? "; the most frequent groups" : "") + partialNote(body);
    const keys = body.by.map((field) => ({
      key: field, title: field,
      value: (row) => (row.key ? (row.key[field] === null ? "(none)" : row.key[field]) : "all"),
    }));
    const measures = [
      ["count", "count", (row) => row.count],
      ["success_rate", "success", (row) => percent(row.success_rate)],
      ["timed", "timed", (row) => row.timed],
      ["avg", "avg", (row) => formatMs(row.avg_latency_ms)],
      ["p50", "p50", (row) => formatMs(row.p50_latency_ms)],
      ["p95", "p95", (row) => formatMs(row.p95_latency_ms)],
      ["p99", "p99", (row) => formatMs(row.p99_latency_ms)],
    ].map(([key, title, value]) => ({ key, title, value }));
    const total = { data: body, className: "total" };
    fillTable($("stats-table"), keys.concat(measures), [total].concat(body.groups.map((group) => ({ data: group }))), (row) => {
      if (!row.key) return;
      const next = new URLSearchParams(parseRoute().params);
      const filter = Object.entries(row.key).filter(([, value]) => value !== null).map(([field, value]) => field + "=" + quoteValue(value)).join(",");
      if (filter) next.set("filter", filter);
      location.hash = routeHash("events", "", next);
    }, new Set(measures.map((column) => column.key)));
    fillTable($("stats-errors"), [
      { key: "category", title: "category", value: (row) => row.category === null ? "(none)" : row.category },
      { key: "count", title: "count", value: (row) => row.count },
    ], body.errors.map((row) => ({ data: row })), null, new Set(["count"]));
  } catch (error) {
    $("stats-status").textContent = error.message;
  }
}

// ---- wiring ------------------------------------------------------------------------------

function show() {
  const route = parseRoute();
  fillForm(route.params);
  for (const view of VIEWS) $("view-" + view).hidden = view !== route.view;
  for (const link of $("tabs").querySelectorAll("a")) {
    link.classList.toggle("active", link.dataset.view === route.view);
    const keep = new URLSearchParams(route.params);
    link.setAttribute("href", routeHash(link.dataset.view, link.dataset.view === "trace" ? $("trace-id").value : "", keep));
  }
  if (route.view === "stream") connectStream(route.params);
  else disconnectStream();
  if (route.view === "events") loadEvents(route.params, false);
  if (route.view === "trace") loadTrace(route.arg);
  if (route.view === "errors") loadErrors(route.params);
  if (route.view === "histogram") loadHistogram(route.params);
  if (route.view === "stats") loadStats(route.params);
  if (route.view === "stream") requestAnimationFrame(renderStream);
}

function navigate(view, arg, params) {
  const hash = routeHash(view, arg, params);
  if (location.hash === hash) show();
  else location.hash = hash;
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  try { localStorage.setItem("moose-trace-theme", theme); } catch (_) { /* private mode */ }
}

function toggleTheme() {
  const dark = document.documentElement.dataset.theme === "dark" ||
    (document.documentElement.dataset.theme === "auto" && matchMedia("(prefers-color-scheme: dark)").matches);
  applyTheme(dark ? "light" : "dark");
}

function init() {
  try {
    const theme = localStorage.getItem("moose-trace-theme");
    if (theme === "dark" || theme === "light") document.documentElement.dataset.theme = theme;
  } catch (_) { /* private mode */ }
  $("theme").addEventListener("click", toggleTheme);
  $("filters").addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const route = parseRoute();
    const params = formParams();
    for (const key of ["columns", "by", "interval"]) if (route.params.get(key)) params.set(key, route.params.get(key));
    navigate(route.view, route.arg, params);
  });
  $("clear").addEventListener("click", () => {
    const route = parseRoute();
    navigate(route.view, route.arg, new URLSearchParams());
  });
  $("pause").addEventListener("click", () => setPaused(!stream.paused));
  $("stream-clear").addEventListener("click", () => { stream.lines = []; stream.pending = []; stream.selected = -1; scheduleRender(); });
  $("stream-bottom").addEventListener("click", () => { stream.follow = true; scheduleRender(); });
  // Only a person scrolling (wheel, keys, pointer) stops or resumes following: the page's own
  // scrolling to the newest line must not count as leaving the bottom.
  for (const kind of ["wheel", "pointerdown", "keydown", "touchstart"]) {
    $("stream").addEventListener(kind, () => { stream.userAt = performance.now(); }, { passive: true });
  }
  $("stream").addEventListener("scroll", () => {
    const scroller = $("stream");
    if (performance.now() - stream.userAt < 1000) {
      stream.follow = scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - ROW_HEIGHT;
    }
    scheduleRender();
  }, { passive: true });
  $("stream").addEventListener("keydown", (key) => {
    if (key.key === "ArrowDown" || key.key === "j") { moveSelection(1); key.preventDefault(); }
    if (key.key === "ArrowUp" || key.key === "k") { moveSelection(-1); key.preventDefault(); }
    if (key.key === "Enter" && stream.selected >= 0) showDetail(stream.lines[stream.selected]);
    if (key.key === "Home") { stream.follow = false; $("stream").scrollTop = 0; scheduleRender(); key.preventDefault(); }
  });
  $("older").addEventListener("click", () => loadEvents(parseRoute().params, true));
  $("columns").addEventListener("change", () => {
    const route = parseRoute();
    route.params.set("columns", $("columns").value.replace(/\s+/g, ""));
    navigate("events", "", route.params);
  });
  $("export-csv").addEventListener("click", () => { location.href = exportUrl("csv", parseRoute().params); });
  $("export-json").addEventListener("click", () => { location.href = exportUrl("json", parseRoute().params); });
  $("trace-form").addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    navigate("trace", $("trace-id").value.trim(), parseRoute().params);
  });
  $("interval").addEventListener("change", () => {
    const route = parseRoute();
    if ($("interval").value.trim()) route.params.set("interval", $("interval").value.trim());
    else route.params.delete("interval");
    navigate("histogram", "", route.params);
  });
  $("stats-by").addEventListener("change", () => {
    const route = parseRoute();
    route.params.set("by", $("stats-by").value.replace(/\s+/g, "") || "type,name");
    navigate("stats", "", route.params);
  });
  $("drawer-close").addEventListener("click", closeDetail);
  $("drawer-trace").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (key) => {
    const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if (key.key === "Escape") { closeDetail(); if (typing) document.activeElement.blur(); return; }
    if (typing || key.ctrlKey || key.metaKey || key.altKey) return;
    const number = Number(key.key);
    if (number >= 1 && number <= VIEWS.length) navigate(VIEWS[number - 1], "", parseRoute().params);
    else if (key.key === "/") { key.preventDefault(); $("search").focus(); }
    else if (key.key === "p") setPaused(!stream.paused);
    else if (key.key === "t") toggleTheme();
    else if (key.key === "End") { stream.follow = true; scheduleRender(); }
  });
  window.addEventListener("hashchange", show);
  window.addEventListener("resize", scheduleRender);
  getJSON("/api/source").then((body) => { $("source").textContent = body.source; }).catch(() => {});
  show();
}

document.addEventListener("DOMContentLoaded", init);
