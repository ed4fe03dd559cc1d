// Wire shapes of the resource.k8s.io/v1 objects the extender reads: the
// ResourceSlices a DRA driver publishes (the devices of a node) and the
// ResourceClaims the scheduler allocates (which devices are taken). Only the
// fields topofit reads are declared; everything is optional because it comes
// from the network.

/** One attribute value: exactly one of these is set. */
export interface DeviceAttributeWire {
  readonly string?: string;
  readonly int?: number;
  readonly bool?: boolean;
  readonly version?: string;
}

export interface DeviceTaintWire {
  readonly key?: string;
  readonly value?: string;
  readonly effect?: string;
}

export interface DeviceWire {
  readonly name?: string;
  /** Unqualified names are in the driver's domain; others carry their own (resource.kubernetes.io/pciBusID). */
  readonly attributes?: Readonly<Record<string, DeviceAttributeWire>>;
  readonly capacity?: Readonly<Record<string, { readonly value?: string }>>;
  readonly taints?: readonly DeviceTaintWire[];
}

export interface ResourceSliceWire {
  readonly metadata?: { readonly name?: string; readonly resourceVersion?: string };
  readonly spec?: {
    readonly driver?: string;
    readonly pool?: { readonly name?: string; readonly generation?: number; readonly resourceSliceCount?: number };
    readonly nodeName?: string;
    readonly devices?: readonly DeviceWire[];
  };
}

export interface ExactDeviceRequestWire {
  readonly deviceClassName?: string;
  readonly allocationMode?: string;
  readonly count?: number;
}

export interface DeviceRequestWire {
  readonly name?: string;
  readonly exactly?: ExactDeviceRequestWire;
  readonly firstAvailable?: readonly (ExactDeviceRequestWire & { readonly name?: string })[];
}

export interface DeviceRequestResultWire {
  readonly request?: string;
  readonly driver?: string;
  readonly pool?: string;
  readonly device?: string;
}

export interface ResourceClaimWire {
  readonly metadata?: {
    readonly name?: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
  };
  readonly spec?: { readonly devices?: { readonly requests?: readonly DeviceRequestWire[] } };
  readonly status?: {
    readonly allocation?: { readonly devices?: { readonly results?: readonly DeviceRequestResultWire[] } };
    readonly reservedFor?: readonly { readonly resource?: string; readonly name?: string; readonly uid?: string }[];
  };
}

/** The part of a pod that names its claims (core/v1). */
export interface PodClaimsWire {
  readonly metadata?: { readonly namespace?: string; readonly annotations?: Readonly<Record<string, string>> };
  readonly spec?: { readonly resourceClaims?: readonly { readonly name?: string; readonly resourceClaimName?: string; readonly resourceClaimTemplateName?: string }[] };
  readonly status?: {
    readonly resourceClaimStatuses?: readonly { readonly name?: string; readonly resourceClaimName?: string }[];
  };
}
