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
// 2. Two tabs chat.

test('2. two tabs join one session and chat both ways', async () => {
  await withTabs(['alice', 'bob'], async (alice, bob) => {
    const name = sessionName('chat');
    const handshakes = await recordHandshakes(alice);
    await joinSession(alice, name);
    await joinSession(bob, name);
    await waitMembers(alice, ['hybi-13', 'hybi-13']);
    await waitMembers(bob, ['hybi-13', 'hybi-13']);
    await chat(alice, bob, 'hello bob, from alice');
    await chat(bob, alice, 'hi alice, bob here: ünïcødé ✓');
    // Each sees its own message too (the page echoes what it sent into its log).
    await waitText(alice, '#chat-log .msg', 'hello bob, from alice');
    // Chromium offered permessage-deflate and the server agreed (its default, lean).
    const session = handshakes.find((h) => h.url?.includes(`/sessions/${name}`));
    assert.ok(session, `no handshake for the session among ${JSON.stringify(handshakes.map((h) => h.url))}`);
    assert.equal(session.status, 101);
    assert.match(session.headers['sec-websocket-extensions'] ?? '', /^permessage-deflate\b/);
  });
});

// ---------------------------------------------------------------------------------------
// 3. A tab and a hixie-76 member.

/** `omniws-client connect --dialect hixie-76`: lines in on stdin, messages out on stdout. */
function hixieMember(url) {
  const child = spawn(CLIENT, ['connect', '--dialect', 'hixie-76', '--verbose', url], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines = [];
  const waiters = [];
  let buf = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      for (const w of [...waiters]) w();
    }
  });
  child.stderr.on('data', (d) => { stderr += d; });
  return {
    send: (line) => child.stdin.write(`${line}\n`),
    lines,
    waitLine(pred, what, timeout = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = lines.find(pred);
          if (hit === undefined) return false;
          waiters.splice(waiters.indexOf(check), 1);
          clearTimeout(timer);
          resolve(hit);
          return true;
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(check), 1);
          reject(new Error(`hixie-76 client never printed ${what} within ${timeout} ms; it printed ${JSON.stringify(lines)}; stderr ${JSON.stringify(stderr)}`));
        }, timeout);
        waiters.push(check);
        check();
      });
    },
    stop() {
      child.stdin.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 7000);
      return new Promise((resolve) => child.on('exit', () => { clearTimeout(t); resolve(); }))
        .then(() => stderr);
    },
    child,
  };
}

