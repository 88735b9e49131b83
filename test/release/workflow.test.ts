/**
 * .github/workflows/publish.yml: valid by GitHub's own workflow parser and
 * schema (@actions/workflow-parser), and every `make` target it runs exists.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { NoOperationTraceWriter, convertWorkflowTemplate, parseWorkflow } from '@actions/workflow-parser';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/service.js';

const WORKFLOW = '.github/workflows/publish.yml';
const content = fs.readFileSync(path.join(repoRoot, WORKFLOW), 'utf8');

async function checkWorkflow(text: string): Promise<{ errors: string[]; runs: string[] }> {
  const parsed = parseWorkflow({ name: WORKFLOW, content: text }, new NoOperationTraceWriter());
  const errors = () => parsed.context.errors.getErrors().map((e) => e.message);
  if (parsed.value === undefined) return { errors: errors(), runs: [] };
  const template = await convertWorkflowTemplate(parsed.context, parsed.value);
  const runs = (template.jobs ?? [])
    .flatMap((job) => ('steps' in job ? job.steps : []))
    .flatMap((step) => ('run' in step ? [step.run.toString()] : []));
  return { errors: errors(), runs };
}

const workflowErrors = async (text: string) => (await checkWorkflow(text)).errors;

/** `make -n TARGET`: make resolves the target without running anything; unknown targets fail. */
function makeKnows(target: string): boolean {
  try {
    execFileSync('make', ['-n', '--no-print-directory', target], { cwd: repoRoot, stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

describe('the publish workflow', () => {
  it('passes the GitHub workflow schema', async () => {
    expect(await workflowErrors(content)).toEqual([]);
  });

  it('is checked by a validator that does reject a broken workflow', async () => {
    const broken = content.replace(
      'runs-on: ubuntu-24.04',
      'runs-on: ubuntu-24.04\n    runs-everywhere: true',
    );
    expect(broken).not.toBe(content);
    expect((await workflowErrors(broken)).join('\n')).toMatch(/runs-everywhere/);
  });

  it('runs make lint, make test and make release on a push to main, each a target the Makefile has', async () => {
    expect(content).toMatch(/on:\n {2}push:\n {4}branches: \[main\]/);
    const { runs } = await checkWorkflow(content);
    const targets = runs.flatMap((run) => [...run.matchAll(/\bmake ([a-z][a-z-]*)/g)].map((m) => m[1]!));
    expect(targets).toEqual(['lint', 'test', 'release']);
    for (const target of targets) expect(makeKnows(target), `make ${target}`).toBe(true);
    expect(makeKnows('no-such-target')).toBe(false);
  });

  it('takes every credential from the secret store', () => {
    for (const name of [
      'HOST_SERVICE_AUTH_SECRET_PROD',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'SENTRY_AUTH_TOKEN',
    ]) {
      expect(content).toContain(`${name}: \${{ secrets.${name} }}`);
    }
  });
});
