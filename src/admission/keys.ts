// Annotation keys the webhook owns. Every key under TOPOFIT_PREFIX on a GPU pod
// is written by topofit alone; values a user set there are replaced or removed.
export const TOPOFIT_PREFIX = "topofit.io/";
export const RULE_ANNOTATION = "topofit.io/rule";
export const PLACEMENT_ANNOTATION = "topofit.io/placement";
export const DEFAULT_SCHEDULER_NAME = "default-scheduler";
/** On pods whose GPUs come from resource claims: how many GPUs the claims hold in all. */
export const GPUS_ANNOTATION = "topofit.io/gpus";
/** Labels of the ResourceClaimTemplates topofit creates. */
export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY_VALUE = "topofit";
export const RULE_LABEL = "topofit.io/rule";
