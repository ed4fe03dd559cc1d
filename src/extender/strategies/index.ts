// The closed registry of placement strategies. A new strategy is a file here,
// one entry below, and one value in the policy's STRATEGIES enum.
import type { Strategy } from "../../policy/model.js";
import type { NodeState } from "../../topology/node-state.js";
import { binPack } from "./bin-pack.js";
import { spread } from "./spread.js";

export interface StrategyScore {
  /** Compared lexicographically, higher first. */
  readonly keys: readonly number[];
  /** Why, in words; built only when a decision is explained. */
  readonly detail: () => string;
}

export type StrategyScorer = (state: NodeState, gpus: number) => StrategyScore;

export const STRATEGY_SCORERS: Readonly<Record<Strategy, StrategyScorer>> = {
  BinPack: binPack,
  Spread: spread,
};
