import type { StrategyScorer } from "./index.js";

/** Spread load: more usable GPUs left, then lower DCGM utilisation, ranks higher. */
export const spread: StrategyScorer = (state, gpus) => {
  const util = state.meanUtilization();
  return {
    keys: [state.usableCount - gpus, util === undefined ? 0 : -Math.round(util)],
    detail: () => `${state.usableCount - gpus} GPUs left free${util === undefined ? "" : `, ${Math.round(util)}% mean utilisation`} (Spread: more free, less load is better)`,
  };
};
