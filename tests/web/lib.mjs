// Shared pieces of the web tests: processes that are always killed, bounded
// waits, the npm packages (installed outside the repo by run_web_tests.sh)
// and a headless Chromium that stays off the network.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const env = {
  plexus: process.env.PLEXUS_BIN || '',
  shared: process.env.PLEXUS_SHARED || path.resolve(here, '../../../shared'),
  out: process.env.PLEXUS_WEB_OUT || tmpdir(),
  modules: process.env.PLEXUS_WEB_MODULES || '',
  python: process.env.PLEXUS_PYTHON || '/usr/bin/python3',
  chromium: process.env.PLEXUS_CHROMIUM || '/usr/bin/chromium',
  source: path.resolve(here, '../..'),
};

// Packages live in PLEXUS_WEB_MODULES (a node_modules folder outside the repo).
export function requirePackage(name) {
  if (!env.modules) throw new Error('PLEXUS_WEB_MODULES is not set: run the tests through run_web_tests.sh');
  return createRequire(path.join(env.modules, '..', 'package.json'))(name);
}

// Rejects after ms with a message naming what was awaited.
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const children = new Set();

// Kills every process started here (SIGTERM, then SIGKILL after 3 s).
export async function killAll() {
  await Promise.all([...children].map((c) => c.stop()));
}
// Whatever ends this process (a failed test, the runner's timeout, Ctrl-C) ends its children too.
process.on('exit', () => { for (const c of children) c.proc.kill('SIGKILL'); });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(1));

// Starts a process and waits (at most timeoutMs) for a line of its stdout or
// stderr that matches `ready`; resolves with {proc, match, log(), stop()}.
export function startProcess(cmd, args, { ready, timeoutMs = 60000, name = path.basename(cmd) } = {}) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const child = {
    proc, name, log: () => lines.join('\n'),
    stop: () => new Promise((resolve) => {
      children.delete(child);
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      const kill = setTimeout(() => proc.kill('SIGKILL'), 3000);
      proc.once('exit', () => { clearTimeout(kill); resolve(); });
      proc.kill('SIGTERM');
    }),
  };
  children.add(child);
  const started = new Promise((resolve, reject) => {
    const onLine = (line) => {
      lines.push(line);
      if (process.env.PLEXUS_WEB_VERBOSE) console.error(`[${name}] ${line}`);
      const m = ready && line.match(ready);
      if (m && !child.match) { child.match = m; resolve(child); }
    };
    for (const stream of [proc.stdout, proc.stderr]) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (data) => {
        partial += data;
        let nl;
        while ((nl = partial.indexOf('\n')) >= 0) { onLine(partial.slice(0, nl)); partial = partial.slice(nl + 1); }
      });
    }
    proc.on('error', (e) => reject(new Error(`${name}: cannot start ${cmd}: ${e.message}`)));
    proc.on('exit', (code, signal) => {
      if (!child.match) reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${child.log()}`));
    });
  });
  return withTimeout(started, timeoutMs, `${name} to print ${ready}`).catch(async (e) => {
    await child.stop();
    throw new Error(`${e.message}\n--- ${name} output ---\n${child.log()}`);
  });
}

export function tempDir(prefix) {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export function writeSecret(dir) {
  const file = path.join(dir, 'secret');
  writeFileSync(file, 'plexus-web-test-secret-0123456789\n');
  chmodSync(file, 0o600);
  return file;
}

// `plexus serve ... --port 0`; resolves with {child, url} once it prints
// "serving ... at http://HOST:PORT/".
export async function startServe(args, timeoutMs = 120000) {
  if (!env.plexus) throw new Error('PLEXUS_BIN is not set');
  const child = await startProcess(env.plexus, ['serve', ...args, '--port', '0'],
    { ready: /serving .* at (http:\/\/\S+?:\d+)\/?/, timeoutMs, name: 'plexus serve' });
  return { child, url: child.match[1] };
}

// Headless Chromium via playwright-core, in a fresh profile, with every
// background network feature off (the machine has no network beyond loopback).
export async function launchBrowser() {
  const { chromium } = requirePackage('playwright-core');
  const profile = tempDir('plexus-chromium-');
  const context = await withTimeout(chromium.launchPersistentContext(profile, {
    executablePath: env.chromium,
    headless: true,
    viewport: { width: 1440, height: 1000 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-default-apps', '--disable-extensions', '--no-default-browser-check',
      '--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication'],
    timeout: 60000,
  }), 90000, 'Chromium to start');
  context.setDefaultTimeout(20000);
  const close = async () => {
    await withTimeout(context.close(), 20000, 'Chromium to close').catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

// Collects console errors and uncaught page errors; `allowed` filters out the
// ones a test provokes on purpose.
export function watchConsole(page) {
  const errors = [];
  page.on('console', (msg) => { if (msg.type() === 'error') errors.push(`console: ${msg.text()}`); });
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  return {
    errors,
    unexpected: (allowed = []) => errors.filter((e) => !allowed.some((re) => re.test(e))),
  };
}

export function screenshotPath(name) {
  mkdirSync(env.out, { recursive: true });
  return path.join(env.out, name);
}
