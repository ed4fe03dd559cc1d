// Holds the policy in force and swaps it atomically on a valid reload. An
// invalid reload is rejected whole: the last good policy stays, and the
// rejection is reported to the listeners (log, metric, Kubernetes Event).
import type { PolicyIssue, PolicySnapshot } from "./model.js";
import { formatIssue } from "./model.js";
import { loadPolicyText } from "./load.js";

export type ReloadOutcome =
  | { readonly result: "applied"; readonly snapshot: PolicySnapshot; readonly warnings: readonly PolicyIssue[] }
  | { readonly result: "unchanged"; readonly snapshot: PolicySnapshot }
  | { readonly result: "rejected"; readonly source: string; readonly errors: readonly PolicyIssue[]; readonly kept?: PolicySnapshot };

export type ReloadListener = (outcome: ReloadOutcome) => void;

export class PolicyStore {
  #current: PolicySnapshot | undefined;
  #generation = 0;
  readonly #listeners: ReloadListener[] = [];

  /** The policy in force, or undefined before the first successful load. */
  current(): PolicySnapshot | undefined {
    return this.#current;
  }

  ready(): boolean {
    return this.#current !== undefined;
  }

  onReload(listener: ReloadListener): void {
    this.#listeners.push(listener);
  }

  /** Reports a source that could not even be read; the policy in force stays. */
  reject(source: string, errors: readonly PolicyIssue[]): ReloadOutcome {
    const outcome: ReloadOutcome = { result: "rejected", source, errors, ...(this.#current ? { kept: this.#current } : {}) };
    for (const l of this.#listeners) l(outcome);
    return outcome;
  }

  /** Validates `text` and puts it in force if valid. */
  apply(text: string, source: string): ReloadOutcome {
    const loaded = loadPolicyText(text);
    let outcome: ReloadOutcome;
    if (!loaded.ok) {
      outcome = { result: "rejected", source, errors: loaded.errors, ...(this.#current ? { kept: this.#current } : {}) };
    } else if (this.#current !== undefined && this.#current.digest === loaded.digest && this.#current.source === source) {
      outcome = { result: "unchanged", snapshot: this.#current };
    } else {
      this.#generation += 1;
      this.#current = { policy: loaded.policy, generation: this.#generation, source, loadedAt: new Date(), digest: loaded.digest };
      outcome = { result: "applied", snapshot: this.#current, warnings: loaded.warnings };
    }
    for (const l of this.#listeners) l(outcome);
    return outcome;
  }
}

export function describeRejection(errors: readonly PolicyIssue[]): string {
  return errors.map(formatIssue).join("; ");
}
