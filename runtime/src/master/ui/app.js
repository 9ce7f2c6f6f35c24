// The allot master's web UI: polls /api/v1/state (the lists of the tab it
// shows, ?only=..., and the counts of all) and /api/v1/utilization, and
// renders them. Names, hostnames, attributes and messages come from
// users, so API values reach the page only as text (textContent,
// createElement, setAttribute), never parsed as HTML.
"use strict";

const REFRESH_MS = (() => {
  const given = new URLSearchParams(location.search).get("refresh");
  const ms = given === null ? NaN : Number(given);
  return Number.isFinite(ms) ? Math.max(200, ms) : 2000;
})();
// The Agents tab shows a page of this many agents, which the master
// filters, sorts and cuts (?agents_limit=...): 40,000 agents would be 10 MB
// and 0.4 s of the master's loop at every poll.
const AGENTS_PAGE = (() => {
  const given = Number(new URLSearchParams(location.search).get("agents_page"));
  return Number.isInteger(given) && given > 0 ? given : 200;
})();
// A master that accepts connections but never answers (stopped, wedged)
// must still turn into the banner.
const TIMEOUT_MS = Math.max(10000, REFRESH_MS);
const TABS = ["overview", "agents", "frameworks", "roles", "tasks", "offers"];
// Sections shown one at a time: the tabs, a task's sandbox and a file of it
// (no tabs of their own).
const SECTIONS = [...TABS, "sandbox", "log"];
// The state's lists each tab shows: a cluster of 40,000 agents has a 10 MB
// state, which neither the master nor the browser should make every 2 s
// for a page that shows the frameworks.
const LISTS = {
  overview: "",
  agents: "agents",
  frameworks: "frameworks,completed_frameworks",
  roles: "roles",
  tasks: "tasks,completed_tasks",
  offers: "offers",
  sandbox: "", // the header's counts; the listing comes from /api/v1/files/browse
  log: "", // the header's counts; the file comes from /api/v1/files/read
};
// The log view shows a file's last LOG_TAIL bytes, then what is added, and
// keeps at most LOG_KEEP characters of it.
const LOG_TAIL = 64 * 1024;
const LOG_KEEP = 1024 * 1024;
const SVG_NS = "http://www.w3.org/2000/svg";

const $ = (selector) => document.querySelector(selector);

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) e.setAttribute(name, String(value));
  if (text !== undefined) e.textContent = text;
  return e;
}

// --------------------------------------------------------------- formatting

const pad2 = (n) => String(n).padStart(2, "0");

