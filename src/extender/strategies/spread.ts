import type { StrategyScorer } from "./index.js";

/** Spread load: more usable GPUs left, then lower DCGM utilisation, ranks higher. */
export const spread: StrategyScorer = {
  width: 2,
  keys: (state, gpus, out, at) => {
    const util = state.meanUtilization();
    out[at] = state.usableCount - gpus;
    out[at + 1] = util === undefined ? 0 : -Math.round(util);
  },
  detail: (state, gpus) => {
    const util = state.meanUtilization();
    return `${state.usableCount - gpus} GPUs left free${util === undefined ? "" : `, ${Math.round(util)}% mean utilisation`} (Spread: more free, less load is better)`;
  },
};
