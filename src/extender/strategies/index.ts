// The closed registry of placement strategies. A new strategy is a file here,
// one entry below, and one value in the policy's STRATEGIES enum.
import type { Strategy } from "../../policy/model.js";
import type { NodeState } from "../../topology/node-state.js";
import { binPack } from "./bin-pack.js";
import { spread } from "./spread.js";

/** Where a strategy writes its keys: a tuple, or a row of the per-request key table. */
export interface KeySink {
  [index: number]: number;
}

export interface StrategyScorer {
  /** How many keys the strategy writes. */
  readonly width: number;
  /** Writes the node's keys (compared lexicographically, higher first) at out[at], out[at + 1], … */
  readonly keys: (state: NodeState, gpus: number, out: KeySink, at: number) => void;
  /** Why, in words; built only when a decision is explained. */
  readonly detail: (state: NodeState, gpus: number) => string;
}

export const STRATEGY_SCORERS: Readonly<Record<Strategy, StrategyScorer>> = {
  BinPack: binPack,
  Spread: spread,
};