function clock(ms) {
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

// The two largest units: "45 s", "12 min 5 s", "3 h 12 min", "2 d 4 h".
function duration(us) {
  const s = Math.max(0, Math.floor(us / 1e6)) || 0;
  const units = [["d", 86400], ["h", 3600], ["min", 60], ["s", 1]];
  const found = units.findIndex(([, size]) => s >= size);
  const i = found < 0 ? units.length - 1 : found;
  const [name, size] = units[i];
  let text = `${Math.floor(s / size)} ${name}`;
  if (i + 1 < units.length) {
    const [name2, size2] = units[i + 1];
    const rest = Math.floor((s % size) / size2);
    if (rest > 0) text += ` ${rest} ${name2}`;
  }
  return text;
}

// Ages are against the master's clock (time_us), not the browser's, which
// may be off.
const ago = (us, nowUs) => (us > 0 ? `${duration(nowUs - us)} ago` : "-");
// Rounds as printf and Python do, half to even on exact ties (12.25 ->
// "12.2"), where toFixed rounds them up: the page agrees with the CLI.
function fixed(x, digits) {
  // 25 more digits are exact, and enough to tell a true tie from a near one.
  const exact = Number(x).toFixed(digits + 25);
  const kept = exact.slice(0, -25);
  if (/50{24}$/.test(exact) && Number(kept.slice(-1)) % 2 === 0) return kept;
  return Number(x).toFixed(digits);
}
// At most two decimals, no trailing zeros: 1.5, 4096, 0.33.
const num = (x) => String(Number(fixed(Number(x), 2)));
const percent = (part, whole = 1) => `${fixed((100 * part) / whole, 1)}%`;
const yesNo = (b) => (b ? "yes" : "no");

// ------------------------------------------------------------------- tables

// A column: its data-key, heading, cell text, sort value (numbers sort as
// numbers), and optionally a class for the cell or a builder of its content.
function col(key, label, options = {}) {
  return {
    key,
    label,
    text: options.text || ((row) => String(row[key] ?? "")),
    sort: options.sort || options.text || ((row) => row[key] ?? ""),
    cls: options.cls,
    fill: options.fill,
  };
}

const ageCol = (key, label, field) =>
  col(key, label, {
    text: (row, s) => ago(row[field], s.time_us),
    sort: (row, s) => s.time_us - row[field],
  });
// A task with a health check shows its last health after the state.
const healthText = (row) =>
  row.healthy === true ? ", healthy" : row.healthy === false ? ", unhealthy" : "";
const stateCol = () =>
  col("state", "State", {
    text: (row) => `${row.state}${healthText(row)}`,
    cls: (row) => `state-${row.state}${row.healthy === false ? " unhealthy" : ""}`,
  });
// Free text from users: may wrap anywhere, so that it, not the short
// columns, gives way on a narrow screen.
const textCol = (key, label) => col(key, label, { cls: () => "text" });
// "cpus:4;mem:4096" may wrap after each ";" (<wbr>s add no text).
// `note`, if given, adds words after the resources (text and cell alike).
const resCol = (key, label, note = () => "") =>
  col(key, label, {
    cls: () => "res",
    text: (row) => String(row[key] ?? "") + note(row),
    fill: (td, row) => {
      String(row[key] ?? "").split(";").forEach((part, i) => {
        if (i > 0) td.append(";", el("wbr"));
        td.append(part);
      });
      td.append(note(row));
    },
  });

// Links to a task's stdout and stderr in this page's log view, which the
// master reads from the task's agent (/api/v1/files/read) and follows; and
// to its sandbox's files (this page's sandbox view).
const logsCol = () =>
  col("logs", "Logs", {
    text: () => "stdout stderr files",
    fill: (td, row) => {
      for (const file of ["stdout", "stderr"]) {
        const a = el("a", file);
        a.href = logHash({ framework_id: row.framework_id, task_id: row.id }, file);
        td.append(a, " ");
      }
      const files = el("a", "files");
      files.href = sandboxHash({ framework_id: row.framework_id, task_id: row.id }, "");
      td.append(files);
    },
  });

// Active and completed tasks differ in one column only.
const taskColumns = (sixth) => [
  col("id", "ID"),
  textCol("name", "Name"),
  stateCol(),
  col("framework_id", "Framework"),
  col("agent_id", "Agent"),
  sixth,
  ageCol("updated", "Updated", "updated_us"),
  logsCol(),
];

// Active and removed frameworks begin alike.
const frameworkColumns = () => [
  col("id", "ID"),
  textCol("name", "Name"),
  col("role", "Role"),
  col("user", "User"),
];

// Each table: its rows in the state, their id (data-id) and the columns.
const TABLES = {
  "agents-table": {
    // Filtered, sorted and paged by the master (agentsQuery).
    server: true,
    rows: (s) => s.agents,
    id: (row) => row.id,
    columns: [
      col("id", "ID"),
      textCol("hostname", "Host"),
      // Maintenance (allot deactivate, drain) follows the connection's status.
      col("status", "Status", {
        cls: (row) => `status-${row.status}`,
        text: (row) => (row.maintenance ? `${row.status}, ${row.maintenance}` : row.status),
      }),
      col("tasks", "Tasks"),
      resCol("total", "Total"),
      // Dynamic reservations (allot reserve); static ones are in the total.
      resCol("reserved", "Reserved", (row) =>
        row.reserved && row.reservation_applied === false ? " (not applied)" : "",
      ),
      resCol("used", "Used"),
      resCol("offered", "Offered"),
      resCol("free", "Free"),
      textCol("attributes", "Attributes"),
      ageCol("last_seen", "Last seen", "last_seen_us"),
    ],
  },
  "frameworks-table": {
    rows: (s) => s.frameworks,
    id: (row) => row.id,
    columns: [
      ...frameworkColumns(),
      col("active", "Active", { text: (row) => yesNo(row.active) }),
      col("suppressed", "Suppressed", { text: (row) => yesNo(row.suppressed) }),
      col("tasks", "Tasks"),
      col("offers", "Offers"),
      col("pending_updates", "Pending updates"),
    ],
  },
  // Torn down (allot teardown, TEARDOWN) or past their failover timeout.
  "removed-frameworks-table": {
    rows: (s) => s.completed_frameworks,
    id: (row) => row.id,
    columns: [
      ...frameworkColumns(),
      ageCol("removed", "Removed", "removed_at_us"),
      col("tasks_killed", "Tasks killed"),
      textCol("reason", "Why"),
    ],
  },
  "roles-table": {
    rows: (s) => s.roles,
    id: (row) => row.name,
    columns: [
      textCol("name", "Name"),
      col("weight", "Weight"),
      resCol("guarantee", "Quota guarantee"),
      resCol("limit", "Quota limit"),
      col("frameworks", "Frameworks"),
      resCol("allocated", "Allocated"),
      col("share", "Dominant share", {
        text: (row) => percent(row.share),
        sort: (row) => row.share,
        fill: (td, row) => {
          // The bar's width is set through the CSSOM: the policy forbids
          // style attributes in markup, not this.
          const bar = el("span", undefined, "bar");
          const inner = el("span");
          inner.style.width = `${Math.min(100, Math.max(0, row.share * 100))}%`;
          bar.append(inner);
          td.append(bar, percent(row.share));
        },
      }),
    ],
  },
  "tasks-table": {
    rows: (s) => s.tasks,
    id: (row) => row.id,
    columns: taskColumns(resCol("resources", "Resources")),
  },
  "completed-table": {
    rows: (s) => s.completed_tasks,
    id: (row) => row.id,
    columns: taskColumns(textCol("message", "Message")),
  },
  "offers-table": {
    rows: (s) => s.offers,
    id: (row) => row.id,
    columns: [
      col("id", "ID"),
      col("framework_id", "Framework"),
      col("agent_id", "Agent"),
      resCol("resources", "Resources"),
      ageCol("sent", "Sent", "sent_us"),
    ],
  },
};

let lastState = null;
let currentTab = null; // set, and the first poll made, by route()
let filterText = "";
const sorts = {}; // table id -> {key, descending}
let agentsOffset = 0; // the first agent of the Agents tab's page

// The Agents tab's page, filter and sort, as the master takes them.
function agentsQuery() {
  const sort = sorts["agents-table"] || { key: "id", descending: false };
  const params = new URLSearchParams({
    agents_limit: String(AGENTS_PAGE),
    agents_offset: String(agentsOffset),
    agents_sort: sort.key,
    agents_order: sort.descending ? "desc" : "asc",
  });
  if (filterText !== "") params.set("agents_filter", filterText);
  return `&${params}`;
}

function turnAgentsPage(delta) {
  agentsOffset = Math.max(0, agentsOffset + delta * AGENTS_PAGE);
  poll();
}

// "1-200 of 40,000 agents", and whether there is a page before and after.
function renderAgentsPager(state) {
  const page = state.agents_page;
  const pager = $("#agents-pager");
  if (!page) return;
  const matched = page.matched;
  if (matched > 0 && page.offset >= matched) {
    // Agents went away under the last page: show the last one there is.
    agentsOffset = Math.floor((matched - 1) / AGENTS_PAGE) * AGENTS_PAGE;
    poll();
    return;
  }
  const last = Math.min(matched, page.offset + state.agents.length);
  const what = page.filter ? `agents matching "${page.filter}"` : "agents";
  $("#agents-range").textContent = matched === 0
    ? `no ${what}`
    : `${page.offset + 1}-${last} of ${matched.toLocaleString("en-US")} ${what}`;
  $("#agents-prev").disabled = page.offset === 0;
  $("#agents-next").disabled = last >= matched;
  pager.hidden = false;
}

// Text sorts as people read it, and as the master sorts the Agents tab
// (naturalCompare in core/src/text.cc): numbers in it by value, so
// "cpus:2;" comes before "cpus:16;" and "node9" before "node10". Equal
// values written differently ("01", "1") fall back to the characters.
const NUMBER = /(\d+)(?:\.(\d+))?/y;
function numberAt(text, at) {
  NUMBER.lastIndex = at;
  return NUMBER.exec(text);
}
function naturalCompare(x, y) {
  let i = 0;
  let j = 0;
  while (i < x.length && j < y.length) {
    const m = numberAt(x, i);
    const n = m && numberAt(y, j);
    if (m && n) {
      const a = m[1].replace(/^0+(?=\d)/, "");
      const b = n[1].replace(/^0+(?=\d)/, "");
      if (a.length !== b.length) return a.length < b.length ? -1 : 1;
      if (a !== b) return a < b ? -1 : 1;
      const f = (m[2] || "").replace(/0+$/, "");
      const g = (n[2] || "").replace(/0+$/, "");
      if (f !== g) return f < g ? -1 : 1;
      i += m[0].length;
      j += n[0].length;
      continue;
    }
    if (x[i] !== y[j]) return x[i] < y[j] ? -1 : 1;
    i += 1;
    j += 1;
  }
  if (i < x.length || j < y.length) return i < x.length ? 1 : -1;
  return x < y ? -1 : x > y ? 1 : 0;
}

function compare(a, b) {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return naturalCompare(String(a), String(b));
}

// The headers are built once: only the bodies are rebuilt on every poll,
// which keeps the scroll position and the filter box's focus.
function buildTable(id) {
  const table = document.getElementById(id);
  const tr = el("tr");
  for (const c of TABLES[id].columns) {
    const th = el("th");
    th.dataset.key = c.key;
    th.scope = "col";
    // A button, for the keyboard; the click bubbles to the th.
    th.append(el("button", c.label));
    th.addEventListener("click", () => sortBy(id, c.key));
    tr.append(th);
  }
  const thead = el("thead");
  thead.append(tr);
  table.replaceChildren(thead, el("tbody"));
}

function sortBy(id, key) {
  const current = sorts[id];
  const descending = current !== undefined && current.key === key && !current.descending;
  sorts[id] = { key, descending };
  for (const th of document.querySelectorAll(`#${id} th`)) {
    if (th.dataset.key === key) th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    else th.removeAttribute("aria-sort");
  }
  if (TABLES[id].server) {
    agentsOffset = 0; // the master sorts: ask it again, from the first page
    poll();
  } else if (lastState) {
    renderTable(id, lastState);
  }
}

function renderTable(id, state) {
  const spec = TABLES[id];
  if (spec.rows(state) === undefined) return; // not asked for: another tab's
  const rows = spec.rows(state).slice();
  const sort = spec.server ? undefined : sorts[id];
  if (sort) {
    const c = spec.columns.find((column) => column.key === sort.key);
    rows.sort((a, b) => compare(c.sort(a, state), c.sort(b, state)));
    // Descending is the exact reverse of ascending, ties included.
    if (sort.descending) rows.reverse();
  }
  const tbody = document.querySelector(`#${id} tbody`);
  if (rows.length === 0) {
    const tr = el("tr", undefined, "empty");
    const td = el("td", "none");
    td.colSpan = spec.columns.length;
    tr.append(td);
    tbody.replaceChildren(tr);
    return;
  }
  tbody.replaceChildren(
    ...rows.map((row) => {
      const tr = el("tr");
      tr.dataset.id = String(spec.id(row));
      for (const c of spec.columns) {
        const td = el("td");
        if (c.fill) c.fill(td, row, state);
        else td.textContent = c.text(row, state);
        if (c.cls) td.className = c.cls(row);
        tr.append(td);
      }
      return tr;
    }),
  );
  filterRows(tbody);
}

// Cells are joined with a tab so that a filter does not match across two.
// The master filters the tables it pages.
function filterRows(tbody) {
  if (TABLES[tbody.parentElement.id].server) return;
  for (const tr of tbody.rows) {
    if (tr.dataset.id === undefined) continue;
    const text = Array.from(tr.cells, (td) => td.textContent).join("\t").toLowerCase();
    tr.hidden = filterText !== "" && !text.includes(filterText);
  }
}

// -------------------------------------------------------------------- chart

const CHART = { width: 600, height: 200, left: 40, right: 10, top: 10, bottom: 24 };

function drawChart(utilization) {
  const svg = $("#utilization-chart");
  const legend = $("#legend");
  const { width, height, left, right, top, bottom } = CHART;
  const plotWidth = width - left - right;
  const plotHeight = height - top - bottom;
  const y = (fraction) => top + plotHeight * (1 - Math.min(1, Math.max(0, fraction)));
  const parts = [];
  for (const p of [0, 0.25, 0.5, 0.75, 1]) {
    parts.push(svgEl("line", { class: "grid", x1: left, x2: width - right, y1: y(p), y2: y(p) }));
    parts.push(svgEl("text", { class: "ylabel", x: left - 5, y: y(p) + 4 }, `${p * 100}%`));
  }
  const samples = utilization.samples || [];
  const items = [];
  if (samples.length === 0) {
    parts.push(svgEl("text", { class: "nodata", x: left + plotWidth / 2, y: y(0.625) + 5 },
      "no samples yet"));
  } else {
    const first = samples[0].t_us;
    const last = samples[samples.length - 1];
    const span = last.t_us - first;
    const x = (t) => left + (span > 0 ? ((t - first) / span) * plotWidth : plotWidth);
    (utilization.dimensions || []).forEach((dim, d) => {
      if (!(last.total[d] > 0)) return; // a dimension the cluster does not have
      const path = (kind, value) => {
        const points = samples.map((s, i) => {
          const fraction = s.total[d] > 0 ? value(s) / s.total[d] : 0;
          return `${i ? "L" : "M"}${x(s.t_us).toFixed(1)},${y(fraction).toFixed(1)}`;
        });
        // A lone point still shows, as a dot (round caps on a zero-length line).
        const tail = samples.length === 1 ? "h0" : "";
        return svgEl("path", {
          class: kind === "used" ? "line" : "line offered",
          d: points.join("") + tail,
          "data-dim": dim,
          "data-kind": kind,
          "data-points": samples.length,
        });
      };
      parts.push(path("offered", (s) => s.used[d] + s.offered[d]), path("used", (s) => s.used[d]));
      const used = last.used[d];
      const total = last.total[d];
      const item = el("span", `${dim} ${percent(used, total)} used (${num(used)} of ${num(total)})`);
      item.dataset.dim = dim;
      items.push(item);
    });
    parts.push(svgEl("text", { class: "xlabel start", x: left, y: height - 6 }, clock(first / 1000)));
    if (span > 0) {
      parts.push(svgEl("text", { class: "xlabel end", x: width - right, y: height - 6 },
        clock(last.t_us / 1000)));
    }
  }
  svg.replaceChildren(...parts);
  legend.replaceChildren(...items);
}

// ------------------------------------------------------------------- render

function setCard(name, value, label) {
  const card = document.querySelector(`.card[data-card="${name}"]`);
  card.querySelector(".value").textContent = value;
  if (label !== undefined) card.querySelector(".label").textContent = label;
}

// The latest sample's share of a dimension used by tasks, or "n/a".
function usedPercent(utilization, dim) {
  const samples = utilization.samples || [];
  const d = (utilization.dimensions || []).indexOf(dim);
  const last = samples[samples.length - 1];
  if (!last || d < 0 || !(last.total[d] > 0)) return "n/a";
  return percent(last.used[d], last.total[d]);
}

function render(state, utilization, tab) {
  lastState = state;
  $("#master-id").textContent = state.master_id;
  $("#policy").textContent = state.policy;
  $("#uptime").textContent = duration(state.time_us - state.start_time_us);
  // Where the registry is, and whether the latest changes are in it (a
  // failing write is retried; until then a restart would miss them).
  const registry = state.registry || {};
  const where = $("#registry");
  where.textContent = registry.where
    ? registry.stored ? registry.where : `${registry.where}: not stored yet`
    : "none (state lost on restart)";
  where.title = registry.error || "";
  where.classList.toggle("registry-failing", registry.stored === false);
  // Whether agents and frameworks must hold a key (allot master --curve-key).
  const curve = state.curve || {};
  const links = $("#links");
  links.textContent = !curve.enabled
    ? "plain TCP"
    : curve.clients_file
      ? `CURVE, ${curve.refused ?? 0} refused`
      : "CURVE, any key";
  // Whether --acls judge what the principals ask.
  const acls = state.acls || {};
  const denied = Object.values(acls.denied || {}).reduce((sum, n) => sum + n, 0);
  if (acls.enabled) links.textContent += `; ACLs, ${denied} denied`;
  links.title = (curve.enabled
    ? `master public key ${curve.public_key}`
    : "anyone who reaches the master's port may run tasks on the agents (allot master --curve-key)")
    + (acls.enabled ? `; ACLs of ${acls.file}` : "");
  links.classList.toggle("links-open", !curve.enabled);

  const counts = state.counts || {};
  const unreachable = counts.agents_unreachable || 0;
  setCard("agents", String(counts.agents_active ?? "-"),
    unreachable > 0 ? `agents (${unreachable} unreachable)` : "agents");
  setCard("frameworks", String(counts.frameworks_active ?? "-"));
  setCard("tasks", String(counts.tasks ?? "-"));
  setCard("offers", String(counts.offers ?? "-"));
  setCard("cpus", usedPercent(utilization, "cpus"));
  setCard("mem", usedPercent(utilization, "mem"));

  for (const id of Object.keys(TABLES)) renderTable(id, state);
  renderAgentsPager(state);
  // The tabs are named as the state's lists.
  for (const a of document.querySelectorAll("nav a[data-tab]")) {
    const count = a.querySelector(".count");
    if (count) count.textContent = `(${counts[a.dataset.tab] ?? "-"})`;
  }
  drawChart(utilization);

  $("#updated").textContent = `updated ${clock(Date.now())}`;
  showStatus(null);
  document.body.dataset.loaded = "1";
  document.body.dataset.tab = tab; // whose lists the tables now show
  document.body.dataset.renders = String(Number(document.body.dataset.renders || 0) + 1);
}

function showStatus(error) {
  const status = $("#status");
  status.dataset.state = error ? "error" : "ok";
  status.textContent = error ? `Cannot reach the master: ${error}` : "";
  status.hidden = !error;
}

// ------------------------------------------------------------------ polling

async function getJson(path) {
  const shown = new URL(path, document.baseURI).pathname; // for the banner
  let response;
  try {
    response = await fetch(path, { cache: "no-store", signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (e) {
    const why = e.name === "TimeoutError" ? `no answer in ${TIMEOUT_MS / 1000} s` : e.message;
    throw new Error(`${shown}: ${why}`);
  }
  if (!response.ok) throw new Error(`${shown} answered ${response.status} ${response.statusText}`.trim());
  try {
    return await response.json();
  } catch (e) {
    throw new Error(`${shown}: ${e.message}`);
  }
}

// One poll at a time: the next is scheduled when this one is over, so a
// slow master is never asked twice at once. A new tab polls at once (after
// the poll in flight, if any).
let polling = false;
let pollAgain = false;
let pollTimer = null;

async function poll() {
  clearTimeout(pollTimer);
  if (polling) {
    pollAgain = true;
    return;
  }
  polling = true;
  const tab = currentTab;
  let answers = null;
  try {
    answers = await Promise.all([
      getJson(`api/v1/state?only=${LISTS[tab]}${tab === "agents" ? agentsQuery() : ""}`),
      getJson("api/v1/utilization"),
    ]);
  } catch (e) {
    showStatus(e.message); // the last data stays on the page
  } finally {
    polling = false;
    pollTimer = setTimeout(poll, pollAgain ? 0 : REFRESH_MS);
    pollAgain = false;
  }
  // Outside the try: a bug in rendering is a page error, not an outage.
  if (answers) render(answers[0], answers[1], tab);
}

// ------------------------------------------------------------- tabs, filter

// A task's view (sandbox, log) from #/VIEW?framework_id=F&task_id=T&...:
// the query's parameters, or null for another address or without the ids.
function taskViewQuery(view) {
  const m = location.hash.match(new RegExp(`^#/?${view}\\?(.*)$`));
  const q = m ? new URLSearchParams(m[1]) : null;
  return q && q.get("framework_id") && q.get("task_id") ? q : null;
}

function taskViewHash(view, where, extra) {
  const query = new URLSearchParams({ framework_id: where.framework_id, task_id: where.task_id,
    ...extra });
  return `#/${view}?${query}`;
}

// GET `url` (a files request through the master): {body: what `read`
// makes of the answer}, or {error} saying why not (the master's JSON error,
// else the HTTP status).
async function fetchFiles(url, read) {
  try {
    const response = await fetch(url, { cache: "no-store", signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      return { error: body?.error || `${response.status} ${response.statusText}`.trim() };
    }
    return { body: await read(response) };
  } catch (e) {
    return { error: e.name === "TimeoutError" ? `no answer in ${TIMEOUT_MS / 1000} s` : e.message };
  }
}

// The sandbox view's place, from #/sandbox?framework_id=F&task_id=T&path=P,
// or null for any other address.
function sandboxRoute() {
  const q = taskViewQuery("sandbox");
  return q && { framework_id: q.get("framework_id"), task_id: q.get("task_id"),
    path: q.get("path") || "" };
}

function sandboxHash(where, path) {
  return taskViewHash("sandbox", where, { path });
}

// The newest listing asked for; an older answer arriving later is dropped.
let sandboxAsked = 0;

async function loadSandbox(where) {
  const asked = ++sandboxAsked;
  const { body, error } = await fetchFiles(`api/v1/files/browse?${new URLSearchParams(where)}`,
    (response) => response.json());
  if (asked === sandboxAsked) renderSandbox(where, body ?? null, error ?? null);
}

// Names are the task's: text only, as every other value from the API.
function renderSandbox(where, listing, error) {
  $("#sandbox-title").textContent = `Sandbox of task ${where.task_id}` +
    (listing ? ` on agent ${listing.agent_id}` : "");
  const crumbs = $("#sandbox-path");
  crumbs.replaceChildren();
  const root = el("a", "sandbox");
  root.href = sandboxHash(where, "");
  crumbs.append(root);
  const parts = where.path ? where.path.split("/") : [];
  parts.forEach((part, i) => {
    const a = el("a", part);
    a.href = sandboxHash(where, parts.slice(0, i + 1).join("/"));
    crumbs.append(" / ", a);
  });
  const problem = $("#sandbox-error");
  problem.hidden = !error;
  problem.textContent = error ? `Cannot list it: ${error}` : "";
  const tbody = $("#sandbox-table tbody");
  tbody.replaceChildren();
  for (const entry of listing ? listing.entries : []) {
    const tr = document.createElement("tr");
    tr.dataset.id = entry.name;
    const name = el("td");
    if (entry.type === "directory") {
      const a = el("a", `${entry.name}/`);
      a.href = sandboxHash(where, entry.path);
      name.append(a);
    } else if (entry.type === "file") {
      const a = el("a", entry.name);
      a.href = logHash(where, entry.path);
      a.title = "its end, followed as it grows";
      name.append(a);
    } else {
      name.textContent = entry.type === "symlink"
        ? `${entry.name} (symbolic link, not followed)`
        : `${entry.name} (${entry.type})`;
    }
    tr.append(el("td", entry.mode), el("td", String(entry.size), "num"),
      el("td", new Date(entry.mtime_us / 1000).toLocaleString()), name);
    tbody.append(tr);
  }
  const note = $("#sandbox-note");
  note.hidden = !listing?.truncated;
  note.textContent = listing?.truncated
    ? `The directory holds more entries than these ${listing.entries.length}.`
    : "";
  document.body.dataset.sandbox = String(Number(document.body.dataset.sandbox || 0) + 1);
}

// ------------------------------------------------------------------ log view

// The log view's file, from #/log?framework_id=F&task_id=T&file=PATH, or
// null for any other address.
function logRoute() {
  const q = taskViewQuery("log");
  return q && q.get("file")
    ? { framework_id: q.get("framework_id"), task_id: q.get("task_id"), file: q.get("file") }
    : null;
}

function logHash(where, file) {
  return taskViewHash("log", where, { file });
}

// The file shown: where, the byte after what was read (`end`), the UTF-8
// decoder of what was read, and the poll's timer; null when the view is not
// shown.
let logView = null;

// One read of the file through the master, as bytes (the raw form: JSON's
// text would have a character cut by the read's end already replaced);
// {body: {offset, size, bytes}} or {error}.
function readLog(where, offset, length) {
  const query = new URLSearchParams({ ...where, offset: String(offset), length: String(length),
    format: "raw" });
  return fetchFiles(`api/v1/files/read?${query}`, async (response) => ({
    offset: Number(response.headers.get("X-Allot-Offset")),
    size: Number(response.headers.get("X-Allot-Size")),
    bytes: new Uint8Array(await response.arrayBuffer()),
  }));
}

function openLog(where) {
  const key = JSON.stringify(where);
  if (logView?.key === key) return;
  closeLog();
  const view = { key, where, end: null, decoder: null, busy: false, timer: 0 };
  logView = view;
  $("#log-title").textContent = `${where.file} of task ${where.task_id}`;
  $("#log-sandbox").href = sandboxHash(where, where.file.split("/").slice(0, -1).join("/"));
  $("#log-raw").href = `api/v1/files/read?${new URLSearchParams({ ...where, format: "raw" })}`;
  $("#log-text").textContent = "";
  view.timer = setInterval(() => {
    if ($("#log-follow").checked) followLog(view);
  }, REFRESH_MS);
  followLog(view);
}

function closeLog() {
  if (logView) clearInterval(logView.timer);
  logView = null;
}

// Reads what the file gained since the last read: at first (or after the
// file shrank, as a log rotated by truncation) its last LOG_TAIL bytes.
async function followLog(view) {
  if (view.busy) return;
  view.busy = true;
  try {
    const fromTail = view.end === null;
    const { body, error } = fromTail ? await readLog(view.where, -1, LOG_TAIL)
      : await readLog(view.where, view.end, LOG_KEEP);
    if (logView !== view) return;  // the view moved on meanwhile
    if (body && !fromTail && body.size < view.end) {
      view.end = null;  // shrank: start again from its end
      view.busy = false;
      return followLog(view);
    }
    renderLog(view, body, error, fromTail);
  } finally {
    view.busy = false;
  }
}

// Bytes into text, as one stream from the tail read on: a UTF-8 character
// cut by a read's end waits in the decoder for the rest of its bytes, and a
// tail read that starts inside a character skips that character's remaining
// bytes (at most 3 continuation bytes, 10xxxxxx) instead of showing them as
// U+FFFD. Other invalid bytes show as U+FFFD.
function decodeLog(view, body, fromTail) {
  let bytes = body.bytes;
  if (fromTail) {
    view.decoder = new TextDecoder("utf-8");
    let skip = 0;
    while (body.offset > 0 && skip < 3 && skip < bytes.length && (bytes[skip] & 0xc0) === 0x80) {
      skip += 1;
    }
    bytes = bytes.subarray(skip);
  }
  return view.decoder.decode(bytes, { stream: true });
}

// The file's text goes in as text: a task's output is never markup here.
function renderLog(view, body, error, fromTail) {
  const problem = $("#log-error");
  problem.hidden = !error;
  problem.textContent = error ? `Cannot read it: ${error}` : "";
  const pre = $("#log-text");
  if (body) {
    const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    const text = decodeLog(view, body, fromTail);
    if (fromTail) pre.textContent = text;
    else if (text) pre.append(text);
    if (pre.textContent.length > 2 * LOG_KEEP) pre.textContent = pre.textContent.slice(-LOG_KEEP);
    if (atBottom || fromTail) pre.scrollTop = pre.scrollHeight;
    view.end = body.offset + body.bytes.length;
    $("#log-status").textContent = view.end < body.size
      ? `${body.size} bytes; catching up`
      : `${body.size} bytes`;
  }
  document.body.dataset.log = String(Number(document.body.dataset.log || 0) + 1);
}

function route() {
  const where = sandboxRoute();
  const file = logRoute();
  const name = location.hash.replace(/^#\/?/, "");
  const tab = where ? "sandbox" : file ? "log" : TABS.includes(name) ? name : "overview";
  for (const a of document.querySelectorAll("nav a[data-tab]")) {
    const on = a.dataset.tab === tab;
    a.classList.toggle("active", on);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const t of SECTIONS) document.getElementById(`tab-${t}`).hidden = t !== tab;
  if (where) loadSandbox(where);
  if (file) openLog(file);
  else closeLog();
  if (tab !== currentTab) {
    currentTab = tab;
    poll();
  }
}

function start() {
  for (const id of Object.keys(TABLES)) buildTable(id);
  window.addEventListener("hashchange", route);
  route();
  $("#filter").addEventListener("input", (event) => {
    filterText = event.target.value.trim().toLowerCase();
    for (const id of Object.keys(TABLES)) filterRows(document.querySelector(`#${id} tbody`));
    agentsOffset = 0;
    if (currentTab === "agents") poll();
  });
  $("#agents-prev").addEventListener("click", () => turnAgentsPage(-1));
  $("#agents-next").addEventListener("click", () => turnAgentsPage(+1));
}

start();