test('3. a tab and a hixie-76 command-line member share a session both ways', async () => {
  await withTabs(['tab'], async (page) => {
    const name = sessionName('hixie');
    await joinSession(page, name);
    const hixie = hixieMember(`${BASE.replace(/^http/, 'ws')}/sessions/${name}`);
    try {
      await hixie.waitLine((l) => l === 'session ready', '"session ready"');
      // The tab's member list shows both dialects as /status.json names them.
      await waitMembers(page, ['hixie-76', 'hybi-13']);
      const texts = await page.locator('#members li').allInnerTexts();
      assert.ok(texts.some((t) => t.includes('hixie-76')), `#members says ${JSON.stringify(texts)}`);
      assert.ok(texts.some((t) => t.includes('hybi-13')), `#members says ${JSON.stringify(texts)}`);
      // Tab → hixie-76: the text arrives in what the client prints.
      await page.locator('#chat-input').fill('from the tab to hixie');
      await page.locator('#chat-send').click();
      await hixie.waitLine((l) => l.includes('from the tab to hixie'), 'the tab\'s message');
      // hixie-76 → tab: the line shows in the tab's chat log.
      hixie.send('from hixie-76 to the tab');
      await waitText(page, '#chat-log .msg', 'from hixie-76 to the tab');
    } finally {
      await hixie.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------
// 4 and 6. A 64 MiB file from one tab to another, with a screenshot mid-transfer.

test('4. a 64 MiB file goes tab to tab through a session: progress moves, SHA-256 matches, server RSS stays flat (6. screenshot mid-transfer)', { timeout: 180_000 }, async () => {
  const path = join(scratch, 'omniws-64MiB.bin');
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  for (let off = 0; off < FILE_SIZE; off += 4 * MiB) {
    const chunk = randomBytes(4 * MiB);
    hash.update(chunk);
    writeSync(fd, chunk);
  }
  closeSync(fd);
  const sha256 = hash.digest('hex');

  await withTabs(['sender', 'receiver'], async (sender, receiver) => {
    const name = sessionName('file');
    await joinSession(sender, name);
    await joinSession(receiver, name);
    await waitMembers(sender, ['hybi-13', 'hybi-13']);
    await waitMembers(receiver, ['hybi-13', 'hybi-13']);
    const linksBefore = await receiver.locator('#received a.download').count();

    // Every value the receive bar takes (set as a property or an attribute), seen in the page.
    await receiver.evaluate(() => {
      const bar = document.getElementById('recv-progress');
      const seen = (window.__recvSeen = { mid: 0, samples: 0, last: null });
      const look = () => {
        seen.samples++;
        seen.last = [bar.value, bar.max];
        if (bar.value > 0 && bar.value < bar.max) seen.mid++;
      };
      new MutationObserver(look).observe(bar, { attributes: true });
      window.__recvTimer = setInterval(look, 5);
    });

    // Idle RSS: both tabs joined, nothing moving.
    await sender.waitForTimeout(300);
    const idle = serverRss();
    let peak = idle;
    const sampler = setInterval(() => { peak = Math.max(peak, serverRss()); }, 20);

    const t0 = Date.now();
    let shot;
    try {
      await sender.locator('#file-input').setInputFiles(path);
      await sender.locator('#file-send').click();
      // The moment the receiving bar is part-way, photograph the receiving tab.
      await receiver.waitForFunction(() => window.__recvSeen.mid > 0, null, { timeout: 30_000, polling: 10 });
      const at = await receiver.evaluate(() => [document.getElementById('recv-progress').value, document.getElementById('recv-progress').max]);
      shot = join(ARTIFACTS, 'demo-mid-transfer.png');
      await receiver.screenshot({ path: shot, fullPage: true });
      await sender.screenshot({ path: join(ARTIFACTS, 'demo-mid-transfer-sender.png'), fullPage: true });
      const after = await receiver.evaluate(() => [document.getElementById('recv-progress').value, document.getElementById('recv-progress').max]);
      console.log(`  screenshot ${shot}: receive bar ${at[0]}/${at[1]} before, ${after[0]}/${after[1]} after`);

      // Done: a new download link of the right name and size.
      const link = receiver.locator('#received a.download').nth(linksBefore);
      await link.waitFor({ timeout: 120_000 });
      assert.equal(await link.getAttribute('download'), 'omniws-64MiB.bin');
      assert.equal(Number(await link.getAttribute('data-size')), FILE_SIZE);
    } finally {
      clearInterval(sampler);
    }
    const seconds = (Date.now() - t0) / 1000;
    const seen = await receiver.evaluate(() => { clearInterval(window.__recvTimer); return window.__recvSeen; });
    console.log(`  64 MiB in ${seconds.toFixed(1)} s; receive bar part-way in ${seen.mid} of ${seen.samples} looks; server RSS idle ${mib(idle)}, peak ${mib(peak)}`);
    assert.ok(seen.mid > 0, 'the receive bar was never seen strictly between 0 and max');
    const sendBar = await sender.locator('#send-progress').evaluate((b) => [b.value, b.max]);
    assert.deepEqual(sendBar, [FILE_SIZE, FILE_SIZE], 'the send bar ends full');
    const recvBar = await receiver.locator('#recv-progress').evaluate((b) => [b.value, b.max]);
    assert.deepEqual(recvBar, [FILE_SIZE, FILE_SIZE], 'the receive bar ends full');

    // What the receiving page holds is the file, byte for byte.
    const got = await receiver.evaluate(async () => {
      const blob = window.omniwsDemo.lastReceived;
      const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
      return { size: blob.size, sha256: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('') };
    });
    assert.equal(got.size, FILE_SIZE);
    assert.equal(got.sha256, sha256);
    assert.ok(peak - idle <= RSS_SLACK, `server RSS rose ${mib(peak - idle)} (idle ${mib(idle)}, peak ${mib(peak)})`);
  });
  rmSync(path, { force: true });
});

// ---------------------------------------------------------------------------------------
// 5. The status page while two tabs share a session.

test('5. while two tabs share a session, /status counts them by dialect and /status.json?session=NAME lists them', async () => {
  await withTabs(['first', 'second', 'status'], async (first, second, statusTab) => {
    const name = sessionName('seen');
    await joinSession(first, name);
    await joinSession(second, name);
    await waitMembers(first, ['hybi-13', 'hybi-13']);

    // With the CLI's defaults names are private: /status shows the counts by endpoint and
    // dialect, and how many sessions and members there are.
    await statusTab.goto(`${BASE}/status`);
    const rows = await statusTab.locator('#endpoints tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
    const row = rows.find((r) => r[0] === '/sessions/*' && r[1] === 'hybi-13');
    assert.ok(row && Number(row[2]) >= 2, `no /sessions/* hybi-13 row with 2 open in ${JSON.stringify(rows)}`);
    const body = await statusTab.locator('body').innerText();
    const sessions = /(\d+) sessions?, (\d+) members?/.exec(body);
    assert.ok(sessions && Number(sessions[1]) >= 1 && Number(sessions[2]) >= 2, `sessions line: ${sessions?.[0]}`);
    assert.ok(!body.includes(name), 'the session name is private under the defaults');

    // The one session, described to whoever names it (what the demo page reads), rendered
    // in the browser as a person would open it.
    await statusTab.goto(`${BASE}/status.json?session=${name}`);
    const json = JSON.parse(await statusTab.locator('body').innerText());
    assert.equal(json.disclosure, 'session');
    const s = json.sessions.list.find((x) => x.name === name);
    assert.ok(s, `no session ${name} in ${JSON.stringify(json.sessions)}`);
    assert.deepEqual(s.members.map((m) => m.dialect), ['hybi-13', 'hybi-13']);
    assert.ok(s.members.every((m) => m.secure === false));
  });
});

// ---------------------------------------------------------------------------------------
// 7. https:// and wss://, and permessage-deflate.

test('7. over https:// the page joins a session over wss://, with permessage-deflate', async () => {
  await withTabs(['tls one', 'tls two'], async (one, two) => {
    const name = sessionName('tls');
    const handshakes = await recordHandshakes(one);
    await joinSession(one, name, TLS_BASE);
    assert.ok(one.url().startsWith('https://'), one.url());
    await joinSession(two, name, TLS_BASE);
    await waitMembers(one, ['hybi-13', 'hybi-13']);
    await chat(one, two, 'over wss, one to two');
    await chat(two, one, 'over wss, two to one');
    const session = handshakes.find((h) => h.url?.includes(`/sessions/${name}`));
    assert.ok(session, `no handshake for the session among ${JSON.stringify(handshakes.map((h) => h.url))}`);
    assert.ok(session.url.startsWith('wss://'), session.url);
    assert.equal(session.status, 101);
    assert.match(session.headers['sec-websocket-extensions'] ?? '', /^permessage-deflate\b/);
    const status = await sessionStatus(one, name, TLS_BASE);
    const s = status.sessions.list.find((x) => x.name === name);
    assert.ok(s && s.members.length === 2 && s.members.every((m) => m.secure === true),
      `members ${JSON.stringify(s?.members)}`);
  });
});

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

// ---------------------------------------------------------------------------------------
// 8. The echo tester.

test('8. the echo tester sends text to /echo and shows it come back', async () => {
  await withTabs(['echo'], async (page) => {
    await page.goto(`${BASE}/`);
    for (const text of ['echo me', 'and me, ünïcødé ✓']) {
      await page.locator('#echo-input').fill(text);
      await page.locator('#echo-send').click();
      await waitText(page, '#echo-log .msg', text);
    }
    assert.equal(await page.locator('#echo-log .msg').count(), 2);
  });
});
