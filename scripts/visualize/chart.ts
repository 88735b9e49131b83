/**
 * Turns an XState machine definition into a Mermaid `stateDiagram-v2` chart
 * and a plain list of its transitions, by walking the machine's own state
 * nodes: nothing here is drawn by hand, so the chart cannot drift from the
 * code without the drift check noticing.
 */
import type { AnyStateMachine } from 'xstate';

/** The parts of an XState v5 state node that the charts read. */
interface ChartNode {
  key: string;
  id: string;
  path: string[];
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  states: Record<string, ChartNode>;
  parent?: ChartNode;
  initial?: { target: ChartNode[] };
  transitions: Map<string, ChartTransition[]>;
  always?: ChartTransition[];
  after: Array<ChartTransition & { delay: string | number }>;
  entry: unknown[];
  exit: unknown[];
  invoke: Array<{ id: string; src: unknown }>;
}

interface ChartTransition {
  eventType: string;
  target?: ChartNode[];
  guard?: unknown;
  actions: unknown[];
  reenter: boolean;
}

export interface TransitionRow {
  source: string;
  event: string;
  guard: string;
  target: string;
  actions: string;
}

export interface StateRow {
  state: string;
  kind: string;
  entry: string;
  exit: string;
  invokes: string;
}

export interface Chart {
  machineId: string;
  mermaid: string;
  states: StateRow[];
  transitions: TransitionRow[];
}

const AFTER_PREFIX = 'xstate.after.';
const DONE_PREFIX = 'xstate.done.actor.';
const ERROR_PREFIX = 'xstate.error.actor.';
const DONE_STATE_PREFIX = 'xstate.done.state.';

function rootOf(machine: AnyStateMachine): ChartNode {
  // The machine's root is a StateNode; its typed surface is wider than what the charts read.
  return machine.root as unknown as ChartNode;
}

function childrenOf(node: ChartNode): ChartNode[] {
  return Object.values(node.states);
}

function allNodes(node: ChartNode): ChartNode[] {
  return [node, ...childrenOf(node).flatMap(allNodes)];
}

/** Short names where a state's key is unique in the machine, its path otherwise. */
function nameStates(root: ChartNode): Map<ChartNode, string> {
  const nodes = allNodes(root).filter((n) => n !== root);
  const counts = new Map<string, number>();
  for (const n of nodes) counts.set(n.key, (counts.get(n.key) ?? 0) + 1);
  const names = new Map<ChartNode, string>();
  for (const n of nodes) {
    const name = counts.get(n.key) === 1 ? n.key : n.path.join('_');
    names.set(n, name.replace(/[^A-Za-z0-9_]/g, '_'));
  }
  return names;
}

function displayPath(node: ChartNode): string {
  return node.path.length === 0 ? '(machine)' : node.path.join('.');
}

/** A readable name for a guard: its type, negations and combinations spelled out. */
export function describeGuard(guard: unknown): string {
  if (guard === undefined) return '';
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const builtIn = guard as { check?: unknown; guards?: unknown[] };
    const name = (guard as { name?: string }).name;
    if (Array.isArray(builtIn.guards) && name !== undefined) {
      const parts = builtIn.guards.map(describeGuard);
      if (name === 'not') return `not ${parts[0]}`;
      return parts.join(` ${name} `);
    }
    return 'inline guard';
  }
  if (typeof guard === 'object' && guard !== null && 'type' in guard) {
    return String((guard as { type: unknown }).type);
  }
  return 'guard';
}

