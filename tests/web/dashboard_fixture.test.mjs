// The dashboard in headless Chromium against fixtures/fixture_server.py (a
// scripted stand-in for `plexus serve`): the split picture for every split
// shape, the chat's streaming / stop / errors / multi-turn, and the API-key
// flow. Needs no plexus binary, so it pins the page's behaviour on its own.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { env, killAll, launchBrowser, screenshotPath, startProcess, watchConsole, withTimeout } from './lib.mjs';

const fixtures = path.join(env.source, 'tests/web/fixtures');
const assets = path.join(env.source, 'src/server/dashboard');
const HTTP_ERROR = /Failed to load resource: the server responded with a status of (400|401)/;

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => {
  await browser?.close();
  await killAll();
});

async function startFixture(split, apiKey = '') {
  const args = [path.join(fixtures, 'fixture_server.py'), '--cluster', path.join(fixtures, `cluster_${split}.json`),
    '--assets', assets, '--lifetime-s', '240'];
  if (apiKey) args.push('--api-key', apiKey);
  const child = await startProcess(env.python, args, { ready: /listening on (\S+):(\d+)/, timeoutMs: 20000,
    name: `fixture ${split}` });
  const url = `http://${child.match[1]}:${child.match[2]}`;
  return { child, url, state: async () => (await fetch(`${url}/fixture/state`)).json() };
}

async function openPage(url, { colorScheme = 'light', viewport } = {}) {
  const page = await browser.context.newPage();
  if (viewport) await page.setViewportSize(viewport);
  await page.emulateMedia({ colorScheme });
  const watch = watchConsole(page);
  await page.goto(`${url}/`);
  return { page, watch };
}

// A band's geometry in the SVG's own units (viewBox), as drawn.
const box = (page, selector) => page.locator(selector).first().evaluate((el) =>
  Object.fromEntries(['x', 'y', 'width', 'height'].map((k) => [k, Number(el.getAttribute(k))])));

const SPLITS = [
  { split: 'single', ranks: 1, stages: 1 },
  { split: 'tp2', ranks: 2, stages: 1 },
  { split: 'pp2', ranks: 2, stages: 2 },
  { split: 'tp2xpp2', ranks: 4, stages: 2 },
  { split: 'ep2', ranks: 2, stages: 1 },
];

