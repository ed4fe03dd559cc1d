import type { StrategyScorer } from "./index.js";

/** Fill nodes up: fewer usable GPUs left after placing the pod ranks higher. */
export const binPack: StrategyScorer = (state, gpus) => ({
  keys: [-(state.usableCount - gpus)],
  detail: () => `${state.usableCount - gpus} GPUs left free (BinPack: fewer is better)`,
});
