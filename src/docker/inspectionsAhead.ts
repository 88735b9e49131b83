/**
 * A container's first inspection, asked for as its `start` event comes off
 * the engine's stream, before the host's and the container's machine steps
 * run (about half a millisecond of JavaScript on a host's cold path). The
 * engine answers while those steps run, and the container's actor takes
 * the answer when it asks. Start → `tty`, one at a time, in turn with the
 * build before on a quiet engine: p50 0.14-0.39 ms lower in six pairs of
 * six, the CPU a lifecycle unchanged (bench/MEASUREMENTS.md, "A quiet
 * day").
 *
 * Only an answer the container's own first inspection can use is kept: one
 * asked for a live start (the event at most `maxAgeMs` old: a replay after
 * a reconnection is left to the actors, who mostly know it already), taken
 * at most `maxAgeMs` after it was asked, once. A die forgets it; a later
 * inspection (a retry, an adopted container) asks the engine itself. At
 * most `maxEntries` are held, so a burst of starts cannot grow the map
 * without bound: past that, a start is inspected when its actor asks, as
 * before. A GET changes nothing on the engine, so an answer asked for
 * and never taken costs one call and nothing else.
 */
import { timeNanoToMs, type ContainerInspection, type DockerObservation } from '../../machines/events.js';

export interface InspectionsAheadOptions {
  /** How old a start event and an answer asked for it may be (ms). */
  maxAgeMs: number;
  /** How many answers asked ahead are held at most. */
  maxEntries: number;
  now: () => number;
}

const DEFAULTS: InspectionsAheadOptions = { maxAgeMs: 1_000, maxEntries: 64, now: Date.now };

interface AskedAhead {
  askedAtMs: number;
  answer: Promise<ContainerInspection>;
}

export class InspectionsAhead {
  private readonly asked = new Map<string, AskedAhead>();
  private readonly options: InspectionsAheadOptions;

  constructor(
    private readonly inspectNow: (containerId: string) => Promise<ContainerInspection>,
    options: Partial<InspectionsAheadOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** Every observation of the engine's stream, before the host gets it. */
  observe(event: DockerObservation): void {
    if (event.type === 'docker.die') {
      this.asked.delete(event.containerId);
      return;
    }
    if (event.type !== 'docker.start') return;
    const now = this.options.now();
    if (now - timeNanoToMs(event.timeNano) > this.options.maxAgeMs) return;
    this.forgetOlderThan(now - this.options.maxAgeMs);
    if (this.asked.size >= this.options.maxEntries) return;
    const answer = this.inspectNow(event.containerId);
    // A failure is the taker's to handle; an answer nobody takes is dropped with it.
    answer.catch(() => {});
    // Deleted first so that a second start of the same container goes to the end, in asking order.
    this.asked.delete(event.containerId);
    this.asked.set(event.containerId, { askedAtMs: now, answer });
  }

  /** The container's inspection: the answer asked ahead for it if there is a fresh one, else a new one. */
  inspect(containerId: string): Promise<ContainerInspection> {
    const ahead = this.asked.get(containerId);
    if (ahead !== undefined) {
      this.asked.delete(containerId);
      if (this.options.now() - ahead.askedAtMs <= this.options.maxAgeMs) return ahead.answer;
    }
    return this.inspectNow(containerId);
  }

  /** How many answers are held (for tests). */
  get size(): number {
    return this.asked.size;
  }

  private forgetOlderThan(oldestMs: number): void {
    // Insertion order is asking order: the oldest come first.
    for (const [containerId, ahead] of this.asked) {
      if (ahead.askedAtMs >= oldestMs) break;
      this.asked.delete(containerId);
    }
  }
}
