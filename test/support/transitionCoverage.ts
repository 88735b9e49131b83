/**
 * Which transitions of a machine a test run has taken, against all the
 * transitions its definition has: a new transition without a test fails.
 *
 * Only public XState API: the definition's state nodes (`on`, `always`,
 * `states`) for the full list, and for each microstep an actor reports, the
 * machine's own `getTransitionData(snapshot before, event)`, which is how
 * XState itself selects the transitions of an event. Delayed (`xstate.after.*`)
 * and invocation results (`xstate.done.actor.*`, `xstate.error.actor.*`) are
 * events like the others.
 *
 * Eventless (`always`) transitions have no event to ask about. XState takes
 * them before any raised event whenever one is enabled, so a microstep that is
 * not the first of its macrostep is eventless exactly when the snapshot before
 * it enables one; which one is asked of a copy of the machine (`eventlessProbe`)
 * where each `always` list is also filed under a made-up event.
 *
 * Not seen: the first microstep of an actor's start, before any snapshot of it
 * exists (an eventless transition or raised event of the initial state). Such
 * a transition shows as untaken, so the coverage test fails rather than passes.
 */
import {
  isMachineSnapshot,
  StateMachine,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
  type AnyStateNode,
  type AnyTransitionDefinition,
  type InspectionEvent,
} from 'xstate';

/** A default invocation id starts with the invoke's index (`xstate.done.actor.0.container...`); keys leave it out. */
function normalise(eventType: string): string {
  return eventType.replace(/^(xstate\.(?:done|error)\.actor\.)\d+\./, '$1');
}

const transitionKey = (stateId: string, eventType: string, index: number) =>
  `${stateId} | ${normalise(eventType)} | ${index}`;

export function allTransitions(machine: AnyStateMachine): Set<string> {
  const keys = new Set<string>();
  const walk = (node: AnyStateNode) => {
    for (const [eventType, list] of Object.entries(node.on)) {
      list.forEach((_, i) => keys.add(transitionKey(node.id, eventType, i)));
    }
    node.always?.forEach((_, i) => keys.add(transitionKey(node.id, 'always', i)));
    Object.values(node.states).forEach(walk);
  };
  walk(machine.root);
  return keys;
}

/** The made-up event under which the probe files each state's `always` list. */
const EVENTLESS = 'transitionCoverage.eventless';

type AnyStateConfig = NonNullable<AnyStateMachine['config']['states']>[string];

function withEventlessFiled(config: AnyStateConfig): AnyStateConfig {
  const states = config.states;
  return {
    ...config,
    ...(config.always === undefined ? {} : { on: { ...config.on, [EVENTLESS]: config.always } }),
    ...(states === undefined
      ? {}
      : { states: Object.fromEntries(Object.entries(states).map(([k, s]) => [k, withEventlessFiled(s)])) }),
  };
}

const probes = new WeakMap<AnyStateMachine, AnyStateMachine>();

/** The same machine and implementations, with each `always` list also reachable by the EVENTLESS event. */
function eventlessProbe(machine: AnyStateMachine): AnyStateMachine {
  let probe = probes.get(machine);
  if (probe === undefined) {
    probe = new StateMachine(withEventlessFiled(machine.config), machine.implementations);
    probes.set(machine, probe);
  }
  return probe;
}

/** The eventless transitions the snapshot enables, as XState would pick them; the probe's own definitions. */
function enabledEventless(snapshot: AnyMachineSnapshot, event: AnyEventObject): AnyTransitionDefinition[] {
  const probe = eventlessProbe(snapshot.machine);
  const probeSnapshot = probe.resolveState({ value: snapshot.value, context: snapshot.context });
  return probe.getTransitionData(probeSnapshot, { ...event, type: EVENTLESS });
}

interface ActorProgress {
  /** The actor's snapshot before the next microstep. */
  before: AnyMachineSnapshot | undefined;
  /** No microstep since the last snapshot: the next one is the event's own. */
  atMacrostepStart: boolean;
}

export function transitionRecorder(machineId: string) {
  const taken = new Set<string>();
  const progress = new Map<string, ActorProgress>();
  const take = (transitions: AnyTransitionDefinition[], eventless: boolean) => {
    for (const t of transitions) {
      const list = t.source.on[t.eventType] ?? [];
      taken.add(transitionKey(t.source.id, eventless ? 'always' : t.eventType, list.indexOf(t)));
    }
  };
  const inspect = (inspection: InspectionEvent) => {
    if (inspection.type !== '@xstate.snapshot' && inspection.type !== '@xstate.microstep') return;
    const { snapshot, event } = inspection;
    if (!isMachineSnapshot(snapshot) || snapshot.machine.id !== machineId) return;
    const actor = progress.get(inspection.actorRef.sessionId) ?? {
      before: undefined,
      atMacrostepStart: true,
    };
    progress.set(inspection.actorRef.sessionId, actor);
    if (inspection.type === '@xstate.snapshot') {
      actor.before = snapshot;
      actor.atMacrostepStart = true;
      return;
    }
    const before = actor.before;
    if (before !== undefined) {
      const eventless =
        actor.atMacrostepStart && event.type !== 'xstate.init' ? [] : enabledEventless(before, event);
      if (eventless.length > 0) take(eventless, true);
      else take(before.machine.getTransitionData(before, event), false);
    }
    actor.before = snapshot;
    actor.atMacrostepStart = false;
  };
  return { taken, inspect };
}
