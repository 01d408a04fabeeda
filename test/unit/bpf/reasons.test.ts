// SPDX-License-Identifier: Apache-2.0
// bpf/reasons.h and bpf/metrics.h against their TypeScript mirror: names and values must match one for one.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { METRICS_DIRS, REASONS, dirLabel, isDrop, reasonLabel } from '../../../src/datapath/bpf/reasons.ts';

const header = (name: string) => readFileSync(fileURLToPath(new URL(`../../../bpf/${name}`, import.meta.url)), 'utf8');

/** `NAME = 123,` lines of one C enum */
function parseEnum(source: string, enumName: string): Record<string, number> {
  const body = new RegExp(`enum ${enumName}\\s*\\{([^}]*)\\}`).exec(source)?.[1];
  if (!body) throw new Error(`enum ${enumName} not found`);
  const out: Record<string, number> = {};
  for (const m of body.matchAll(/^\s*([A-Z][A-Z0-9_]*)\s*=\s*(\d+)\s*,/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

describe('reasons.h ⇄ reasons.ts', () => {
  const reasons = parseEnum(header('reasons.h'), 'dp_reason');

  it('has the same names and values on both sides', () => {
    expect(Object.keys(reasons).length).toBeGreaterThan(10);
    expect(REASONS).toEqual(reasons);
  });

  it('keeps every reason clear of TC_ACT_* / XDP_* values and inside the u8 of metrics_key', () => {
    for (const [name, value] of Object.entries(reasons)) {
      expect(value, name).toBeGreaterThanOrEqual(128);
      expect(value, name).toBeLessThan(256);
    }
    expect(new Set(Object.values(reasons)).size).toBe(Object.keys(reasons).length);
  });

  it('names drops as drops', () => {
    for (const [name, value] of Object.entries(REASONS)) expect(isDrop(value), name).toBe(name.startsWith('REASON_DROP_'));
    expect(reasonLabel(REASONS.REASON_DROP_CT_MAP_FULL)).toBe('drop_ct_map_full');
    expect(reasonLabel(250)).toBe('reason_250');
  });
});

describe('metrics.h directions ⇄ reasons.ts', () => {
  it('has the same names and values on both sides', () => {
    expect(METRICS_DIRS).toEqual(parseEnum(header('metrics.h'), 'metrics_dir'));
    expect(dirLabel(METRICS_DIRS.METRICS_DIR_FROM_NETDEV)).toBe('from_netdev');
  });
});
