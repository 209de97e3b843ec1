// Browsers: the demo page in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core).
// Served with COOP/COEP the page is cross-origin isolated and generates on 2 threads; served without
// them it must fall back to one thread. The finished isolated page is saved to test/artifacts/.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startServer } from '../../examples/browser/serve.mjs';
import { artifactsDir, root, testModelFolder } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const profile = mkdtempSync(join(tmpdir(), 'dllm-chromium-'));
let context: BrowserContext;

interface DemoResult {
  text: string;
  threads: number;
  steps: number;
  tokensPerSecond: number;
  generatedTokens: number;
}

test.before(async () => {
  // A persistent context is the way to pass a fresh --user-data-dir.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
});

test.after(async () => {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
});

/** Opens the demo with autorun, waits for it to finish, and returns its result and console lines. */
async function runDemo(isolation: boolean, threads: number, screenshot?: string) {
  const server = await startServer({ port: 0, isolation });
  const page = await context.newPage();
  const consoleLines: string[] = [];
  const pageErrors: string[] = [];
  page.on('console', (message) => consoleLines.push(message.text()));
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  try {
    const params = new URLSearchParams({ threads: String(threads), autorun: '1' });
    const model = testModelFolder();
    if (!model.endsWith(join('models', 'sdar-micro'))) params.set('model', `/${relative(root, model)}/`);
    await page.goto(`${server.url}examples/browser/?${params}`);
    await page.waitForFunction(() => ['done', 'error'].includes(document.body.dataset.state ?? ''), null, { timeout: 120_000 });
    const state = await page.evaluate(() => document.body.dataset.state);
    const error = await page.evaluate(() => (window as unknown as { demoError?: string }).demoError ?? document.getElementById('status')?.textContent);
    assert.is(state, 'done', `demo ended in state ${state}: ${error}\n${consoleLines.join('\n')}`);
    const result = await page.evaluate(() => (window as unknown as { demoResult: DemoResult }).demoResult);
    const isolated = await page.evaluate(() => crossOriginIsolated);
    if (screenshot) {
      mkdirSync(artifactsDir, { recursive: true });
      await page.screenshot({ path: join(artifactsDir, screenshot), fullPage: true });
    }
    return { result, isolated, consoleLines, pageErrors };
  } finally {
    await page.close();
    await server.close();
  }
}

test('isolated page generates on 2 threads', async () => {
  const { result, isolated, consoleLines, pageErrors } = await runDemo(true, 2, 'browser-demo.png');
  assert.is(isolated, true);
  assert.is(result.threads, 2);
  assert.ok(result.generatedTokens > 0, `no tokens: ${JSON.stringify(result)}`);
  assert.ok(result.steps > 1, `the canvas was drawn ${result.steps} times`);
  assert.ok(result.tokensPerSecond > 0, `tokens/s ${result.tokensPerSecond}`);
  assert.equal(pageErrors, []);
  assert.ok(consoleLines.some((line) => line.includes('dllm-wasm: browser, 2 threads')), consoleLines.join('\n'));
});

test('page without COOP/COEP falls back to 1 thread', async () => {
  const { result, isolated, consoleLines, pageErrors } = await runDemo(false, 2);
  assert.is(isolated, false);
  assert.is(result.threads, 1);
  assert.ok(result.generatedTokens > 0, `no tokens: ${JSON.stringify(result)}`);
  assert.equal(pageErrors, []);
  assert.ok(consoleLines.some((line) => line.includes('1 thread with the single-thread kernels instead of 2')), consoleLines.join('\n'));
});

test.run();
