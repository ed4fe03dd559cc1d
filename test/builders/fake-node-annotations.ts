// An in-memory Node annotation store behind the agent's NodeAnnotationPort,
// with switches to make reads or writes fail.
import type { NodeAnnotationPort } from "../../src/kube/node-annotation.js";

export class FakeNodeAnnotations implements NodeAnnotationPort {
  readonly values = new Map<string, string>();
  readonly patches: { node: string; value: string }[] = [];
  gets = 0;
  failGet: Error | undefined;
  failPatch: Error | undefined;

  constructor(initial: Record<string, string> = {}) {
    for (const [node, value] of Object.entries(initial)) this.values.set(node, value);
  }

  async get(node: string): Promise<string | undefined> {
    this.gets++;
    if (this.failGet) throw this.failGet;
    return this.values.get(node);
  }

  async patch(node: string, value: string): Promise<void> {
    if (this.failPatch) throw this.failPatch;
    this.patches.push({ node, value });
    this.values.set(node, value);
  }
}