for (const { split, ranks, stages } of SPLITS) {
  test(`renders the ${split} split`, { timeout: 60000 }, async () => {
    const cluster = JSON.parse(readFileSync(path.join(fixtures, `cluster_${split}.json`), 'utf8'));
    const server = await startFixture(split);
    const { page, watch } = await openPage(server.url);
    await page.locator('#nodes .node-card').nth(ranks - 1).waitFor();
    assert.equal(await page.locator('#nodes .node-card').count(), ranks);
    assert.equal(await page.locator('#model-id').textContent(), cluster.model.id);
    assert.equal(await page.locator('#split').textContent(), split);
    for (let r = 0; r < ranks; r++) {
      assert.ok(await page.locator(`#split-svg rect.band.heads[data-rank="${r}"]`).count() > 0, `heads of rank ${r}`);
      assert.ok(await page.locator(`#split-svg rect.band.ffn[data-rank="${r}"]`).count() > 0, `FFN of rank ${r}`);
      assert.ok(await page.locator(`#split-svg .legend-item[data-rank="${r}"]`).count() > 0, `legend of rank ${r}`);
    }
    assert.equal(await page.locator('#split-svg .stage').count(), stages);
    // The card says what the rank holds, in the fixture's numbers.
    const card1 = await page.locator(`#nodes .node-card[data-rank="${ranks - 1}"]`).textContent();
    const last = cluster.nodes[ranks - 1];
    assert.match(card1, new RegExp(`heads ${last.heads[0]}–${last.heads[1] - 1}`));
    assert.match(card1, /AVX/);
    if (typeof last.membw_gbs === 'number') {
      assert.match(card1, new RegExp(`${last.membw_gbs.toFixed(1)} GB/s · ${last.gflops.toFixed(1)} GFLOP/s`));
    }
    assert.match(card1, last.gpus && last.gpus.length ? new RegExp(`GPUs${last.gpus[0]}`) : /GPUsnone/);
    // Links: one table row and one arc per measured link.
    const nLinks = cluster.links.length;
    assert.equal(await page.locator('#links tbody tr[data-link]').count(), nLinks);
    assert.equal(await page.locator('#split-svg .link-arc').count(), nLinks);
    if (nLinks) assert.match(await page.locator('#links tbody').textContent(), /35\.2|41\.7/);
    // Live stats arrive (fixture decode_tps is 15..65).
    await page.waitForFunction(() => /^\d+\.\d$/.test(document.getElementById('tps').textContent), null,
      { timeout: 10000 });
    assert.match(await page.locator('#queue').textContent(), /0 active · 0 queued/);
    await page.locator('#health[data-state="ok"]').waitFor({ timeout: 10000 });

    if (split === 'tp2xpp2') {
      // Same stage, tensor-parallel: side by side in heads (same x, rank 1 below rank 0).
      const h0 = await box(page, '#split-svg rect.heads[data-rank="0"]');
      const h1 = await box(page, '#split-svg rect.heads[data-rank="1"]');
      const h2 = await box(page, '#split-svg rect.heads[data-rank="2"]');
      assert.ok(Math.abs(h0.x - h1.x) < 0.01 && Math.abs(h1.y - (h0.y + h0.height)) < 0.01,
        `ranks 0 and 1 split the heads: ${JSON.stringify([h0, h1])}`);
      // Next stage: to the right (later layers), splitting heads the same way.
      assert.ok(h2.x > h0.x + h0.width, 'rank 2 holds later layers');
      assert.ok(Math.abs(h2.y - h0.y) < 0.01 && Math.abs(h2.height - h0.height) < 0.01, 'rank 2 has the first half of the heads');
      // 3 of 5 layers in stage 0, 2 in stage 1.
      assert.ok(Math.abs(h0.width / h2.width - 1.5) < 0.05, `stage widths ${h0.width} / ${h2.width}`);
    }
    if (split === 'ep2') {
      // Expert parallel: both ranks hold every head (replicas share the band's
      // height), and the experts track shows experts 0–3 on rank 0, 4–7 on rank 1.
      const h0 = await box(page, '#split-svg rect.heads[data-rank="0"]');
      const h1 = await box(page, '#split-svg rect.heads[data-rank="1"]');
      assert.ok(Math.abs(h0.x - h1.x) < 0.01 && Math.abs(h0.height - h1.height) < 0.01 &&
        Math.abs(h1.y - (h0.y + h0.height)) < 0.01, `replicated heads: ${JSON.stringify([h0, h1])}`);
      // The LM head is split over the expert group: rows 0–255 and 256–511.
      const v0 = await box(page, '#split-svg rect.vocab[data-rank="0"]');
      const v1 = await box(page, '#split-svg rect.vocab[data-rank="1"]');
      assert.ok(Math.abs(v0.x - v1.x) < 0.01 && Math.abs(v0.height - v1.height) < 0.01 &&
        Math.abs(v1.y - (v0.y + v0.height)) < 0.01, `vocabulary split in two: ${JSON.stringify([v0, v1])}`);
      const vtip = await page.locator('#split-svg rect.vocab[data-rank="1"] title').first().textContent();
      assert.match(vtip, /LM-head rows 256–511/);
      assert.doesNotMatch(vtip, /replicas/);
      const e0 = await box(page, '#split-svg rect.experts[data-rank="0"]');
      const e1 = await box(page, '#split-svg rect.experts[data-rank="1"]');
      assert.ok(Math.abs(e1.y - (e0.y + e0.height)) < 0.01 && Math.abs(e0.height - e1.height) < 0.01,
        `experts split in two: ${JSON.stringify([e0, e1])}`);
      assert.match(await page.locator('#split-svg').textContent(), /experts 4–7/);
      assert.match(card1, /experts 4–7/);
    }
    if (split === 'tp2xpp2') {  // a few seconds of the tokens/s sparkline in the picture
      await page.waitForFunction(() => window.plexusDashboard.state.tps.length >= 5, null, { timeout: 15000 });
    }
    const shot = screenshotPath(`dashboard-fixture-${split}.png`);
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
    if (split === 'tp2xpp2') {
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.setViewportSize({ width: 420, height: 900 });
      const dark = screenshotPath('dashboard-fixture-tp2xpp2-dark-narrow.png');
      await page.screenshot({ path: dark, fullPage: true });
      console.log(`screenshot: ${dark}`);
    }
    assert.deepEqual(watch.unexpected(), []);
    await page.close();
    await server.child.stop();
  });
}

async function sendChat(page, text) {
  const before = await page.locator('.msg.assistant, .msg.error').count();
  await page.locator('#chat-input').fill(text);
  await page.locator('#chat-send').click();
  return before;
}

async function waitReplyDone(page) {
  await page.waitForFunction(() => document.getElementById('chat-panel').dataset.busy === 'false' &&
    !document.querySelector('.msg.streaming'), null, { timeout: 20000 });
}

