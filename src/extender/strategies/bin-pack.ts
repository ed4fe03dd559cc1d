import type { StrategyScorer } from "./index.js";

/** Fill nodes up: fewer usable GPUs left after placing the pod ranks higher. */
export const binPack: StrategyScorer = {
  width: 1,
  keys: (state, gpus, out, at) => {
    out[at] = -(state.usableCount - gpus);
  },
  detail: (state, gpus) => `${state.usableCount - gpus} GPUs left free (BinPack: fewer is better)`,
};
