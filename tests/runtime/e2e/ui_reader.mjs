// Reads the master's web UI in Chromium for test_web_ui.py.
//
//   node tests/runtime/e2e/ui_reader.mjs URL OUTDIR
//
// A line protocol: one command per line on stdin, one JSON object per line
// on stdout (nothing else goes to stdout; diagnostics go to stderr).
// Commands: observe, wait-error, wait-ok, filter TEXT, sort TABLEID KEY,
// page prev|next (the Agents tab's pager), open-link TABLEID ROWID TEXT,
// sandbox TABLEID ROWID, sandbox-open NAME, log TABLEID ROWID FILE,
// log-wait TEXT, log-raw, screenshot NAME, quit. Every answer carries an
// observation of the page (see observe()) besides its own fields, but for
// the sandbox and log commands', which answer with the sandbox or log view
// (observing shows every tab in turn, which would leave the view).

import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const INSTALL = "./x test installs both: Debian's chromium and `npm ci` in the repository root";
const TABS = ["overview", "agents", "frameworks", "roles", "tasks", "offers"];

function die(message) {
  process.stderr.write(`ui_reader.mjs: ${message}\n`);
  process.exit(2);
}

function send(object) {
  process.stdout.write(`${JSON.stringify(object)}\n`);
}

// playwright-core lives in the repository root's node_modules, two folders
// up from this script; ESM imports ignore NODE_PATH, so resolve it by hand.
async function loadPlaywright() {
  const root = new URL("../../../", import.meta.url);
  const candidates = [];
  for (const base of [root, pathToFileURL(`${process.cwd()}/`)]) {
    try {
      candidates.push(createRequire(new URL("package.json", base)).resolve("playwright-core"));
    } catch {
      // not installed there
    }
  }
  for (const file of candidates) {
    const module = await import(pathToFileURL(file).href);
    const chromium = module.chromium || module.default?.chromium;
    if (chromium) return chromium;
  }
  die(`cannot find playwright-core in ${root.pathname}node_modules; ${INSTALL}`);
}

const [url, outDir] = process.argv.slice(2);
if (!url || !outDir) die("usage: node ui_reader.mjs URL OUTDIR");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
if (!fs.existsSync(executablePath)) die(`no Chromium at ${executablePath} (set CHROMIUM); ${INSTALL}`);
fs.mkdirSync(outDir, { recursive: true });