test('chat streams, keeps the conversation, stops and shows errors', { timeout: 90000 }, async () => {
  const server = await startFixture('tp2');
  const { page, watch } = await openPage(server.url);
  await page.locator('#nodes .node-card').first().waitFor();
  await page.locator('#sampler summary').click();
  await page.locator('#sys-prompt').fill('be brief');
  await page.locator('#temperature').fill('0.3');
  await page.locator('#seed').fill('42');

  // Turn 1: streamed text shows up; the reply reports its rate.
  await sendChat(page, 'hello there');
  const reply1 = page.locator('.msg.assistant').nth(0);
  await reply1.locator('.text', { hasText: 'Turn 1: you said hello there.' }).waitFor();
  await waitReplyDone(page);
  assert.match(await reply1.locator('.meta').textContent(), /4 tokens · [\d.]+ tok\/s · TTFT \d+ ms · stop/);
  let seen = (await server.state()).last_request;
  assert.equal(seen.stream, true);
  assert.equal(seen.temperature, 0.3);
  assert.equal(seen.seed, 42);
  assert.equal(seen.top_k, 40);
  assert.deepEqual(seen.messages, [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello there' }]);

  // Turn 2: the request carries the whole conversation.
  await sendChat(page, 'again');
  await page.locator('.msg.assistant .text', { hasText: 'Turn 2: you said again.' }).waitFor();
  await waitReplyDone(page);
  seen = (await server.state()).last_request;
  assert.deepEqual(seen.messages.map((m) => m.role), ['system', 'user', 'assistant', 'user']);
  assert.equal(seen.messages[2].content, 'Turn 1: you said hello there.');

  // Model output is text, never markup.
  await sendChat(page, '<img src=x onerror="window.pwned=1"><b>bold</b>');
  const reply3 = page.locator('.msg.assistant').nth(2);
  await reply3.locator('.text', { hasText: '<b>bold</b>' }).waitFor();
  await waitReplyDone(page);
  assert.equal(await reply3.locator('.text *').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);

  // Stop: text arrives piece by piece, then the stop button cuts the stream.
  await sendChat(page, 'slow please');
  const slow = page.locator('.msg.assistant').nth(3);
  await slow.locator('.text', { hasText: 'w3' }).waitFor();
  assert.equal(await page.locator('#chat-stop').isEnabled(), true);
  const partial = await slow.locator('.text').textContent();
  assert.ok(!partial.includes('w199'), 'still streaming when stopped');
  await page.locator('#chat-stop').click();
  await waitReplyDone(page);
  assert.equal(await slow.locator('.meta').textContent(), 'stopped');
  await withTimeout((async () => {
    while ((await server.state()).streams_cut < 1) await new Promise((r) => setTimeout(r, 100));
  })(), 5000, 'the fixture to see the stream cut');

  // Errors: the server's error object is shown, the failed turn leaves the history.
  await sendChat(page, 'please fail');
  await page.locator('.msg.error', { hasText: 'fixture: asked to fail' }).waitFor();
  assert.match(await page.locator('.msg.error').last().textContent(), /HTTP 400, invalid_request_error/);
  assert.equal(await page.locator('#chat-input').inputValue(), 'please fail');
  await sendChat(page, 'fail mid-stream');
  await page.locator('.msg.error', { hasText: 'fixture: failed mid-stream' }).waitFor();
  await waitReplyDone(page);
  const history = await page.evaluate(() => window.plexusChat.history.map((m) => m.role));
  assert.deepEqual(history, ['user', 'assistant', 'user', 'assistant', 'user', 'assistant', 'user', 'assistant',
    'user', 'assistant']);

  const shot = screenshotPath('dashboard-fixture-chat.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
  assert.deepEqual(watch.unexpected([HTTP_ERROR]), []);
  await page.close();
  await server.child.stop();
});

test('asks for the API key, keeps it and sends it as a Bearer token', { timeout: 60000 }, async () => {
  const server = await startFixture('tp2', 'sekrit-key');
  const { page, watch } = await openPage(server.url);
  const dialog = page.locator('#auth-dialog');
  await dialog.waitFor({ state: 'visible' });
  await page.locator('#api-key').fill('wrong-key');
  await page.locator('#auth-save').click();
  // The wrong key gets a 401, and the dialog asks again.
  await page.locator('#auth-note', { hasText: 'did not accept' }).waitFor();
  await dialog.waitFor({ state: 'visible' });
  await page.locator('#api-key').fill('sekrit-key');
  await page.locator('#auth-save').click();
  await page.locator('#nodes .node-card').nth(1).waitFor();
  assert.equal(await page.evaluate(() => localStorage.getItem('plexus.apiKey')), 'sekrit-key');
  assert.ok((await server.state()).auth_headers.includes('Bearer sekrit-key'));

  // A reload remembers the key: no dialog, the chat works with it.
  await page.reload();
  await page.locator('#nodes .node-card').nth(1).waitFor();
  assert.equal(await dialog.isVisible(), false);
  await sendChat(page, 'with key');
  await page.locator('.msg.assistant .text', { hasText: 'Turn 1: you said with key.' }).waitFor();
  assert.deepEqual(watch.unexpected([HTTP_ERROR]), []);
  await page.close();
  await server.child.stop();
});
