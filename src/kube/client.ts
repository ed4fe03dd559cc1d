// Loads cluster credentials: an explicit kubeconfig file, else the in-cluster
// service account, else none (standalone mode).
import { existsSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";

export type ClusterMode = "kubeconfig" | "in-cluster" | "standalone";

const SA_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

export function loadKubeConfig(opts: { kubeconfig?: string; inClusterHost?: string; standalone?: boolean }): { mode: ClusterMode; kc?: KubeConfig } {
  if (opts.standalone) return { mode: "standalone" };
  if (opts.kubeconfig) {
    const kc = new KubeConfig();
    kc.loadFromFile(opts.kubeconfig);
    return { mode: "kubeconfig", kc };
  }
  if (opts.inClusterHost && existsSync(SA_TOKEN)) {
    const kc = new KubeConfig();
    kc.loadFromCluster();
    return { mode: "in-cluster", kc };
  }
  return { mode: "standalone" };
}
