// The command-line server in a real headless Chromium: what a person sees on the demo page,
// the status page and /metrics. Started by tests/browser/run.sh, which gives us the servers
// through the environment (OMNIWS_URL, OMNIWS_PID, OMNIWS_TLS_URL, OMNIWS_TLS_SPKI,
// OMNIWS_CLIENT, CHROMIUM, ARTIFACTS). Every wait has a deadline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, writeSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run tests/browser/run.sh`);
  return v;
};
const BASE = env('OMNIWS_URL');
const SERVER_PID = Number(env('OMNIWS_PID'));
const TLS_BASE = env('OMNIWS_TLS_URL');
const TLS_SPKI = env('OMNIWS_TLS_SPKI');
const CLIENT = env('OMNIWS_CLIENT');
const ARTIFACTS = env('ARTIFACTS');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const MiB = 1024 * 1024;
const FILE_SIZE = 64 * MiB;
// How far the server's RSS may rise above its idle RSS while a file goes through a session:
// the session never holds a message whole, only its per-receiver buffer (1 MiB by default).
const RSS_SLACK = 16 * MiB;

let context;
let profile;
const scratch = mkdtempSync(join(tmpdir(), 'omniws-browser-'));

before(async () => {
  profile = mkdtempSync(join(tmpdir(), 'omniws-chromium-profile-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    viewport: { width: 1100, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // The https:// scenario's leaf certificate (made by run.sh): accepted by its public
      // key, for the page and for wss:// alike (needs a user-data-dir, which we have).
      `--ignore-certificate-errors-spki-list=${TLS_SPKI}`,
    ],
  });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(15_000);
});

after(async () => {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
  rmSync(scratch, { recursive: true, force: true });
});

/** A session name no other scenario uses. */
const sessionName = (what) => `${what}-${randomBytes(4).toString('hex')}`;

/** A new tab whose console errors and page errors are kept (printed if a scenario fails). */
async function tab(label) {
  const page = await context.newPage();
  page.omniwsLog = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') page.omniwsLog.push(`${label} console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => page.omniwsLog.push(`${label} page error: ${e.message}`));
  return page;
}

/** Run `body` with `pages` open; close them after, printing what they logged if it failed. */
async function withTabs(labels, body) {
  const pages = [];
  try {
    for (const l of labels) pages.push(await tab(l));
    return await body(...pages);
  } catch (e) {
    for (const p of pages) for (const line of p.omniwsLog) console.log(`  ${line}`);
    throw e;
  } finally {
    for (const p of pages) await p.close().catch(() => {});
  }
}

/** Keep every WebSocket handshake response this tab sees (CDP Network domain). */
async function recordHandshakes(page) {
  const seen = [];
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const requests = new Map();
  cdp.on('Network.webSocketCreated', (e) => requests.set(e.requestId, e.url));
  cdp.on('Network.webSocketHandshakeResponseReceived', (e) => {
    const headers = {};
    for (const [k, v] of Object.entries(e.response.headers)) headers[k.toLowerCase()] = v;
    seen.push({ url: requests.get(e.requestId), status: e.response.status, headers });
  });
  return seen;
}

/** Open the demo page at `base`, join `name` and wait until the page says so. */
async function joinSession(page, name, base = BASE) {
  await page.goto(`${base}/`);
  await page.locator('#session-name').fill(name);
  await page.locator('#join').click();
  await waitText(page, '#join-state', /^\s*joined\s*$/i);
}

async function waitText(page, selector, pattern, timeout = 10_000) {
  const loc = page.locator(selector);
  try {
    await loc.filter({ hasText: pattern }).first().waitFor({ timeout });
  } catch (e) {
    const now = await loc.allInnerTexts().catch(() => ['(not found)']);
    throw new Error(`${selector} never showed ${pattern} within ${timeout} ms; it shows ${JSON.stringify(now)}`);
  }
}

async function chat(from, to, text) {
  await from.locator('#chat-input').fill(text);
  await from.locator('#chat-send').click();
  await waitText(to, '#chat-log .msg', text);
}

/** The `data-dialect`s of the tab's member list, sorted. */
async function memberDialects(page) {
  return (await page.locator('#members li').evaluateAll((lis) => lis.map((li) => li.dataset.dialect))).sort();
}

async function waitMembers(page, expected, timeout = 10_000) {
  const want = [...expected].sort();
  const deadline = Date.now() + timeout;
  let got;
  while (Date.now() < deadline) {
    got = await memberDialects(page);
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    await page.waitForTimeout(100);
  }
  throw new Error(`#members shows dialects ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
}

/** /status.json?session=NAME as the demo page reads it, fetched in `page`. */
async function sessionStatus(page, name, base = BASE) {
  return page.evaluate(async (url) => (await fetch(url, { cache: 'no-store' })).json(),
    `${base}/status.json?session=${encodeURIComponent(name)}`);
}

function serverRss() {
  const status = readFileSync(`/proc/${SERVER_PID}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)[1]);
  return kb * 1024;
}

const mib = (b) => `${(b / MiB).toFixed(1)} MiB`;

// ---------------------------------------------------------------------------------------
// 1. The status page and /metrics.

