// Headless Chromium for the browser tests (Debian `chromium`, driven by playwright-core): whether it can
// run here, and one page at a time with its console collected. Flags as ../shared/ENVIRONMENT.md gives
// them: WebGPU on (SwiftShader on a GPU-less Linux), and nothing that reaches for the network.
import { existsSync } from 'node:fs';
import { runtime } from '../lib/harness.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--disable-dev-shm-usage',
];

type Playwright = typeof import('playwright-core');
let playwright: Playwright | null = null;

/** Why the browser tests cannot run here ('' when they can). */
export async function chromiumMissing(): Promise<string> {
  if (runtime !== 'node') return `the browser test runs under Node (vitest), not ${runtime}`;
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;
  try {
    playwright = await import('playwright-core');
  } catch (err) {
    return `playwright-core does not load: ${err}`;
  }
  return '';
}

export interface OpenPage {
  page: import('playwright-core').Page;
  /** the page's console messages and uncaught errors, in order */
  logs: string[];
  close(): Promise<void>;
}

/** A fresh headless Chromium showing `url`; call close() when done. */
export async function openPage(url: string): Promise<OpenPage> {
  if (!playwright) throw new Error('call chromiumMissing() first');
  const browser = await playwright.chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  try {
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push(String(e)));
    await page.goto(url);
    return { page, logs, close: () => browser.close() };
  } catch (err) {
    await browser.close();
    throw err;
  }
}
