/**
 * The documents in visualizations/: one Markdown file per machine (a Mermaid
 * block that GitHub renders, plus tables of states and transitions) and one
 * HTML page with every chart and Mermaid itself inlined, so that it opens
 * with no network. Output depends only on the machines and the Mermaid
 * version: no dates, so regenerating an unchanged tree changes nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chartOf, type Chart } from './chart.js';
import type { ChartedMachine } from './machines.js';

export const INDEX_PAGE = 'index.html';

export interface MermaidBundle {
  version: string;
  /** The browser build of Mermaid (an IIFE that defines `window.mermaid`). */
  script: string;
}

function tableCell(text: string): string {
  return text === '' ? ' ' : text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(headers: string[], rows: string[][]): string[] {
  return [
    `| ${headers.join(' | ')} |`,
    `| ${headers.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(tableCell).join(' | ')} |`),
  ];
}

export function markdownDocument(charted: ChartedMachine, chart: Chart): string {
  return [
    `# The \`${chart.machineId}\` machine`,
    '',
    `Generated from \`${charted.source}\`${charted.sourceDigest === undefined ? '' : ` (sha256 ${charted.sourceDigest}…)`} by \`make visualize\`; do not edit by hand.`,
    'Edges read `event [guard] / actions`; `after X` is a delayed transition, `done: X` and',
    '`error: X` are the outcomes of the invoked actor X, `always` is taken as soon as its guard holds.',
    '',
    '```mermaid',
    chart.mermaid,
    '```',
    '',
    '## States',
    '',
    ...table(
      ['state', 'kind', 'entry', 'exit', 'invokes'],
      chart.states.map((s) => [s.state, s.kind, s.entry, s.exit, s.invokes]),
    ),
    '',
    '## Transitions',
    '',
    ...table(
      ['from', 'event', 'guard', 'to', 'actions'],
      chart.transitions.map((t) => [t.source, t.event, t.guard, t.target, t.actions]),
    ),
    '',
  ].join('\n');
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Renders every chart on load and records the outcome on `document.body.dataset` for the browser test. */
const RENDER_SCRIPT = `
mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', theme: 'default' });
(async () => {
  const errors = [];
  for (const chart of document.querySelectorAll('pre.mermaid')) {
    try {
      await mermaid.run({ nodes: [chart], suppressErrors: false });
    } catch (error) {
      errors.push(chart.dataset.machine + ': ' + (error && error.message ? error.message : String(error)));
    }
  }
  document.body.dataset.renderErrors = JSON.stringify(errors);
  document.body.dataset.rendered = errors.length === 0 ? 'ok' : 'failed';
})();
`;

export function indexPage(
  charts: Array<{ charted: ChartedMachine; chart: Chart }>,
  mermaid: MermaidBundle,
): string {
  const sections = charts.map(({ charted, chart }) =>
    [
      `<section id="${escapeHtml(charted.name)}">`,
      `<h2>${escapeHtml(chart.machineId)} <small>${escapeHtml(charted.source)}</small></h2>`,
      `<pre class="mermaid" data-machine="${escapeHtml(charted.name)}">`,
      escapeHtml(chart.mermaid),
      '</pre>',
      '</section>',
    ].join('\n'),
  );
  // An inline script ends at the first `</script`; escaping it keeps the bundle intact.
  const bundle = mermaid.script.replace(/<\/script/gi, '<\\/script');
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<title>Host service state charts</title>',
    '<style>body{font-family:sans-serif;margin:2rem}section{margin-bottom:3rem}small{color:#666;font-weight:normal}</style>',
    '</head>',
    '<body>',
    '<h1>Host service state charts</h1>',
    `<p>Generated from the machine definitions by <code>make visualize</code>; Mermaid ${escapeHtml(mermaid.version)} is inlined, so the page needs no network.</p>`,
    `<nav>${charts.map(({ charted }) => `<a href="#${escapeHtml(charted.name)}">${escapeHtml(charted.name)}</a>`).join(' · ')}</nav>`,
    ...sections,
    `<script>${bundle}</script>`,
    `<script>${RENDER_SCRIPT}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Every document, by file name, as `make visualize` writes them. */
export function generateDocuments(machines: ChartedMachine[], mermaid: MermaidBundle): Map<string, string> {
  const charts = machines.map((charted) => ({ charted, chart: chartOf(charted.machine) }));
  const documents = new Map<string, string>();
  for (const { charted, chart } of charts)
    documents.set(`${charted.name}.md`, markdownDocument(charted, chart));
  documents.set(INDEX_PAGE, indexPage(charts, mermaid));
  return documents;
}

export function loadMermaidBundle(repoRoot: string): MermaidBundle {
  const dir = path.join(repoRoot, 'node_modules/mermaid');
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string };
  return { version: pkg.version, script: fs.readFileSync(path.join(dir, 'dist/mermaid.min.js'), 'utf8') };
}

export function writeDocuments(dir: string, documents: Map<string, string>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of documents) fs.writeFileSync(path.join(dir, name), text);
  for (const name of fs.readdirSync(dir)) {
    if (isGenerated(name) && !documents.has(name)) fs.rmSync(path.join(dir, name));
  }
}

function isGenerated(name: string): boolean {
  return name.endsWith('.md') || name === INDEX_PAGE;
}

/** Files in `dir` that differ from what would be generated now: changed, missing or left over. */
export function findDrift(dir: string, documents: Map<string, string>): string[] {
  const drift: string[] = [];
  for (const [name, text] of documents) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) drift.push(`${name} is missing`);
    else if (fs.readFileSync(file, 'utf8') !== text)
      drift.push(`${name} differs from the machine definitions`);
  }
  const present = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  for (const name of present.sort()) {
    if (isGenerated(name) && !documents.has(name)) drift.push(`${name} belongs to no machine`);
  }
  return drift;
}
