// The pure parts of the local control plane: scheduler configuration and PKI.

import { X509Certificate } from "node:crypto";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { createCertificateAuthority, issueClientCert, issueServingCert } from "../../hack/cluster/certs.js";
import {
  buildSchedulerConfiguration,
  extenderConfig,
  schedulerConfigurationYaml,
} from "../../hack/cluster/scheduler-config.js";

describe("buildSchedulerConfiguration", () => {
  it("builds a v1 configuration with one profile and no extenders by default", () => {
    expect(buildSchedulerConfiguration()).toEqual({
      apiVersion: "kubescheduler.config.k8s.io/v1",
      kind: "KubeSchedulerConfiguration",
      leaderElection: { leaderElect: false },
      percentageOfNodesToScore: 100,
      profiles: [{ schedulerName: "default-scheduler" }],
    });
  });

  it("fills extender defaults and embeds the CA as base64", () => {
    const config = buildSchedulerConfiguration({
      schedulerName: "topofit-scheduler",
      kubeconfigPath: "/etc/kubernetes/scheduler.conf",
      caPem: "PEM",
      extenders: [{ urlPrefix: "https://127.0.0.1:9443/scheduler" }],
    });
    expect(config.clientConnection).toEqual({ kubeconfig: "/etc/kubernetes/scheduler.conf" });
    expect(config.profiles).toEqual([{ schedulerName: "topofit-scheduler" }]);
    expect(config.extenders).toEqual([
      {
        urlPrefix: "https://127.0.0.1:9443/scheduler",
        filterVerb: "filter",
        prioritizeVerb: "prioritize",
        weight: 1,
        enableHTTPS: true,
        tlsConfig: { caData: Buffer.from("PEM").toString("base64") },
        httpTimeout: "5s",
        nodeCacheCapable: true,
        ignorable: false,
      },
    ]);
    expect(parse(schedulerConfigurationYaml(config))).toEqual(config);
  });

  it("lets every extender field be overridden, and an empty verb be dropped", () => {
    const ext = extenderConfig(
      { urlPrefix: "http://x", prioritizeVerb: "", weight: 5, ignorable: true, httpTimeout: "1s", bindVerb: "bind" },
      "PEM",
    );
    expect(ext.enableHTTPS).toBe(false);
    expect(ext.tlsConfig).toBeUndefined();
    expect(ext).not.toHaveProperty("prioritizeVerb");
    expect(ext).toMatchObject({ filterVerb: "filter", weight: 5, ignorable: true, httpTimeout: "1s", bindVerb: "bind" });
    expect(ext).not.toHaveProperty("managedResources");
    expect(extenderConfig({ urlPrefix: "http://x", managedResources: [{ name: "nvidia.com/gpu" }] }).managedResources).toEqual([{ name: "nvidia.com/gpu" }]);
  });
});

describe("cluster PKI", () => {
  it("issues serving certificates with IP and DNS SANs, signed by the CA", async () => {
    const ca = await createCertificateAuthority();
    const issued = await issueServingCert(ca, ["topofit.topofit-system.svc", "10.0.0.7", "::1"]);
    const cert = new X509Certificate(issued.certPem);
    const caCert = new X509Certificate(ca.certPem);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.subjectAltName).toContain("DNS:topofit.topofit-system.svc");
    expect(cert.subjectAltName).toContain("IP Address:10.0.0.7");
    expect(cert.checkIP("10.0.0.7")).toBe("10.0.0.7");
    expect(caCert.ca).toBe(true);
    expect(issued.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it("puts the user in CN and the groups in O of client certificates", async () => {
    const ca = await createCertificateAuthority();
    const cert = new X509Certificate(
      (await issueClientCert(ca, { commonName: "topofit-admin", organizations: ["system:masters"] })).certPem,
    );
    expect(cert.subject.split("\n").sort()).toEqual(["CN=topofit-admin", "O=system:masters"]);
  });
});
