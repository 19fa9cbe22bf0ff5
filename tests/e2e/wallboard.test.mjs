// Browser test of the ccpulse wallboard (pipeline/http/assets/wallboard.html) in Debian's
// headless Chromium, driven by playwright-core. Starts `ccpulse replay --http 127.0.0.1:0` on
// fixtures, reads what the page shows, and kills everything it started. See README.md.
//
//   node tests/e2e/wallboard.test.mjs /path/to/ccpulse [artifacts_dir]
//
// Exit code 0 when every check passes, 1 otherwise (2 on bad usage).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const FIXTURES = path.join(HERE, 'fixtures');
const CHROMIUM = process.env.CCPULSE_CHROMIUM || '/usr/bin/chromium';
const OVERALL_TIMEOUT_MS = 120_000;
const LOST_BANNER_WITHIN_MS = 6_000;
// The page calls a connection lost after 6.5 s without a message (the server repeats the board
// every 5 s), checked every 0.5 s.
const SILENT_BANNER_WITHIN_MS = 8_000;
const VIEWPORT = { width: 1920, height: 1080 };

if (process.argv.length < 3) {
  console.error('usage: node tests/e2e/wallboard.test.mjs /path/to/ccpulse [artifacts_dir]');
  process.exit(2);
}
const CCPULSE = path.resolve(process.argv[2]);
const ARTIFACTS = path.resolve(process.argv[3] || path.join(REPO, 'build', 'artifacts'));
if (!fs.existsSync(CCPULSE)) {
  console.error(`wallboard test: no ccpulse binary at ${CCPULSE}`);
  process.exit(2);
}
if (!fs.existsSync(CHROMIUM)) {
  console.error(`wallboard test: no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  process.exit(2);
}
fs.mkdirSync(ARTIFACTS, { recursive: true });
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'ccpulse-e2e-'));

// ---------------------------------------------------------------- processes we own
const children = new Set();
let context = null;

function killAll() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try { child.kill('SIGKILL'); } catch { /* already gone */ }
    }
  }
}
process.on('exit', () => {
  killAll();
  fs.rmSync(TMP, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { console.error(`wallboard test: ${sig}, stopping`); process.exit(1); });
}
const overall = setTimeout(() => {
  console.error(`FAIL: overall timeout of ${OVERALL_TIMEOUT_MS / 1000} s reached`);
  process.exit(1);  // the exit handler kills the servers; Chromium dies with its pipe
}, OVERALL_TIMEOUT_MS);

// Starts `ccpulse <args>` and resolves with { proc, url } once it printed its URL.
async function startServer(name, args) {
  const log = fs.createWriteStream(path.join(ARTIFACTS, `${name}.server.log`));
  const proc = spawn(CCPULSE, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  let stderr = '';
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: no URL on stderr within 10 s:\n${stderr}`)), 10_000);
    proc.stderr.on('data', (chunk) => {
      stderr += chunk;
      log.write(chunk);
      const m = /serving (https?:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${name}: ccpulse exited (${code ?? sig}) before serving:\n${stderr}`));
    });
  });
  return { proc, url };
}

async function stopServer(server, signal = 'SIGTERM') {
  if (!server || server.proc.exitCode !== null || server.proc.signalCode !== null) return;
  const exited = once(server.proc, 'exit');
  server.proc.kill(signal);
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

async function getJson(url) {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res.json();
}

async function until(what, fn, timeoutMs, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` +
                  (last instanceof Error ? ` (last error: ${last.message})` : ''));
}

// ---------------------------------------------------------------- checks
const results = [];
let failures = 0;
function check(cond, message) {
  if (!cond) throw new Error(message);
}
function eq(actual, expected, what) {
  if (actual !== expected) throw new Error(`${what}: expected ${JSON.stringify(expected)}, page shows ${JSON.stringify(actual)}`);
}
// The page a test is looking at: screenshot when the test fails, closed after it unless kept
// for the next test (the live page is shared by b, d and c).
let currentPage = null, keepPage = null;
async function test(name, fn) {
  const start = Date.now();
  currentPage = null;
  try {
    const note = await fn();
    const ms = Date.now() - start;
    results.push({ name, ok: true, ms });
    console.log(`PASS ${name} (${(ms / 1000).toFixed(1)} s)${note ? ' — ' + note : ''}`);
  } catch (e) {
    failures++;
    const ms = Date.now() - start;
    results.push({ name, ok: false, ms });
    console.log(`FAIL ${name} (${(ms / 1000).toFixed(1)} s): ${e.message}`);
    if (currentPage && !currentPage.isClosed()) {
      const file = path.join(ARTIFACTS, `failure-${name.slice(0, 1)}.png`);
      await currentPage.screenshot({ path: file, timeout: 5000 }).then(() => console.log(`     screenshot: ${file}`), () => {});
    }
  } finally {
    if (currentPage && currentPage !== keepPage) await currentPage.close().catch(() => {});
  }
}

// Everything a tile shows, in DOM order.
async function readTiles(page) {
  return page.$$eval('#board .tile', (tiles) => tiles.map((t) => {
    const f = (name) => t.querySelector(`[data-field="${name}"]`)?.textContent ?? null;
    return {
      tenant: t.dataset.tenant,
      team: t.dataset.team,
      name: t.querySelector('.t-name').textContent,
      health: t.dataset.health,
      word: t.querySelector('.t-health').textContent,
      escalation: f('escalation'),
      fcr: f('fcr'),
      sl: f('sl'),
      waiting: f('waiting'),
      oldest: f('oldest'),
      handled: f('handled'),
      slLabel: t.querySelector('.c-sl .lbl')?.textContent ?? null,
      slBelow: t.querySelector('[data-field="sl"]')?.classList.contains('below') ?? null,
      colour: getComputedStyle(t).borderLeftColor,
      tag: t.tagName,
      label: t.getAttribute('aria-label') || '',
      fontPx: parseFloat(getComputedStyle(t).fontSize),
    };
  }));
}

function watchErrors(page, errors) {
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console error: ${m.text()}`); });
}

const COLOURS = { red: 'rgb(255, 77, 77)', amber: 'rgb(255, 176, 32)', green: 'rgb(61, 220, 132)' };

// ---------------------------------------------------------------- main
async function main() {
  const profile = fs.mkdtempSync(path.join(TMP, 'chromium-profile-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: VIEWPORT,
    timezoneId: 'UTC',
    locale: 'en-GB',
    timeout: 30_000,
  });
  context.setDefaultTimeout(15_000);
  console.log(`Chromium ${CHROMIUM}; ccpulse ${CCPULSE}; artifacts ${ARTIFACTS}`);

  // a. Known values from a hand-computed fixture.
  await test('a. 3-team board shows the known values, worst first, in colour', async () => {
    const server = await startServer('board', ['replay', '--http', '127.0.0.1:0', '--hold', '--every', '1m',
                                               path.join(FIXTURES, 'board.jsonl')]);
    const errors = [];
    const page = currentPage = await context.newPage();
    watchErrors(page, errors);
    try {
      await page.goto(server.url + '/');
      await page.waitForFunction(() => document.querySelectorAll('#board .tile').length === 3);
      await page.screenshot({ path: path.join(ARTIFACTS, 'board-3-teams.png') });
      const expected = [
        { team: 'bravo', tenant: 'acme', health: 'red', word: 'RED', escalation: '0.0%', fcr: '100.0%',
          sl: '0.0%', waiting: '1', oldest: '5m 10s', handled: '1' },
        { team: 'charlie', tenant: 'globex', health: 'amber', word: 'AMBER', escalation: '66.7%', fcr: '33.3%',
          sl: '100.0%', waiting: '1', oldest: '35s', handled: '3' },
        { team: 'alpha', tenant: 'acme', health: 'green', word: 'GREEN', escalation: '25.0%', fcr: '50.0%',
          sl: '100.0%', waiting: '0', oldest: '–', handled: '4' },
      ];
      // The fixture and the engine agree (otherwise the page is not the one to blame).
      const api = await getJson(server.url + '/api/v1/teams?window=15m');
      for (const e of expected) {
        const t = api.teams.find((x) => x.team === e.team);
        check(t, `API has no team ${e.team}`);
        const m = t.windows['15m'];
        const apiView = {
          health: t.health, escalation: m.escalation_ratio.value, fcr: m.fcr_provisional_ratio.value,
          sl: m.service_level.value, waiting: t.waiting, oldest: t.oldest_wait_seconds, handled: m.handled,
        };
        const want = {
          bravo: { health: 'red', escalation: 0, fcr: 1, sl: 0, waiting: 1, oldest: 310, handled: 1 },
          charlie: { health: 'amber', escalation: 2 / 3, fcr: 1 / 3, sl: 1, waiting: 1, oldest: 35, handled: 3 },
          alpha: { health: 'green', escalation: 0.25, fcr: 0.5, sl: 1, waiting: 0, oldest: 0, handled: 4 },
        }[e.team];
        for (const k of Object.keys(want)) {
          const ok = typeof want[k] === 'number' ? Math.abs(apiView[k] - want[k]) < 1e-9 : apiView[k] === want[k];
          check(ok, `fixture check: API says ${e.team}.${k} = ${apiView[k]}, hand-computed ${want[k]}`);
        }
      }
      // What the page shows.
      const tiles = await readTiles(page);
      eq(tiles.map((t) => t.team).join(','), 'bravo,charlie,alpha', 'tile order (red, amber, green)');
      for (let i = 0; i < expected.length; i++) {
        const e = expected[i], t = tiles[i];
        for (const k of Object.keys(e)) eq(t[k], e[k], `tile ${e.team} ${k}`);
        eq(t.colour, COLOURS[e.health], `tile ${e.team} colour`);
        eq(t.slLabel, 'SL vs 80%', `tile ${e.team} service-level label`);
        eq(t.slBelow, e.team === 'bravo', `tile ${e.team} service level marked below target`);
        eq(t.tag, 'BUTTON', `tile ${e.team} element`);
        check(t.label.includes(e.word) && t.label.includes(e.escalation),
              `tile ${e.team} aria-label lacks health word or escalation: "${t.label}"`);
      }
      eq(await page.textContent('#count-red'), 'RED 1', 'header red count');
      eq(await page.textContent('#count-amber'), 'AMBER 1', 'header amber count');
      eq(await page.textContent('#count-green'), 'GREEN 1', 'header green count');
      eq(await page.textContent('#alerts-count'), '0', 'header open alerts');
      eq(await page.textContent('#windows-end'), '2026-03-02 09:10:10', 'header windows end (UTC)');
      const fontPx = Math.min(...tiles.map((t) => t.fontPx));
      check(fontPx >= 30, `3 teams on 1920x1080 should be huge; tile font is ${fontPx}px`);

      // Tenant filter, kept in the URL across a reload.
      await page.selectOption('#f-tenant', 'globex');
      await page.waitForFunction(() => document.querySelectorAll('#board .tile').length === 1);
      check(new URL(page.url()).searchParams.get('tenant') === 'globex', `URL lacks tenant=globex: ${page.url()}`);
      await page.reload();
      await page.waitForFunction(() => document.querySelectorAll('#board .tile').length === 1);
      eq((await readTiles(page))[0].team, 'charlie', 'tile after reload with ?tenant=globex');
      eq(await page.inputValue('#f-tenant'), 'globex', 'tenant dropdown after reload');
      await page.selectOption('#f-tenant', '');
      await page.waitForFunction(() => document.querySelectorAll('#board .tile').length === 3);
      check(!new URL(page.url()).searchParams.has('tenant'), `URL keeps tenant after "All": ${page.url()}`);

      // Window selector: 5m reconnects the stream; alpha handled only 1 contact (closed 09:06) in 5m.
      await page.selectOption('#f-window', '5m');
      check(new URL(page.url()).searchParams.get('window') === '5m', `URL lacks window=5m: ${page.url()}`);
      await page.waitForFunction(() =>
        document.querySelector('.tile[data-team="alpha"] [data-field="handled"]')?.textContent === '1');
      eq((await readTiles(page)).find((t) => t.team === 'alpha').escalation, '0.0%', 'alpha escalation in 5m');
      await page.selectOption('#f-window', '15m');
      await page.waitForFunction(() =>
        document.querySelector('.tile[data-team="alpha"] [data-field="handled"]')?.textContent === '4');
      check(errors.length === 0, errors.join('; '));
      return `font ${fontPx.toFixed(0)}px`;
    } finally {
      await stopServer(server);
    }
  });

  // b, d, c on one paced replay: live updates, the team page, then the server dies.
  let live = null, livePage = null;
  const liveErrors = [];
  await test('b. tiles update live from server-sent events, without reload', async () => {
    live = await startServer('live', ['replay', '--http', '127.0.0.1:0', '--hold', '--speed', '40', '--every', '1m',
                                      path.join(FIXTURES, 'live.jsonl')]);
    livePage = keepPage = currentPage = await context.newPage();
    watchErrors(livePage, liveErrors);
    await livePage.goto(live.url + '/');
    await livePage.waitForSelector('.tile[data-team="delta"]');
    await livePage.evaluate(() => {
      window.__e2eMarker = 'same document';
      window.__e2eTile = document.querySelector('.tile[data-team="delta"]');
    });
    const read = () => livePage.textContent('.tile[data-team="delta"] [data-field="handled"]');
    const first = await read();
    const t0 = Date.now();
    const changed = await until('the delta tile\'s handled count to change', async () => {
      const now = await read();
      return now !== first ? now : null;
    }, 20_000, 100);
    const same = await livePage.evaluate(() => window.__e2eMarker === 'same document' &&
      window.__e2eTile === document.querySelector('.tile[data-team="delta"]') && window.__e2eTile.isConnected);
    check(same, 'the page reloaded or rebuilt the delta tile instead of updating it in place');
    return `handled ${first} -> ${changed} after ${((Date.now() - t0) / 1000).toFixed(1)} s, same tile element`;
  });

  await test('d. team page shows every window\'s metrics and sparklines', async () => {
    check(live && livePage, 'no live server (b failed to start it)');
    currentPage = livePage;
    // The replay ends at 09:11:05 event time; wait for it so the page and these numbers agree.
    await until('the paced replay to finish', async () => {
      const api = await getJson(live.url + '/api/v1/teams/acme/delta');
      return api.windows_end >= '2026-03-02T09:11:10Z' && api.team.history.length >= 3;
    }, 30_000, 250);
    const api = await getJson(live.url + '/api/v1/teams/acme/delta');
    const m15 = api.team.windows['15m'];
    // Hand-computed: 30 contacts, 3 of the first 15 and 8 of the last 15 escalated; all inside 15 minutes.
    check(m15.handled === 30 && m15.escalated === 11, `fixture check: delta 15m handled ${m15.handled}, escalated ${m15.escalated}`);
    await livePage.waitForFunction(() =>
      document.querySelector('.tile[data-team="delta"] [data-field="handled"]')?.textContent === '30');
    await livePage.click('.tile[data-team="delta"]');
    await livePage.waitForFunction(() => location.hash === '#/team/acme/delta');
    await livePage.waitForSelector('#team-metrics');
    eq(await livePage.textContent('#team-name'), 'delta', 'team page heading');
    const heads = await livePage.$$eval('#team-metrics thead th', (ths) => ths.map((t) => t.textContent));
    eq(heads.join(','), 'Metric,5m,15m,1h,today', 'team page window columns');
    const row = (label) => livePage.$$eval('#team-metrics tbody tr', (trs, label) => {
      const tr = trs.find((r) => r.querySelector('th').textContent === label);
      return tr ? Array.from(tr.querySelectorAll('td'), (td) => td.textContent) : null;
    }, label);
    const esc = await row('Escalation ratio');
    check(esc, 'no "Escalation ratio" row on the team page');
    eq(esc[1], '36.7%11/30', 'team page escalation ratio, 15m (value and numerator/denominator)');
    eq((await row('Handled'))[1], '30', 'team page handled, 15m');
    const sparks = await livePage.$$eval('#team .spark', (boxes) => boxes.map((b) => ({
      metric: b.dataset.metric,
      paths: Array.from(b.querySelectorAll('svg path'), (p) => p.getAttribute('d') || '').filter((d) => d.length > 0).length,
    })));
    eq(sparks.map((s) => s.metric).join(','),
       'escalation_ratio,fcr_provisional_ratio,service_level,waiting,aht_seconds', 'sparklines');
    const withPath = sparks.filter((s) => s.paths > 0).length;
    check(withPath >= 1, 'no sparkline has a drawn <path>');
    await livePage.screenshot({ path: path.join(ARTIFACTS, 'team-page.png'), fullPage: true });
    await livePage.keyboard.press('Escape');
    await livePage.waitForFunction(() => !document.getElementById('board').hidden && document.getElementById('team').hidden);
    check(!(await livePage.evaluate(() => location.hash)), 'Escape left the hash route in the URL');
    const focused = await livePage.evaluate(() => document.activeElement?.dataset?.team);
    eq(focused, 'delta', 'focus after Escape');
    return `${api.team.history.length} history points, ${withPath}/5 sparklines drawn`;
  });

  await test('c. the page says so when the server is gone or silent (and mirrors stale)', async () => {
    check(live && livePage, 'no live server (b failed to start it)');
    currentPage = livePage;
    // While serving, the banner follows the server's `stale` flag (the server repeats the board
    // every 5 s when nothing changes, so the page may lag a flip of the flag by that much).
    let want = '';
    await until('the page\'s connection state to match the server\'s stale flag', async () => {
      const api = await getJson(live.url + '/api/v1/teams?window=15m');
      want = api.stale ? 'stale' : 'live';
      return (await livePage.evaluate(() => document.body.dataset.conn)) === want;
    }, 12_000, 200);
    if (want === 'stale') {
      check(/STALE/.test(await livePage.textContent('#banner')), 'stale banner text');
      await livePage.screenshot({ path: path.join(ARTIFACTS, 'data-stale.png') });
    }
    // A frozen server (socket open, nothing sent): the page notices the silence, then recovers.
    let t0 = Date.now();
    live.proc.kill('SIGSTOP');
    await until('the connection-lost banner for a silent server', () =>
      livePage.evaluate(() => document.body.dataset.conn === 'lost'), SILENT_BANNER_WITHIN_MS, 50);
    const silentMs = Date.now() - t0;
    live.proc.kill('SIGCONT');
    t0 = Date.now();
    await until('the banner to clear once messages flow again', () =>
      livePage.evaluate(() => document.body.dataset.conn !== 'lost'), 6000, 50);
    const recoverMs = Date.now() - t0;
    // The server dies.
    t0 = Date.now();
    await stopServer(live, 'SIGKILL');
    await until('the connection-lost banner', () => livePage.evaluate(() => {
      const b = document.getElementById('banner');
      return document.body.dataset.conn === 'lost' && getComputedStyle(b).display !== 'none' &&
        /CONNECTION LOST/.test(b.textContent);
    }), LOST_BANNER_WITHIN_MS, 50);
    const ms = Date.now() - t0;
    await livePage.waitForTimeout(400);  // let the dimming transition finish
    const opacity = await livePage.$eval('.tile', (t) => parseFloat(getComputedStyle(t).opacity));
    await livePage.screenshot({ path: path.join(ARTIFACTS, 'connection-lost.png') });
    check(opacity < 0.6, `tiles are not dimmed (opacity ${opacity})`);
    check(liveErrors.filter((e) => !/ERR_CONNECTION_REFUSED|EventSource|stream/.test(e)).length === 0, liveErrors.join('; '));
    return `killed: banner after ${ms} ms; frozen: after ${silentMs} ms, cleared ${recoverMs} ms after resuming; ` +
           `before: page and server agreed on "${want}"`;
  });
  keepPage = null;
  if (livePage) await livePage.close();
  await stopServer(live);

  await test('e. 500 teams fit one 1920x1080 screen', async () => {
    const file = path.join(TMP, '500.jsonl');
    const sim = spawn(CCPULSE, ['simulate', '--teams', '500', '--duration', '20m', '--seed', '3',
                                '--start', '2026-03-02T09:00:00Z'], { stdio: ['ignore', fs.openSync(file, 'w'), 'inherit'] });
    children.add(sim);
    const [code] = await once(sim, 'exit');
    children.delete(sim);
    check(code === 0, `ccpulse simulate exited ${code}`);
    const server = await startServer('teams500', ['replay', '--http', '127.0.0.1:0', '--hold', '--quiet', file]);
    const page = currentPage = await context.newPage();
    const errors = [];
    watchErrors(page, errors);
    try {
      await until('the replay to publish 500 teams', async () =>
        (await getJson(server.url + '/api/v1/teams?window=15m')).teams.length === 500, 30_000, 200);
      const t0 = Date.now();
      // "today": the whole replay, so every tile has figures (the 15m window at the end is quiet).
      await page.goto(server.url + '/?window=today');
      await page.waitForFunction(() => document.querySelectorAll('#board .tile').length === 500, null, { timeout: 20_000 });
      const renderMs = Date.now() - t0;
      const geo = await page.evaluate(() => {
        const out = { outside: [], w: innerWidth, h: innerHeight,
          scrollW: document.documentElement.scrollWidth, scrollH: document.documentElement.scrollHeight,
          minFont: Infinity, tileW: 0, tileH: 0 };
        for (const t of document.querySelectorAll('#board .tile')) {
          const r = t.getBoundingClientRect();
          if (r.left < 0 || r.top < 0 || r.right > innerWidth + 0.5 || r.bottom > innerHeight + 0.5 || r.width < 1) {
            out.outside.push(`${t.dataset.team} ${Math.round(r.left)},${Math.round(r.top)}-${Math.round(r.right)},${Math.round(r.bottom)}`);
          }
          out.minFont = Math.min(out.minFont, parseFloat(getComputedStyle(t).fontSize));
          out.tileW = r.width; out.tileH = r.height;
        }
        return out;
      });
      check(geo.w === 1920 && geo.h === 1080, `viewport is ${geo.w}x${geo.h}`);
      check(geo.outside.length === 0, `${geo.outside.length} tiles outside the viewport, e.g. ${geo.outside.slice(0, 3).join('; ')}`);
      check(geo.scrollW <= geo.w && geo.scrollH <= geo.h, `page scrolls: ${geo.scrollW}x${geo.scrollH}`);
      // Worst first: health rank never goes down, escalation descends within a colour.
      const tiles = await readTiles(page);
      const rank = { red: 0, amber: 1, green: 2 };
      const escOf = (t) => (t.escalation === '–' ? -1 : parseFloat(t.escalation));
      for (let i = 1; i < tiles.length; i++) {
        const a = tiles[i - 1], b = tiles[i];
        check(rank[a.health] <= rank[b.health], `order: ${a.team} (${a.health}) before ${b.team} (${b.health})`);
        if (a.health === b.health) {
          check(escOf(a) >= escOf(b), `order within ${a.health}: ${a.team} ${a.escalation} before ${b.team} ${b.escalation}`);
        }
      }
      const counts = await page.$$eval('.count', (c) => c.map((x) => x.textContent).join(', '));
      await page.screenshot({ path: path.join(ARTIFACTS, 'board-500-teams.png') });
      check(errors.length === 0, errors.join('; '));
      console.log(`     navigation to 500 tiles rendered: ${renderMs} ms`);
      return `${renderMs} ms to 500 tiles, tile ${geo.tileW.toFixed(0)}x${geo.tileH.toFixed(0)}px, font ${geo.minFont}px, ${counts}`;
    } finally {
      await stopServer(server);
    }
  });
}

const started = Date.now();
try {
  await main();
} catch (e) {
  failures++;
  console.log(`FAIL setup: ${e.stack || e.message}`);
} finally {
  if (context) await context.close().catch(() => {});
  killAll();
  clearTimeout(overall);
}
const passed = results.filter((r) => r.ok).length;
console.log(`${failures === 0 ? 'OK' : 'FAILED'}: ${passed}/${results.length} passed in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${ARTIFACTS}`);
process.exit(failures === 0 ? 0 : 1);
