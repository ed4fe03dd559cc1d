// The MutatingWebhookConfiguration that routes pod CREATEs to topofit. The
// install manifests carry the same settings with a `service` clientConfig.
import type { V1MutatingWebhookConfiguration } from "@kubernetes/client-node";

export const WEBHOOK_CONFIGURATION_NAME = "topofit";
export const WEBHOOK_NAME = "pods.topofit.io";

/**
 * CEL for `matchConditions`: true when any container or init container
 * requests or limits one of `resources`, or the pod has resource claims (its
 * GPUs may come from DRA), so other pods never pay the round trip. Keep
 * `resources` equal to the policy's gpuResources.
 */
export function gpuRequestCondition(resources: readonly string[]): string {
  const names = `[${resources.map((r) => `'${r}'`).join(", ")}]`;
  const asks = (c: string) =>
    `(has(${c}.resources) && ((has(${c}.resources.requests) && ${names}.exists(r, r in ${c}.resources.requests)) || (has(${c}.resources.limits) && ${names}.exists(r, r in ${c}.resources.limits))))`;
  return `object.spec.containers.exists(c, ${asks("c")}) || (has(object.spec.initContainers) && object.spec.initContainers.exists(i, ${asks("i")})) || (has(object.spec.resourceClaims) && size(object.spec.resourceClaims) > 0)`;
}

export interface WebhookConfigOptions {
  readonly url: string;
  readonly caPem: string;
  readonly failurePolicy?: "Ignore" | "Fail";
  readonly excludedNamespaces?: readonly string[];
  readonly gpuResources?: readonly string[];
  readonly timeoutSeconds?: number;
}

export function webhookConfiguration(o: WebhookConfigOptions): V1MutatingWebhookConfiguration {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: WEBHOOK_CONFIGURATION_NAME },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        admissionReviewVersions: ["v1"],
        clientConfig: { url: `${o.url.replace(/\/$/, "")}/mutate`, caBundle: Buffer.from(o.caPem).toString("base64") },
        rules: [{ operations: ["CREATE"], apiGroups: [""], apiVersions: ["v1"], resources: ["pods"], scope: "Namespaced" }],
        failurePolicy: o.failurePolicy ?? "Ignore",
        sideEffects: "NoneOnDryRun",
        reinvocationPolicy: "IfNeeded",
        timeoutSeconds: o.timeoutSeconds ?? 5,
        matchPolicy: "Equivalent",
        namespaceSelector: {
          matchExpressions: [
            { key: "kubernetes.io/metadata.name", operator: "NotIn", values: [...(o.excludedNamespaces ?? ["kube-system", "topofit-system"])] },
          ],
        },
        matchConditions: [{ name: "requests-gpu", expression: gpuRequestCondition(o.gpuResources ?? ["nvidia.com/gpu"]) }],
      },
    ],
  };
}
