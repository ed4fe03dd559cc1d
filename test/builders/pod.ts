// pod().namespace("ml").labels({...}).gpus(4).build(): the smallest pod a test
// needs, with only the fields it names. `.defaulted()` adds what kube-apiserver
// fills in before mutating webhooks run (defaults + built-in admission plugins).
import type {
  ContainerWire,
  NodeSelectorTermWire,
  PodResourceClaimWire,
  PodWire,
  PreferredSchedulingTermWire,
  TolerationWire,
} from "../../src/admission/schema.js";

export const GPU = "nvidia.com/gpu";

/** A container asking for `n` of `resource` in both requests and limits, as the apiserver defaults it. */
export function gpuContainer(name: string, n: number | string, resource = GPU): ContainerWire {
  return { name, image: "nvcr.io/nvidia/pytorch:25.09-py3", resources: { requests: { [resource]: String(n) }, limits: { [resource]: String(n) } } };
}

export const NOT_READY_TOLERATIONS: readonly TolerationWire[] = [
  { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
  { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 300 },
];

class PodBuilder {
  readonly #pod: PodWire = { apiVersion: "v1", kind: "Pod", metadata: { name: "pod", namespace: "default" }, spec: { containers: [] } };

  #meta(): NonNullable<PodWire["metadata"]> {
    this.#pod.metadata ??= {};
    return this.#pod.metadata;
  }

  #spec(): NonNullable<PodWire["spec"]> {
    this.#pod.spec ??= {};
    return this.#pod.spec;
  }

  name(name: string): this {
    this.#meta().name = name;
    return this;
  }

  /** As a ReplicaSet creates it: no name yet, only generateName. */
  generateName(prefix: string): this {
    const meta = this.#meta();
    delete meta.name;
    meta.generateName = prefix;
    return this;
  }

  namespace(ns: string): this {
    this.#meta().namespace = ns;
    return this;
  }

  labels(labels: Record<string, string>): this {
    this.#meta().labels = { ...(this.#meta().labels ?? {}), ...labels };
    return this;
  }

  annotations(annotations: Record<string, string>): this {
    this.#meta().annotations = { ...(this.#meta().annotations ?? {}), ...annotations };
    return this;
  }

  /** Adds an app container asking for `n` GPUs (of `resource`). */
  gpus(n: number | string, resource = GPU): this {
    const spec = this.#spec();
    spec.containers = [...(spec.containers ?? []), gpuContainer(`gpu-${spec.containers?.length ?? 0}`, n, resource)];
    return this;
  }

  container(c: ContainerWire): this {
    const spec = this.#spec();
    spec.containers = [...(spec.containers ?? []), c];
    return this;
  }

  initContainer(c: ContainerWire): this {
    const spec = this.#spec();
    spec.initContainers = [...(spec.initContainers ?? []), c];
    return this;
  }

  tolerations(t: readonly TolerationWire[]): this {
    this.#spec().tolerations = t.map((x) => ({ ...x }));
    return this;
  }

  nodeSelector(s: Record<string, string>): this {
    this.#spec().nodeSelector = { ...s };
    return this;
  }

  requiredTerms(terms: readonly NodeSelectorTermWire[]): this {
    const spec = this.#spec();
    spec.affinity = {
      ...(spec.affinity ?? {}),
      nodeAffinity: { ...(spec.affinity?.nodeAffinity ?? {}), requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: structuredClone([...terms]) } },
    };
    return this;
  }

  preferredTerms(terms: readonly PreferredSchedulingTermWire[]): this {
    const spec = this.#spec();
    spec.affinity = {
      ...(spec.affinity ?? {}),
      nodeAffinity: { ...(spec.affinity?.nodeAffinity ?? {}), preferredDuringSchedulingIgnoredDuringExecution: structuredClone([...terms]) },
    };
    return this;
  }

  priorityClassName(name: string): this {
    this.#spec().priorityClassName = name;
    return this;
  }

  priority(value: number, preemptionPolicy = "PreemptLowerPriority"): this {
    this.#spec().priority = value;
    this.#spec().preemptionPolicy = preemptionPolicy;
    return this;
  }

  schedulerName(name: string): this {
    this.#spec().schedulerName = name;
    return this;
  }

  runtimeClassName(name: string): this {
    this.#spec().runtimeClassName = name;
    return this;
  }

  /** Adds pod-level resource claims (spec.resourceClaims). */
  resourceClaims(claims: readonly PodResourceClaimWire[]): this {
    const spec = this.#spec();
    spec.resourceClaims = [...(spec.resourceClaims ?? []), ...claims.map((c) => ({ ...c }))];
    return this;
  }

  /** The fields kube-apiserver defaults before calling mutating webhooks. */
  defaulted(): this {
    const spec = this.#spec();
    spec.restartPolicy ??= "Always";
    spec.terminationGracePeriodSeconds ??= 30;
    spec.dnsPolicy ??= "ClusterFirst";
    spec.securityContext ??= {};
    spec.schedulerName ??= "default-scheduler";
    spec.enableServiceLinks ??= true;
    spec.priority ??= 0;
    spec.preemptionPolicy ??= "PreemptLowerPriority";
    spec.tolerations ??= NOT_READY_TOLERATIONS.map((t) => ({ ...t }));
    for (const c of spec.containers ?? []) {
      c.terminationMessagePath ??= "/dev/termination-log";
      c.terminationMessagePolicy ??= "File";
      c.imagePullPolicy ??= "IfNotPresent";
    }
    return this;
  }

  build(): PodWire {
    return structuredClone(this.#pod);
  }
}

export function pod(): PodBuilder {
  return new PodBuilder();
}

/** A container that uses the pod's claims `claims` (and asks for no extended resource). */
export function claimContainer(name: string, ...claims: string[]): ContainerWire {
  return { name, image: "nvcr.io/nvidia/pytorch:25.09-py3", resources: { claims: claims.map((c) => ({ name: c })) } };
}
