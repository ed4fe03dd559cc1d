// The policy in force when no file or ConfigMap provides one: the reference
// example from the README, so `npm start` behaves like a documented install.
export const EMBEDDED_POLICY_YAML = `apiVersion: topofit.io/v1alpha1
kind: PlacementPolicy
metadata:
  name: default
spec:
  gpuResources: [nvidia.com/gpu]
  excludedNamespaces: [kube-system, topofit-system]
  rules:
    - name: training
      match:
        namespaces: [ml-train]
        podSelector: {matchLabels: {topofit.io/workload: training}}
        gpus: {min: 2}
      inject:
        tolerations:
          - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
          - {key: karpenter.sh/capacity-type, operator: Equal, value: spot, effect: NoSchedule}
        nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}
        priorityClassName: gpu-training
        priorityClassMode: IfAbsent
        schedulerName: topofit-scheduler
        runtimeClassName: nvidia
      placement: {gpuLinks: NVLinkRequired, numa: SingleNode, strategy: BinPack}
    - name: inference
      match:
        podSelector: {matchExpressions: [{key: topofit.io/workload, operator: In, values: [inference, serving]}]}
      inject:
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
        priorityClassName: gpu-inference
        nodeAffinity:
          preferred: [{weight: 50, matchExpressions: [{key: nvidia.com/gpu.family, operator: In, values: [hopper, ada-lovelace]}]}]
      placement: {gpuLinks: NVLinkPreferred, numa: Preferred, strategy: Spread}
    - name: any-gpu
      match: {}
      inject:
        tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      placement: {gpuLinks: Any, numa: Any, strategy: BinPack}
`;