/** A readable name for an action: the placeholder's name, or what a built-in action does. */
export function describeAction(action: unknown): string | undefined {
  if (typeof action === 'string') return action;
  if (typeof action === 'object' && action !== null && 'type' in action) {
    return String((action as { type: unknown }).type);
  }
  if (typeof action !== 'function') return 'action';
  const builtIn = action as {
    type?: string;
    to?: unknown;
    id?: unknown;
    assignment?: unknown;
    sendId?: unknown;
  };
  switch (builtIn.type) {
    case 'xstate.assign': {
      const assignment = builtIn.assignment;
      const keys =
        typeof assignment === 'object' && assignment !== null ? Object.keys(assignment).sort() : [];
      return keys.length > 0 ? `assign(${keys.join(', ')})` : 'assign';
    }
    case 'xstate.sendTo':
      if (builtIn.to === '#_parent') return 'sendParent';
      return typeof builtIn.to === 'string' ? `sendTo(${builtIn.to})` : 'sendTo';
    case 'xstate.raise':
      // Delayed transitions schedule themselves with a raise; the chart shows them as `after` edges.
      return typeof builtIn.id === 'string' && builtIn.id.startsWith(AFTER_PREFIX) ? undefined : 'raise';
    case 'xstate.cancel':
      return typeof builtIn.sendId === 'string' && builtIn.sendId.startsWith(AFTER_PREFIX)
        ? undefined
        : 'cancel';
    case 'xstate.enqueueActions':
      return 'enqueueActions';
    case undefined:
      return 'inline action';
    default:
      return builtIn.type.replace(/^xstate\./, '');
  }
}

function describeActions(actions: readonly unknown[]): string[] {
  return actions.map(describeAction).filter((a): a is string => a !== undefined);
}

function describeDelay(delay: string | number): string {
  return typeof delay === 'number' ? `${delay} ms` : delay;
}

