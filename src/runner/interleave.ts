// SPDX-License-Identifier: Apache-2.0
// Sample order across datapaths: a rotation (A B C, B C A, C A B, …) so that no datapath always runs first
// or always follows the same neighbour's leftovers (TIME_WAIT, caches, frequency).

export function rotation<T>(items: readonly T[], round: number): T[] {
  if (items.length === 0) return [];
  const k = ((round % items.length) + items.length) % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
