/**
 * Which transitions of a machine a test run has taken, against all the
 * transitions its definition has: a new transition without a test fails.
 */
import type { AnyStateMachine, InspectionEvent } from 'xstate';

interface TransitionLike {
  source: { id: string; transitions: Map<string, unknown[]>; always?: unknown[] };
  eventType: string;
}

interface NodeLike {
  id: string;
  transitions: Map<string, unknown[]>;
  always?: unknown[];
  states: Record<string, NodeLike>;
}

/** Invocation ids carry a counter (`xstate.done.actor.0.container...`) that differs between runs. */
function normalise(eventType: string): string {
  return eventType.replace(/^(xstate\.(?:done|error)\.actor\.)\d+\./, '$1');
}

export function allTransitions(machine: AnyStateMachine): Set<string> {
  const keys = new Set<string>();
  const walk = (node: NodeLike) => {
    for (const [eventType, list] of node.transitions) {
      list.forEach((_, i) => keys.add(`${node.id} | ${normalise(eventType)} | ${i}`));
    }
    node.always?.forEach((_, i) => keys.add(`${node.id} | always | ${i}`));
    Object.values(node.states).forEach(walk);
  };
  walk(machine.root as unknown as NodeLike);
  return keys;
}

export function transitionRecorder(machineId: string) {
  const taken = new Set<string>();
  const inspect = (event: InspectionEvent) => {
    if (event.type !== '@xstate.microstep') return;
    const transitions = (event as unknown as { _transitions: TransitionLike[] })._transitions;
    for (const t of transitions) {
      if (!t.source.id.startsWith(machineId)) continue;
      const list = t.eventType === '' ? t.source.always : t.source.transitions.get(t.eventType);
      const index = list?.indexOf(t) ?? -1;
      taken.add(`${t.source.id} | ${t.eventType === '' ? 'always' : normalise(t.eventType)} | ${index}`);
    }
  };
  return { taken, inspect };
}
