// The dashboard served by a real 2-process cluster (`plexus node` + `plexus
// serve --split tp2`), in headless Chromium: both ranks show, the split
// picture has both, and a chat message streams back an answer. Any console
// error on the page fails the test.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { rmSync, writeFileSync } from 'node:fs';
import {
  env, killAll, launchBrowser, screenshotPath, startProcess, startServe, tempDir, watchConsole, writeSecret,
} from './lib.mjs';

const MODEL_FILE = path.join(env.shared, 'models/stories260K.gguf');
let dir, browser, server;

before(async () => {
  dir = tempDir('plexus-web-cluster-');
  const secret = writeSecret(dir);
  const node = await startProcess(env.plexus,
    ['node', '--listen', '127.0.0.1:0', '--secret-file', secret, '--cache-dir', path.join(dir, 'cache')],
    { ready: /listening on (\S+):(\d+)/, timeoutMs: 30000, name: 'plexus node' });
  const peer = `${node.match[1]}:${node.match[2]}`;
  server = await startServe(['-m', MODEL_FILE, '--peers', peer, '--secret-file', secret, '--split', 'tp2']);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await killAll();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the dashboard shows the tp2 cluster and streams a chat reply', { timeout: 120000 }, async () => {
  const page = await browser.context.newPage();
  const watch = watchConsole(page);
  await page.goto(`${server.url}/`);

  // Two ranks: cards, and bands of both in the split picture.
  await page.locator('#nodes .node-card').nth(1).waitFor({ timeout: 20000 });
  assert.equal(await page.locator('#nodes .node-card').count(), 2);
  assert.match(await page.locator('#nodes .node-card[data-rank="0"]').textContent(), /coordinator/);
  for (const rank of [0, 1]) {
    assert.ok(await page.locator(`#split-svg rect.band.heads[data-rank="${rank}"]`).count() > 0, `heads of ${rank}`);
    assert.ok(await page.locator(`#split-svg rect.band.ffn[data-rank="${rank}"]`).count() > 0, `FFN of ${rank}`);
  }
  assert.equal(await page.locator('#split').textContent(), 'tp2');
  assert.match(await page.locator('#model-id').textContent(), /stories260K/);
  await page.locator('#health[data-state="ok"]').waitFor({ timeout: 10000 });
  await page.waitForFunction(() => document.getElementById('queue').textContent.includes('active'), null,
    { timeout: 10000 });

  // Chat: a short greedy reply streams into an assistant message.
  await page.locator('#sampler summary').click();
  await page.locator('#temperature').fill('0');
  await page.locator('#max-tokens').fill('32');
  await page.locator('#chat-input').fill('Once upon a time');
  await page.locator('#chat-send').click();
  const reply = page.locator('.msg.assistant').first();
  await reply.waitFor({ timeout: 20000 });
  await page.waitForFunction(() => document.getElementById('chat-panel').dataset.busy === 'false', null,
    { timeout: 60000 });
  const text = await reply.locator('.text').textContent();
  assert.ok(text.trim().length > 0, 'a non-empty streamed answer');
  assert.match(await reply.locator('.meta').textContent(), /tokens? · .*(stop|length)/);
  assert.equal(await page.locator('.msg.error').count(), 0, await page.locator('#messages').textContent());

  // The stats poll sees the request.
  await page.waitForFunction(() => /^[1-9]/.test(document.getElementById('stat-requests').textContent), null,
    { timeout: 10000 });

  const shot = screenshotPath('dashboard-tp2.png');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
  assert.deepEqual(watch.unexpected(), []);
  await page.close();
});

test('with --api-key-file: asks for the key, then a stopped reply frees the server', { timeout: 120000 }, async () => {
  const keyFile = path.join(dir, 'api-key');
  writeFileSync(keyFile, 'web-test-key-0123456789\n', { mode: 0o600 });
  const single = await startServe(['-m', MODEL_FILE, '--api-key-file', keyFile]);
  const page = await browser.context.newPage();
  const watch = watchConsole(page);
  await page.goto(`${single.url}/`);
  await page.locator('#auth-dialog').waitFor({ state: 'visible', timeout: 20000 });
  await page.locator('#api-key').fill('web-test-key-0123456789');
  await page.locator('#auth-save').click();
  await page.locator('#nodes .node-card').first().waitFor({ timeout: 20000 });
  assert.equal(await page.locator('#nodes .node-card').count(), 1);
  assert.equal(await page.locator('#split-svg rect.band.heads[data-rank="0"]').count(), 1);

  // A long reply, stopped once it is under way; the server's queue then shows it gone.
  // The model may end a story by itself before the click lands; then try again.
  await page.locator('#sampler summary').click();
  await page.locator('#max-tokens').fill('2000');
  await page.locator('#temperature').fill('1');
  let stopped = false;
  for (let attempt = 0; attempt < 5 && !stopped; attempt++) {
    const n = await page.locator('.msg.assistant').count();
    await page.locator('#chat-input').fill('Tell me a long story');
    await page.locator('#chat-send').click();
    await page.waitForFunction((i) => {
      const msg = document.querySelectorAll('.msg.assistant')[i];
      return msg && (msg.querySelector('.text').textContent.length > 20 || !msg.classList.contains('streaming'));
    }, n, { timeout: 30000 });
    await page.evaluate(() => document.getElementById('chat-stop').click());  // no-op once finished
    await page.waitForFunction(() => document.getElementById('chat-panel').dataset.busy === 'false', null,
      { timeout: 10000 });
    stopped = (await page.locator('.msg.assistant').nth(n).locator('.meta').textContent()) === 'stopped';
  }
  assert.ok(stopped, 'a reply was stopped mid-stream');
  await page.waitForFunction(() => document.getElementById('queue').textContent.startsWith('0 active'), null,
    { timeout: 15000 });
  // The panel may show a poll from before the stop reached the server: ask the
  // server itself until the slot is free (the cancellation lands within ~1 s).
  let stats = {};
  for (let i = 0; i < 50; i++) {
    stats = await (await fetch(`${single.url}/api/stats`, {
      headers: { Authorization: 'Bearer web-test-key-0123456789' },
    })).json();
    if (stats.active === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.equal(stats.active, 0);
  assert.deepEqual(watch.unexpected(), []);
  await page.close();
  await single.child.stop();
});
