// Picks the first rule whose match holds, recording why each earlier rule did not.
import type { Policy, Rule } from "../policy/model.js";
import { explainLabelSelector } from "../policy/selector.js";

export interface PodFacts {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly gpus: number;
  readonly namespaceLabels: Readonly<Record<string, string>>;
}

export interface RuleTrial {
  readonly rule: string;
  readonly matched: boolean;
  /** Why it did not match; "matched" when it did. */
  readonly reason: string;
}

export interface MatchOutcome {
  readonly rule?: Rule;
  readonly trials: readonly RuleTrial[];
}

/** A rule's namespace list as the reasons show it, made once per (immutable) set. */
const namespaceLists = new WeakMap<ReadonlySet<string>, string>();

function namespaceList(namespaces: ReadonlySet<string>): string {
  let text = namespaceLists.get(namespaces);
  if (text === undefined) namespaceLists.set(namespaces, (text = [...namespaces].join(", ")));
  return text;
}

export function explainRuleMismatch(rule: Rule, pod: PodFacts): string | undefined {
  const m = rule.match;
  if (m.namespaces !== undefined && !m.namespaces.has(pod.namespace)) {
    return `namespace ${pod.namespace} is not in [${namespaceList(m.namespaces)}]`;
  }
  if (m.namespaceSelector !== undefined) {
    const why = explainLabelSelector(m.namespaceSelector, pod.namespaceLabels);
    if (why !== undefined) return `namespaceSelector: ${why}`;
  }
  if (m.podSelector !== undefined) {
    const why = explainLabelSelector(m.podSelector, pod.labels);
    if (why !== undefined) return `podSelector: ${why}`;
  }
  if (pod.gpus < m.gpus.min) return `requests ${pod.gpus} GPU${pod.gpus === 1 ? "" : "s"}, rule needs at least ${m.gpus.min}`;
  if (m.gpus.max !== undefined && pod.gpus > m.gpus.max) return `requests ${pod.gpus} GPUs, rule allows at most ${m.gpus.max}`;
  return undefined;
}

export function matchRule(policy: Policy, pod: PodFacts): MatchOutcome {
  const trials: RuleTrial[] = [];
  for (const rule of policy.rules) {
    const why = explainRuleMismatch(rule, pod);
    if (why === undefined) {
      trials.push({ rule: rule.name, matched: true, reason: "matched" });
      return { rule, trials };
    }
    trials.push({ rule: rule.name, matched: false, reason: why });
  }
  return { trials };
}
