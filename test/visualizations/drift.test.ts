import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { containerMachine } from '../../machines/container/machine.js';
import { findDrift, generateDocuments, loadMermaidBundle, writeDocuments } from '../../scripts/visualize/documents.js';
import { chartedMachines, type ChartedMachine } from '../../scripts/visualize/machines.js';
import { repoRoot } from '../support/service.js';

const run = promisify(execFile);
// A stand-in for Mermaid: the drift check compares text and needs no real bundle.
const mermaid = { version: '0.0.0-test', script: 'window.mermaid = {};' };
const tempDirs: string[] = [];

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hs-visualizations-'));
  tempDirs.push(dir);
  return dir;
}

/** The container machine with one more state: a change somebody forgot to regenerate the charts for. */
function changedContainerMachine(): ChartedMachine {
  const config = containerMachine.config;
  const machine = createMachine({
    ...config,
    states: {
      ...config.states,
      paused: { on: { 'container.resumed': { target: 'running' } } },
    },
  } as typeof config);
  return { name: 'container', source: 'machines/container/machine.ts', machine };
}

afterEach(() => {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the visualizations drift check', () => {
  it('passes on documents generated from the same machines', () => {
    const dir = tempDir();
    const documents = generateDocuments(chartedMachines, mermaid);
    writeDocuments(dir, documents);
    expect(findDrift(dir, documents)).toEqual([]);
    // Generating twice gives the same bytes: nothing time-dependent in the output.
    expect(generateDocuments(chartedMachines, mermaid)).toEqual(documents);
  });

  it('fails when the container machine changed and the documents were not regenerated', () => {
    const dir = tempDir();
    writeDocuments(dir, generateDocuments(chartedMachines, mermaid));
    const changed = chartedMachines.map((m) => (m.name === 'container' ? changedContainerMachine() : m));
    const now = generateDocuments(changed, mermaid);
    expect(now.get('container.md')).toContain('paused --> running : container.resumed');
    expect(findDrift(dir, now)).toEqual([
      'container.md differs from the machine definitions',
      'index.html differs from the machine definitions',
    ]);
  });

  it('fails when a machine file changed without changing the chart (a comment, say)', () => {
    const dir = tempDir();
    writeDocuments(dir, generateDocuments(chartedMachines, mermaid));
    const edited = chartedMachines.map((m) => (m.name === 'host' ? { ...m, sourceDigest: '0'.repeat(16) } : m));
    expect(findDrift(dir, generateDocuments(edited, mermaid))).toEqual([
      'host.md differs from the machine definitions',
    ]);
  });

  it('fails on a missing document and on a document that belongs to no machine', () => {
    const dir = tempDir();
    const documents = generateDocuments(chartedMachines, mermaid);
    writeDocuments(dir, documents);
    fs.rmSync(path.join(dir, 'host.md'));
    fs.writeFileSync(path.join(dir, 'retired.md'), '# an old chart\n');
    expect(findDrift(dir, documents)).toEqual(['host.md is missing', 'retired.md belongs to no machine']);
  });

  it('the committed visualizations match the machines', () => {
    const documents = generateDocuments(chartedMachines, loadMermaidBundle(repoRoot));
    expect(findDrift(path.join(repoRoot, 'visualizations'), documents)).toEqual([]);
  });

  it('`visualize.ts --check` exits 1 and names the document on an edited copy', async () => {
    const copy = tempDir();
    fs.cpSync(path.join(repoRoot, 'visualizations'), copy, { recursive: true });
    const doc = path.join(copy, 'service.md');
    fs.writeFileSync(doc, fs.readFileSync(doc, 'utf8').replace('notifying', 'notifyingEveryone'));
    const check = run(process.execPath, ['--import', 'tsx', 'scripts/visualize.ts', '--check', '--dir', copy], {
      cwd: repoRoot,
    });
    await expect(check).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('service.md differs from the machine definitions'),
    });
  }, 60_000);
});