test('1. /status renders in Chromium with the connection counts, and /metrics parses', async () => {
  await withTabs(['echo tab', 'status tab'], async (echoTab, statusTab) => {
    // One open WebSocket for the page to count: a tab's own `new WebSocket` to /echo.
    await echoTab.goto(`${BASE}/status.json`);
    const echoed = await echoTab.evaluate((url) => new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      window.keep = ws;
      ws.onopen = () => ws.send('ping from the echo tab');
      ws.onmessage = (e) => resolve(e.data);
      ws.onerror = () => reject(new Error('websocket error'));
      setTimeout(() => reject(new Error('no echo in 5 s')), 5000);
    }), `${BASE.replace(/^http/, 'ws')}/echo`);
    assert.equal(echoed, 'ping from the echo tab');

    await statusTab.goto(`${BASE}/status`);
    assert.match(await statusTab.title(), /omniws status/);
    await waitText(statusTab, 'h1', /omniws .* status/);
    const summary = await statusTab.locator('p').first().innerText();
    const open = /(\d+) connections? open/.exec(summary);
    assert.ok(open, `no connection count in ${JSON.stringify(summary)}`);
    assert.ok(Number(open[1]) >= 1, summary);
    // The endpoint table has a row for our /echo socket, by dialect, with one open.
    const rows = await statusTab.locator('#endpoints tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
    const head = rows[0];
    assert.deepEqual(head.slice(0, 3), ['endpoint', 'dialect', 'open']);
    const echoRow = rows.find((r) => r[0] === '/echo' && r[1] === 'hybi-13');
    assert.ok(echoRow, `no /echo hybi-13 row in ${JSON.stringify(rows)}`);
    assert.ok(Number(echoRow[2]) >= 1, `/echo row ${JSON.stringify(echoRow)}`);
    // The page is visible (has a layout), not just present in the DOM.
    assert.ok(await statusTab.locator('#endpoints').isVisible());
  });

  const res = await fetch(`${BASE}/metrics`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  checkExposition(text);
  assert.match(text, /^omniws_websockets_open\{endpoint="\/echo",dialect="hybi-13"\} \d+$/m);
  // And what a scraper's own parser makes of it.
  const out = execFileSync('python3', ['-c', `
import sys
from prometheus_client.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
print(len(families), sum(len(f.samples) for f in families))
`], { input: text, timeout: 10_000 }).toString().trim().split(' ').map(Number);
  assert.ok(out[0] > 10 && out[1] > 10, `prometheus_client found ${out}`);
});

/** Each line of the Prometheus text format (0.0.4): a comment, or a sample of a declared family. */
function checkExposition(text) {
  const name = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const label = '[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"';
  const value = '(?:[+-]?(?:\\d+\\.?\\d*(?:[eE][+-]?\\d+)?|\\.\\d+(?:[eE][+-]?\\d+)?)|NaN|[+-]Inf)';
  const sample = new RegExp(`^(${name})(?:\\{(?:${label}(?:,${label})*,?)?\\})? ${value}(?: -?\\d+)?$`);
  const help = new RegExp(`^# HELP (${name}) .*$`);
  const type = new RegExp(`^# TYPE (${name}) (counter|gauge|histogram|summary|untyped)$`);
  const types = new Map();
  assert.ok(text.endsWith('\n'), 'the exposition ends with a newline');
  const lines = text.slice(0, -1).split('\n');
  for (const [i, line] of lines.entries()) {
    const where = `line ${i + 1}: ${JSON.stringify(line)}`;
    if (line.startsWith('#')) {
      const t = type.exec(line);
      if (t) {
        assert.ok(!types.has(t[1]), `second TYPE for ${t[1]} at ${where}`);
        types.set(t[1], t[2]);
      } else {
        assert.ok(help.test(line) || !/^# (HELP|TYPE) /.test(line), `malformed comment at ${where}`);
      }
      continue;
    }
    assert.notEqual(line.trim(), '', `blank line at ${where}`);
    const m = sample.exec(line);
    assert.ok(m, `not a sample at ${where}`);
    const family = [m[1], m[1].replace(/_(bucket|sum|count|total|created)$/, '')].find((n) => types.has(n));
    assert.ok(family, `sample of no declared family at ${where}`);
  }
  assert.ok(types.size > 10, `only ${types.size} families`);
}

// ---------------------------------------------------------------------------------------
// 7. https:// and wss://, and permessage-deflate.

test('7b. a tab\'s own WebSocket over wss:// agrees permessage-deflate (no demo page needed)', async () => {
  await withTabs(['tls raw'], async (page) => {
    const handshakes = await recordHandshakes(page);
    await page.goto(`${TLS_BASE}/status`);
    assert.match(await page.title(), /omniws status/);
    const echoed = await page.evaluate((url) => new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => ws.send('x'.repeat(1000));
      ws.onmessage = (e) => { resolve({ data: e.data, extensions: ws.extensions }); ws.close(); };
      ws.onerror = () => reject(new Error('websocket error'));
      setTimeout(() => reject(new Error('no echo in 5 s')), 5000);
    }), `${TLS_BASE.replace(/^https/, 'wss')}/echo`);
    assert.equal(echoed.data, 'x'.repeat(1000));
    assert.match(echoed.extensions, /^permessage-deflate\b/);
    const h = handshakes.find((x) => x.url?.endsWith('/echo'));
    assert.ok(h, 'no handshake recorded');
    assert.match(h.headers['sec-websocket-extensions'] ?? '', /^permessage-deflate\b/);
  });
});
