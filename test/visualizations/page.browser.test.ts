/**
 * The chart page in a real browser: Debian's Chromium, driven by
 * playwright-core, opens visualizations/index.html from disk with no network
 * and must render every chart as an SVG state diagram.
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chartedMachines } from '../../scripts/visualize/machines.js';
import { repoRoot } from '../support/service.js';

const CHROMIUM = '/usr/bin/chromium';
const page = path.join(repoRoot, 'visualizations/index.html');
const artifacts = path.join(repoRoot, 'test-artifacts');

interface PageOutcome {
  rendered: string | undefined;
  errors: string[];
  charts: Array<{ machine: string; role: string | null; states: number; width: number; errorText: boolean }>;
}

// Runs in the page; kept as source text so that this file needs no DOM typings.
const READ_OUTCOME = `({
  rendered: document.body.dataset.rendered,
  errors: JSON.parse(document.body.dataset.renderErrors ?? '[]'),
  charts: [...document.querySelectorAll('pre.mermaid')].map((chart) => {
    const svg = chart.querySelector('svg');
    return {
      machine: chart.dataset.machine,
      role: svg ? svg.getAttribute('aria-roledescription') : null,
      states: svg ? svg.querySelectorAll('g.node').length : 0,
      width: svg ? svg.getBoundingClientRect().width : 0,
      errorText: /syntax error/i.test(chart.textContent ?? ''),
    };
  }),
})`;

describe('the state chart page in Chromium', () => {
  let browser: Browser;

  beforeAll(async () => {
    if (!fs.existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} is missing: run \`scripts/install-deps.sh browser\` (Debian package chromium)`);
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('renders every machine as an SVG state diagram with no Mermaid error', async () => {
    const context = await browser.newContext({ viewport: { width: 1600, height: 1200 } });
    // Everything the page needs is inline: any request beyond the file itself is a defect.
    const requests: string[] = [];
    context.on('request', (r) => requests.push(r.url()));
    const tab = await context.newPage();
    const consoleErrors: string[] = [];
    tab.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    tab.on('pageerror', (e) => consoleErrors.push(e.message));

    await tab.goto(pathToFileURL(page).href);
    await tab.waitForFunction('document.body.dataset.rendered !== undefined', undefined, { timeout: 60_000 });
    const outcome = await tab.evaluate<PageOutcome>(READ_OUTCOME);

    fs.mkdirSync(artifacts, { recursive: true });
    await tab.screenshot({ path: path.join(artifacts, 'visualizations.png'), fullPage: true });
    await context.close();

    expect(outcome.errors).toEqual([]);
    expect(outcome.rendered).toBe('ok');
    expect(outcome.charts.map((c) => c.machine)).toEqual(chartedMachines.map((m) => m.name));
    for (const chart of outcome.charts) {
      expect(chart.role, `${chart.machine} rendered as a state diagram`).toBe('stateDiagram');
      expect(chart.errorText, `${chart.machine} shows no Mermaid error`).toBe(false);
      expect(chart.states, `${chart.machine} has drawn states`).toBeGreaterThan(3);
      expect(chart.width).toBeGreaterThan(100);
    }
    expect(consoleErrors).toEqual([]);
    expect(requests.filter((url) => !url.startsWith('file://') && !url.startsWith('data:'))).toEqual([]);
  });
});
