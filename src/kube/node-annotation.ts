// Reads and writes one annotation on a Node. The write is a JSON merge patch
// that names only that annotation, so other annotations, labels and status
// are left as they are.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from "@kubernetes/client-node";

/** The two calls the topology agent needs, so that it can run against a fake. */
export interface NodeAnnotationPort {
  /** The annotation's current value on the node; undefined when it is absent. Rejects when the node cannot be read. */
  get(node: string): Promise<string | undefined>;
  /** Sets the annotation to value. Rejects on failure. */
  patch(node: string, value: string): Promise<void>;
}

export const AGENT_FIELD_MANAGER = "topofit-agent";

/** The body of the merge patch that sets one annotation and touches nothing else. */
export function annotationMergePatch(key: string, value: string): { metadata: { annotations: Record<string, string> } } {
  return { metadata: { annotations: { [key]: value } } };
}

export function createNodeAnnotationPort(kc: KubeConfig, key: string): NodeAnnotationPort {
  const api = kc.makeApiClient(CoreV1Api);
  const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
  return {
    async get(node) {
      const n = await api.readNode({ name: node });
      return n.metadata?.annotations?.[key];
    },
    async patch(node, value) {
      await api.patchNode({ name: node, body: annotationMergePatch(key, value), fieldManager: AGENT_FIELD_MANAGER }, mergePatch);
    },
  };
}

/** A short description of a failed API call: status code and the server's message when there is one. */
export function describeApiError(err: unknown): string {
  const e = err as { code?: unknown; body?: unknown; message?: unknown };
  if (typeof e?.code === "number") {
    let message: string | undefined;
    if (typeof e.body === "string") {
      try {
        const parsed = JSON.parse(e.body) as { message?: unknown };
        if (typeof parsed.message === "string") message = parsed.message;
      } catch {
        message = e.body.slice(0, 200);
      }
    } else if (e.body && typeof e.body === "object" && typeof (e.body as { message?: unknown }).message === "string") {
      message = (e.body as { message: string }).message;
    }
    return `HTTP ${e.code}${message ? `: ${message}` : ""}`;
  }
  return err instanceof Error ? err.message : String(err);
}