const chromium = await loadPlaywright();
let browser;
try {
  browser = await chromium.launch({
    executablePath,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
} catch (e) {
  die(`cannot start Chromium at ${executablePath}: ${e.message}`);
}
const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();

// Kept for the whole run: a test checks that none came, or which.
const consoleErrors = [];
const pageErrors = [];
const failedRequests = [];
page.on("console", (m) => {
  // The text of a failed load does not name the URL; its location does.
  if (m.type() === "error") consoleErrors.push(m.location()?.url ? `${m.text()} (${m.location().url})` : m.text());
});
page.on("pageerror", (e) => pageErrors.push(String(e && e.stack ? e.stack : e)));
page.on("requestfailed", (r) =>
  failedRequests.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText ?? "failed"}`));
page.on("response", (r) => { if (r.status() >= 400) failedRequests.push(`${r.status()} ${r.url()}`); });
// The query of every state request (the page asks for the lists it shows).
const stateQueries = new Set();
page.on("request", (r) => {
  const u = new URL(r.url());
  if (u.pathname.endsWith("/api/v1/state")) stateQueries.add(decodeURIComponent(u.search));
});

const renders = () => page.evaluate(() => Number(document.body?.dataset.renders || 0));

async function activeTab() {
  return page.evaluate(() => document.querySelector("nav a.active")?.dataset.tab ?? null);
}

// Shows the tab and waits for a render of its lists (the page asks the
// master for the lists of the tab it shows), unless the master cannot be
// reached: then the tab keeps what it showed last.
async function showTab(name) {
  await page.click(`nav a[data-tab="${name}"]`);
  await page.waitForSelector(`#tab-${name}:not([hidden])`, { timeout: 5000 });
  await page.waitForFunction(
    (t) => document.body.dataset.tab === t || document.querySelector("#status")?.dataset.state === "error",
    name, { timeout: 15000, polling: 50 });
}

// Everything but the tables, in one go.
function readPage() {
  const text = (selector) => document.querySelector(selector)?.textContent.trim() ?? null;
  const squash = (s) => s.replace(/\s+/g, " ").trim();
  const cards = {};
  for (const card of document.querySelectorAll(".card[data-card]")) {
    cards[card.dataset.card] = {
      value: card.querySelector(".value")?.textContent.trim() ?? null,
      label: card.querySelector(".label")?.textContent.trim() ?? null,
    };
  }
  const tabs = {};
  for (const a of document.querySelectorAll("nav a[data-tab]")) tabs[a.dataset.tab] = squash(a.textContent);
  const legend = {};
  for (const span of document.querySelectorAll("#legend span[data-dim]")) {
    legend[span.dataset.dim] = span.textContent.trim();
  }
  const paths = Array.from(document.querySelectorAll("#utilization-chart path[data-dim]"), (p) => ({
    dim: p.dataset.dim,
    kind: p.dataset.kind ?? null,
    points: Number(p.dataset.points),
  }));
  const status = document.querySelector("#status");
  return {
    title: document.title,
    master_id: text("#master-id"),
    policy: text("#policy"),
    uptime: text("#uptime"),
    registry: text("#registry"),
    links: text("#links"),
    links_open: document.querySelector("#links")?.classList.contains("links-open") ?? null,
    agents_range: document.querySelector("#agents-range")?.textContent.trim() ?? null,
    updated: text("#updated"),
    status_state: status?.dataset.state ?? null,
    status_text: status?.textContent.trim() ?? null,
    renders: Number(document.body?.dataset.renders || 0),
    cards,
    tabs,
    legend,
    paths,
    xss: window.__allot_xss === undefined ? null : window.__allot_xss,
  };
}

// The Agents tab's pager: its text, and which buttons work.
function readPager() {
  return {
    range: document.querySelector("#agents-range")?.textContent.trim() ?? null,
    pager_hidden: document.querySelector("#agents-pager")?.hidden ?? null,
    prev_disabled: document.querySelector("#agents-prev")?.disabled ?? null,
    next_disabled: document.querySelector("#agents-next")?.disabled ?? null,
    ids: Array.from(document.querySelectorAll("#agents-table tbody tr[data-id]"), (tr) => tr.dataset.id),
  };
}

function readTables(ids) {
  const tables = {};
  for (const id of ids) {
    tables[id] = Array.from(document.querySelectorAll(`#${id} tbody tr[data-id]`), (tr) => [
      tr.dataset.id,
      Array.from(tr.cells, (td) => td.textContent.trim()),
    ]);
  }
  return tables;
}

// The tables are read tab by tab, each shown in turn as a user would, and
// the tab that was showing is shown again.
async function observe() {
  const tables = {};
  const before = await activeTab();
  for (const tab of TABS) {
    if (!(await page.$(`nav a[data-tab="${tab}"]`))) continue;
    await showTab(tab);
    const ids = await page.evaluate(
      (t) => Array.from(document.querySelectorAll(`#tab-${t} table[id]`), (table) => table.id), tab);
    Object.assign(tables, await page.evaluate(readTables, ids));
  }
  if (before) await showTab(before);
  return {
    ...(await page.evaluate(readPage)),
    tables,
    console_errors: consoleErrors,
    page_errors: pageErrors,
    failed_requests: failedRequests,
    state_queries: [...stateQueries].sort(),
  };
}

async function waitFor(predicate, arg, timeout) {
  try {
    await page.waitForFunction(predicate, arg, { timeout, polling: 50 });
    return true;
  } catch (e) {
    if (e.name === "TimeoutError") return false;
    throw e;
  }
}

const rendersAbove = (n) => Number(document.body.dataset.renders || 0) > n;

// The log view as a user sees it.
function readLogView() {
  const text = (selector) => document.querySelector(selector)?.textContent.trim() ?? null;
  const error = document.querySelector("#log-error");
  return {
    shown: !document.querySelector("#tab-log").hidden,
    title: text("#log-title"),
    status: text("#log-status"),
    error: error.hidden ? null : error.textContent.trim(),
    text: document.querySelector("#log-text").textContent,
    raw_href: document.querySelector("#log-raw").href,
    xss: window.__allot_xss ?? null,
  };
}


// The sandbox view as a user sees it.
function readSandbox() {
  const text = (selector) => document.querySelector(selector)?.textContent.trim() ?? null;
  const error = document.querySelector("#sandbox-error");
  return {
    shown: !document.querySelector("#tab-sandbox").hidden,
    title: text("#sandbox-title"),
    crumbs: text("#sandbox-path"),
    error: error.hidden ? null : error.textContent.trim(),
    rows: Array.from(document.querySelectorAll("#sandbox-table tbody tr"),
      (tr) => Array.from(tr.cells, (td) => td.textContent.trim())),
    xss: window.__allot_xss ?? null,
  };
}

// Clicks a link to one of the page's views: a task row's link reading
// `t.text` (t.table, t.row), or the sandbox view's entry `t.entry`; answers
// with the view (`read`) once it has rendered (body's data-`counter` grew).
async function clickToView(target, counter, read) {
  const n = await page.evaluate((c) => Number(document.body.dataset[c] || 0), counter);
  const clicked = await page.evaluate((t) => {
    let link = null;
    if (t.entry !== undefined) {
      const row = Array.from(document.querySelectorAll("#sandbox-table tbody tr"))
        .find((tr) => tr.dataset.id === t.entry);
      link = row?.querySelector("a") ?? null;
    } else {
      const row = document.querySelector(`#${t.table} tbody tr[data-id="${CSS.escape(t.row)}"]`);
      link = row && Array.from(row.querySelectorAll("a")).find((e) => e.textContent === t.text);
    }
    if (!link) return false;
    link.click();
    return true;
  }, target);
  if (!clicked) throw new Error(`no such link: ${JSON.stringify(target)}`);
  const rendered = await waitFor(([c, m]) => Number(document.body.dataset[c] || 0) > m,
    [counter, n], 10000);
  return {
    ...(rendered ? {} : { stale: true }),
    ...(await page.evaluate(read)),
    console_errors: consoleErrors,
    page_errors: pageErrors,
  };
}

// A link opened in a page of its own, as a user's click on it would
// (target _blank): what that page shows.
async function openInPage(link) {
  const other = await page.context().newPage();
  try {
    const response = await other.goto(link.href);
    return {
      ...link,
      status: response.status(),
      content_type: response.headers()["content-type"],
      text: await other.evaluate(() => document.body.innerText),
      xss: await other.evaluate(() => window.__allot_xss ?? null),
    };
  } finally {
    await other.close();
  }
}

async function handle(line) {
  const space = line.indexOf(" ");
  const command = space < 0 ? line : line.slice(0, space);
  const rest = space < 0 ? "" : line.slice(space + 1);
  switch (command) {
    case "observe": {
      const fresh = await waitFor(rendersAbove, await renders(), 10000);
      return { phase: "observe", ...(fresh ? {} : { stale: true }), ...(await observe()) };
    }
    case "wait-error": {
      const ok = await waitFor(() => document.querySelector("#status")?.dataset.state === "error",
        null, 30000);
      const obs = await observe();
      return { phase: "error", ok, ...obs };
    }
    case "wait-ok": {
      const ok = await waitFor(
        (n) => document.querySelector("#status")?.dataset.state === "ok" &&
          Number(document.body.dataset.renders || 0) > n,
        await renders(), 30000);
      return { phase: "ok", ok, ...(await observe()) };
    }
    case "filter": {
      // The master filters the Agents tab (it asks again when the filter
      // changes on that tab, or when the tab is shown): each tab is shown
      // in turn and read once it has rendered with the filter.
      const before = await activeTab();
      const n = await renders();
      await page.fill("#filter", rest);
      if (before === "agents") await waitFor(rendersAbove, n, 10000);
      const visible = {};
      for (const tab of TABS) {
        if (tab !== before || tab === "agents") await showTab(tab);
        Object.assign(visible, await page.evaluate((t) => {
          const out = {};
          for (const table of document.querySelectorAll(`#tab-${t} table[id]`)) {
            out[table.id] = Array.from(table.querySelectorAll("tbody tr[data-id]"))
              .filter((tr) => !tr.hidden)
              .map((tr) => tr.dataset.id);
          }
          return out;
        }, tab));
      }
      if (before) await showTab(before);
      return { phase: "filter", visible, ...(await observe()) };
    }
    case "page": {
      if (rest !== "prev" && rest !== "next") throw new Error("usage: page prev|next");
      await showTab("agents");
      const n = await renders();
      await page.click(`#agents-${rest}`);
      await waitFor(rendersAbove, n, 10000);
      return { phase: "page", ...(await page.evaluate(readPager)), ...(await observe()) };
    }
    case "sort": {
      const [table, key] = rest.split(" ");
      if (!table || !key) throw new Error("usage: sort TABLEID KEY");
      // The header can only be clicked on its own tab, which then stays
      // shown (a screenshot after shows the sorted table).
      const tab = await page.evaluate((id) => document.getElementById(id)?.closest("section")?.id, table);
      if (!tab) throw new Error(`no table #${table}`);
      await showTab(tab.replace(/^tab-/, ""));
      // A table the master sorts (the Agents tab's) shows the order after
      // its next answer.
      const n = await renders();
      await page.click(`#${table} th[data-key="${key}"]`);
      const paged = await page.evaluate((id) =>
        document.getElementById(id).closest("section").querySelector(".pager") !== null, table);
      if (paged) await waitFor(rendersAbove, n, 10000);
      const result = await page.evaluate(
        ([id, k]) => ({
          aria: document.querySelector(`#${id} th[data-key="${k}"]`).getAttribute("aria-sort"),
          ids: Array.from(document.querySelectorAll(`#${id} tbody tr[data-id]`), (tr) => tr.dataset.id),
        }),
        [table, key]);
      return { phase: "sort", ...result, ...(await observe()) };
    }
    case "open-link": {
      // open-link TABLEID ROWID TEXT: the row's link reading TEXT, opened in
      // a page of its own as a user's click on it would (target _blank).
      const [table, rowId, text] = rest.split(" ");
      if (!table || !rowId || !text) throw new Error("usage: open-link TABLEID ROWID TEXT");
      const link = await page.evaluate(([t, r, x]) => {
        const row = document.querySelector(`#${t} tbody tr[data-id="${CSS.escape(r)}"]`);
        const a = row && Array.from(row.querySelectorAll("a")).find((e) => e.textContent === x);
        return a ? { href: a.href, target: a.target, rel: a.rel } : null;
      }, [table, rowId, text]);
      if (!link) throw new Error(`no link "${text}" in row ${rowId} of #${table}`);
      return { phase: "open-link", ...(await openInPage(link)) };
    }
    case "sandbox": {
      // sandbox TABLEID ROWID: the row's "files" link clicked.
      const [table, rowId] = rest.split(" ");
      if (!table || !rowId) throw new Error("usage: sandbox TABLEID ROWID");
      return { phase: "sandbox",
        ...(await clickToView({ table, row: rowId, text: "files" }, "sandbox", readSandbox)) };
    }
    case "sandbox-open": {
      // sandbox-open NAME (the rest of the line, spaces too): the sandbox
      // view's entry NAME; a directory is listed in the view, a file opened
      // in a page of its own.
      const link = await page.evaluate((name) => {
        const row = Array.from(document.querySelectorAll("#sandbox-table tbody tr"))
          .find((tr) => tr.dataset.id === name);
        const a = row?.querySelector("a");
        return a ? { href: a.href, target: a.target, rel: a.rel } : null;
      }, rest);
      if (!link) throw new Error(`no link for entry ${JSON.stringify(rest)} in the sandbox view`);
      if (link.target === "_blank") return { phase: "sandbox-open", ...(await openInPage(link)) };
      if (new URL(link.href).hash.startsWith("#/log?")) {
        return { phase: "sandbox-open", ...(await clickToView({ entry: rest }, "log", readLogView)) };
      }
      return { phase: "sandbox-open",
        ...(await clickToView({ entry: rest }, "sandbox", readSandbox)) };
    }
    case "log": {
      // log TABLEID ROWID FILE: the row's FILE link (stdout, stderr) clicked.
      const [table, rowId, file] = rest.split(" ");
      if (!table || !rowId || !file) throw new Error("usage: log TABLEID ROWID FILE");
      return { phase: "log",
        ...(await clickToView({ table, row: rowId, text: file }, "log", readLogView)) };
    }
    case "log-wait": {
      // log-wait TEXT: waits up to 30 s for the shown file to hold TEXT.
      const found = await waitFor(
        (t) => document.querySelector("#log-text").textContent.includes(t), rest, 30000);
      return { phase: "log-wait", found, ...(await page.evaluate(readLogView)),
        console_errors: consoleErrors, page_errors: pageErrors };
    }
    case "log-raw": {
      // The log view's "raw" link, opened in a page of its own.
      const link = await page.evaluate(() => {
        const a = document.querySelector("#log-raw");
        return { href: a.href, target: a.target, rel: a.rel };
      });
      return { phase: "log-raw", ...(await openInPage(link)) };
    }
    case "screenshot": {
      const name = rest.trim() || "page";
      const file = path.resolve(outDir, `${path.basename(name)}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return { phase: "screenshot", path: file };
    }
    case "quit":
      return null;
    default:
      throw new Error(`unknown command ${JSON.stringify(command)}`);
  }
}

async function quit(code) {
  await browser.close().catch(() => {});
  process.exit(code);
}

// Start: load the page and wait for its first render.
try {
  await page.goto(url, { waitUntil: "load", timeout: 20000 });
  const loaded = await waitFor(() => document.body?.dataset.loaded === "1", null, 20000);
  if (!loaded) process.stderr.write("ui_reader.mjs: the page did not render within 20 s\n");
  send({ phase: "loaded", ok: loaded, ...(await observe()) });
} catch (e) {
  process.stderr.write(`ui_reader.mjs: loading ${url}: ${e.stack || e}\n`);
  send({ phase: "exception", message: `loading ${url}: ${e.message}` });
}

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const raw of input) {
  const line = raw.replace(/\r$/, "");
  if (line.trim() === "") continue;
  try {
    const answer = await handle(line);
    if (answer === null) break;
    send(answer);
  } catch (e) {
    process.stderr.write(`ui_reader.mjs: ${line}: ${e.stack || e}\n`);
    send({ phase: "exception", message: `${line}: ${e.message}` });
  }
}
send({ phase: "quit" });
await quit(0);