function srcName(src: unknown): string {
  if (typeof src === 'string') return src;
  const id = (src as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' ? id : 'inline actor';
}

/** What caused a transition, in the words of the machine's definition. */
function describeEvent(node: ChartNode, eventType: string): string {
  if (eventType === '') return 'always';
  if (eventType.startsWith(AFTER_PREFIX)) {
    const delayed = node.after.find((a) => a.eventType === eventType);
    return `after ${delayed ? describeDelay(delayed.delay) : eventType.slice(AFTER_PREFIX.length)}`;
  }
  for (const [prefix, outcome] of [
    [DONE_PREFIX, 'done'],
    [ERROR_PREFIX, 'error'],
  ] as const) {
    if (eventType.startsWith(prefix)) {
      const invokeId = eventType.slice(prefix.length);
      const invoked = allNodes(node)
        .flatMap((n) => n.invoke)
        .find((i) => i.id === invokeId);
      return `${outcome}: ${invoked ? srcName(invoked.src) : invokeId}`;
    }
  }
  if (eventType.startsWith(DONE_STATE_PREFIX)) return 'done';
  return eventType;
}

/** Mermaid reads `:` as the start of a label and `;` and `#` as syntax: keep labels to plain words. */
function mermaidText(text: string): string {
  return text.replace(/[;#:]/g, ' ').replace(/\s+/g, ' ').trim();
}

function transitionsOf(node: ChartNode): ChartTransition[] {
  const list: ChartTransition[] = [];
  for (const [eventType, transitions] of node.transitions) {
    for (const t of transitions) list.push({ ...t, eventType });
  }
  for (const t of node.always ?? []) list.push({ ...t, eventType: '' });
  return list;
}

function label(node: ChartNode, t: ChartTransition): string {
  const guard = describeGuard(t.guard);
  const actions = describeActions(t.actions);
  return [
    describeEvent(node, t.eventType),
    guard === '' ? '' : ` [${guard}]`,
    actions.length === 0 ? '' : ` / ${actions.join(', ')}`,
  ].join('');
}

function isDescendant(node: ChartNode, ancestor: ChartNode): boolean {
  for (let n: ChartNode | undefined = node; n !== undefined; n = n.parent) if (n === ancestor) return true;
  return false;
}

export function chartOf(machine: AnyStateMachine): Chart {
  const root = rootOf(machine);
  const names = nameStates(root);
  const nameOf = (n: ChartNode) => names.get(n)!;
  const lines: string[] = ['stateDiagram-v2'];
  const edges: string[] = [];
  const notes: string[] = [];
  const stateRows: StateRow[] = [];
  const transitionRows: TransitionRow[] = [];

  const stateDescriptions = (node: ChartNode): string[] => {
    const out: string[] = [];
    const entry = describeActions(node.entry);
    const exit = describeActions(node.exit);
    if (entry.length > 0) out.push(`entry / ${entry.join(', ')}`);
    if (exit.length > 0) out.push(`exit / ${exit.join(', ')}`);
    for (const i of node.invoke) out.push(`invoke ${srcName(i.src)}`);
    return out;
  };

  /** Events a state handles without leaving it, by state. */
  const inPlace = new Map<ChartNode, string[]>();
  const machineWide = 'any_state';

  const visitTransitions = (node: ChartNode) => {
    for (const t of transitionsOf(node)) {
      const targets = t.target ?? [];
      const text = label(node, t);
      transitionRows.push({
        source: displayPath(node),
        event: describeEvent(node, t.eventType),
        guard: describeGuard(t.guard),
        target: targets.length === 0 ? '(stays)' : targets.map(displayPath).join(', '),
        actions: describeActions(t.actions).join(', '),
      });
      if (targets.length === 0 || targets.every((target) => target === node && !t.reenter)) {
        // Handled in place: shown on the state itself rather than as a loop.
        inPlace.set(node, [...(inPlace.get(node) ?? []), `on ${text}`]);
        continue;
      }
      // The machine's own transitions apply in every state: they leave from one "any state" box.
      const from = node === root ? machineWide : nameOf(node);
      for (const target of targets) edges.push(`${from} --> ${nameOf(target)} : ${mermaidText(text)}`);
    }
  };

  const declare = (node: ChartNode, indent: string) => {
    const name = nameOf(node);
    const children = childrenOf(node);
    stateRows.push({
      state: displayPath(node),
      kind: node.type,
      entry: describeActions(node.entry).join(', '),
      exit: describeActions(node.exit).join(', '),
      invokes: node.invoke.map((i) => srcName(i.src)).join(', '),
    });
    const described = [...stateDescriptions(node), ...(inPlace.get(node) ?? [])];
    if (children.length === 0) {
      lines.push(`${indent}state "${node.key}" as ${name}`);
      for (const d of described) lines.push(`${indent}${name} : ${mermaidText(d)}`);
      return;
    }
    lines.push(`${indent}state ${name} {`);
    declareChildren(node, `${indent}  `);
    lines.push(`${indent}}`);
    // Mermaid shows no descriptions on a compound state: its own entry, exit, invocations and events go in a note.
    if (described.length > 0) {
      notes.push(`note right of ${name}`, ...described.map((d) => `  ${mermaidText(d)}`), 'end note');
    }
  };

  const declareChildren = (node: ChartNode, indent: string) => {
    const children = childrenOf(node);
    if (node.type === 'parallel') {
      children.forEach((child, i) => {
        if (i > 0) lines.push(`${indent}--`);
        declare(child, indent);
      });
      return;
    }
    for (const target of node.initial?.target ?? []) {
      if (isDescendant(target, node)) lines.push(`${indent}[*] --> ${nameOf(target)}`);
    }
    for (const child of children) declare(child, indent);
    for (const child of children) {
      if (child.type === 'final') lines.push(`${indent}${nameOf(child)} --> [*]`);
    }
  };

  for (const node of allNodes(root)) visitTransitions(node);
  declareChildren(root, '  ');
  const rootHandlers = [...stateDescriptions(root), ...(inPlace.get(root) ?? [])];
  if (rootHandlers.length > 0 || edges.some((e) => e.startsWith(`${machineWide} `))) {
    lines.push(`  state "any state" as ${machineWide}`);
    for (const d of rootHandlers) lines.push(`  ${machineWide} : ${mermaidText(d)}`);
    lines.push(`  classDef machineWide stroke-dasharray:5 5`, `  class ${machineWide} machineWide`);
  }
  // Edges come after every state is declared, so Mermaid places each state in its own parent.
  lines.push(...edges.map((e) => `  ${e}`), ...notes.map((n) => `  ${n}`));
  return { machineId: machine.id, mermaid: lines.join('\n'), states: stateRows, transitions: transitionRows };
}
