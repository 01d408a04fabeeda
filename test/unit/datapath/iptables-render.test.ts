// SPDX-License-Identifier: Apache-2.0
// Golden-file tests of the kube-proxy iptables renderer, plus the real iptables-restore in a throwaway netns.
// Regenerate the goldens with: UPDATE_GOLDEN=1 npx vitest run test/unit/datapath
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  endpointChainName, iptablesHooks, renderIptables, serviceExternalChainName, serviceFirewallChainName,
  serviceLocalChainName, servicePortChainName, type IptablesRender,
} from '../../../src/datapath/iptables/render.ts';
import { probability } from '../../../src/datapath/iptables/chains.ts';
import { run } from '../../../src/util/exec.ts';
import { CASES, NODE, ep, slice, state, svc, type GoldenCase } from '../../fixtures/iptables/cases.ts';

const GOLDEN_DIR = fileURLToPath(new URL('../../fixtures/iptables/', import.meta.url));
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function renderCase(c: GoldenCase): { render: IptablesRender; previous?: IptablesRender } {
  const node = c.node ?? NODE;
  const previous = c.previous ? renderIptables(c.previous, node) : undefined;
  const opts = previous ? { ...c.opts, previousChains: previous.chains } : c.opts;
  return { render: renderIptables(c.state, node, opts), ...(previous ? { previous } : {}) };
}

function expectGolden(name: string, text: string): void {
  const file = `${GOLDEN_DIR}${name}.txt`;
  if (UPDATE) {
    mkdirSync(GOLDEN_DIR, { recursive: true });
    writeFileSync(file, text);
    return;
  }
  if (!existsSync(file)) throw new Error(`golden ${file} is missing; create it with UPDATE_GOLDEN=1 npx vitest run test/unit/datapath`);
  expect(text, `${name}: differs from its golden (UPDATE_GOLDEN=1 rewrites it after review)`).toBe(readFileSync(file, 'utf8'));
}

const lines = (r: IptablesRender) => `${r.filter}${r.nat}`.split('\n');
const byName = new Map(CASES.map((c) => [c.name, c]));
const rendered = (name: string) => renderCase(byName.get(name)!).render;

describe('renderIptables golden files', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const { render } = renderCase(c);
      expectGolden(c.name, render.filter + render.nat);
    });
  }
});

describe('chain names match kube-proxy', () => {
  // values from the expected dump of TestOverallIPTablesRules in kubernetes pkg/proxy/iptables/proxier_test.go
  it('hashes service ports like upstream', () => {
    expect(servicePortChainName('ns1/svc1:p80', 'tcp')).toBe('KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(serviceExternalChainName('ns2/svc2:p80', 'tcp')).toBe('KUBE-EXT-GNZBNJ2PO5MGZ6GT');
    expect(serviceFirewallChainName('ns5/svc5:p80', 'tcp')).toBe('KUBE-FW-NUKIZ6OKUXPJNT4C');
    expect(serviceLocalChainName('ns2/svc2:p80', 'tcp')).toBe('KUBE-SVL-GNZBNJ2PO5MGZ6GT');
  });

  it('hashes endpoints like upstream', () => {
    expect(endpointChainName('ns1/svc1:p80', 'tcp', '10.180.0.1:80')).toBe('KUBE-SEP-SXIVWICOYRO3J4NJ');
    expect(endpointChainName('ns5/svc5:p80', 'tcp', '10.180.0.3:80')).toBe('KUBE-SEP-I77PXRDZVX7PMWMN');
    expect(endpointChainName('ns4/svc4:p80', 'tcp', '10.180.0.5:80')).toBe('KUBE-SEP-C6EBXVWJJZMIWKLZ');
  });

  it('is sensitive to protocol and port name', () => {
    expect(servicePortChainName('ns1/svc1:p80', 'udp')).not.toBe('KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(servicePortChainName('ns1/svc1', 'tcp')).not.toBe('KUBE-SVC-XPGD46QRK7WJZT7O');
    expect(servicePortChainName('ns1/svc1:p80', 'tcp')).toHaveLength('KUBE-SVC-'.length + 16);
  });
});

describe('renderIptables behaviour', () => {
  it('reproduces rules of upstream TestOverallIPTablesRules', () => {
    const out = lines(rendered('upstream-overall'));
    // a sample of upstream's expected lines; the nfacct and --random-fully differences are by design
    for (const expected of [
      '-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT',
      '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP',
      '-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT',
      '-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK',
      '-A KUBE-SERVICES -m comment --comment "ns5/svc5:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-NUKIZ6OKUXPJNT4C',
      '-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT',
      '-A KUBE-FW-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-NUKIZ6OKUXPJNT4C',
      '-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80',
      '-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ',
      '-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-UKSFD7AGPMPPLUHC',
      '-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN --rcheck --seconds 10800 --reap -j KUBE-SEP-I77PXRDZVX7PMWMN',
      '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ',
      '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    ]) expect(out).toContain(expected);
    // svc2 has no local endpoint, so upstream creates no KUBE-SVL chain for it
    expect(out.join('\n')).not.toContain('KUBE-SVL-');
  });

  it('spreads three endpoints with 1/3 then 1/2, the last unconditional', () => {
    const svcRules = lines(rendered('clusterip-3-endpoints')).filter((l) => l.startsWith('-A KUBE-SVC-') && l.includes(' -> '));
    expect(svcRules.map((l) => /--probability (\S+)/.exec(l)?.[1] ?? 'last')).toEqual(['0.3333333333', '0.5000000000', 'last']);
    expect(svcRules.map((l) => /-> (\S+)"/.exec(l)?.[1])).toEqual(['10.244.1.5:8080', '10.244.2.7:8080', '10.244.3.9:8080']);
  });

  it('formats probabilities like Go %0.10f, ties to even', () => {
    expect(probability(3)).toBe('0.3333333333');
    expect(probability(7)).toBe('0.1428571429');
    expect(probability(2048)).toBe('0.0004882812'); // JS toFixed would say ...813
    expect(probability(1000)).toBe('0.0010000000');
  });

  it('rejects services without endpoints in filter, never in nat', () => {
    const r = rendered('no-endpoints');
    expect(r.filter).toContain('-A KUBE-SERVICES -m comment --comment "ns1/empty:http has no endpoints" -m tcp -p tcp -d 10.96.0.30 --dport 80 -j REJECT');
    expect(r.filter).toContain('-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/unready:http has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30031 -j REJECT');
    expect(r.nat).not.toContain('ns1/empty');
    expect(r.serviceOrder).toEqual([]);
  });

  it('deletes the chains of the previous sync that are gone', () => {
    const c = byName.get('stale-chains')!;
    const { render, previous } = renderCase(c);
    const gone = [...previous!.chains].filter((ch) => !render.chains.has(ch));
    expect(gone.length).toBe(4); // shop/gone's SVC, EXT, SEP and shop/cart's second SEP
    for (const ch of gone) {
      expect(render.nat).toContain(`\n:${ch} - [0:0]\n`);
      expect(render.nat).toContain(`\n-X ${ch}\n`);
    }
    // chains that are not per-service are never deleted, even when asked to
    const r = renderIptables(c.state, NODE, { previousChains: new Set(['KUBE-MARK-MASQ', 'DOCKER', 'KUBE-SVL-AAAAAAAAAAAAAAAA']) });
    expect(r.nat.match(/^-X .*/gm)).toEqual(['-X KUBE-SVL-AAAAAAAAAAAAAAAA']);
  });

  it('reports KUBE-SERVICES positions, counts rules and lists its chains', () => {
    const r = rendered('upstream-overall');
    expect(r.serviceOrder).toEqual(['ns1/svc1:p80@1', 'ns2/svc2:p80@2', 'ns3/svc3:p80@5', 'ns4/svc4:p80@6', 'ns5/svc5:p80@8']);
    const natServices = r.nat.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES '));
    expect(natServices[4]).toContain('"ns3/svc3:p80 cluster IP"');
    expect(r.ruleCount).toBe(lines(r).filter((l) => l.startsWith('-A ')).length);
    const declared = lines(r).filter((l) => l.startsWith(':')).map((l) => l.slice(1, l.indexOf(' ')));
    expect(r.chains).toEqual(new Set(declared));
  });

  it('is deterministic whatever the input order', () => {
    const c = byName.get('upstream-overall')!;
    const a = renderIptables(c.state, c.node!);
    const shuffled = { ...c.state, services: [...c.state.services].reverse(), endpointSlices: [...c.state.endpointSlices].reverse() };
    expect(renderIptables(shuffled, c.node!).nat).toBe(a.nat);
  });

  it('drops per-endpoint comments past 1000 endpoints, as upstream large-cluster mode', () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => ep(`10.245.${Math.floor(i / 250)}.${(i % 250) + 1}`));
    const big = (n: number) => renderIptables(state(
      [svc('ns1', 'big', { clusterIP: '10.96.1.1', ports: [{ name: 'http', port: 80 }] })],
      [slice('ns1', 'big', many(n), [{ name: 'http', port: 8080 }])],
    ), NODE);
    const sepRule = (r: IptablesRender) => r.nat.split('\n').find((l) => l.startsWith('-A KUBE-SEP-'))!;
    expect(sepRule(big(1000))).toContain('--comment ns1/big:http');
    expect(sepRule(big(1001))).not.toContain('--comment');
    expect(big(1001).nat).toContain('"ns1/big:http cluster IP"'); // service-level comments stay
  });

  it('honours masqueradeBit and rejects a bad one', () => {
    const r = renderIptables(byName.get('nodeport')!.state, NODE, { masqueradeBit: 0 });
    expect(r.nat).toContain('-A KUBE-MARK-MASQ -j MARK --or-mark 0x1\n');
    expect(r.filter).toContain('--mark 0x1/0x1 -j ACCEPT');
    expect(() => renderIptables(state([], []), NODE, { masqueradeBit: 32 })).toThrow(/masqueradeBit/);
  });

  it('hooks only jump to chains the render defines', () => {
    const r = rendered('nodeport');
    const hooks = iptablesHooks();
    expect(hooks[0]).toEqual({
      table: 'filter', chain: 'INPUT',
      args: ['-m', 'conntrack', '--ctstate', 'NEW', '-m', 'comment', '--comment', 'kubernetes externally-visible service portals', '-j', 'KUBE-EXTERNAL-SERVICES'],
    });
    for (const h of hooks) expect(h.table === 'nat' ? r.nat : r.filter).toContain(`:${h.args.at(-1)} - [0:0]`);
  });
});

// ── the real iptables-restore, in a network namespace created and deleted by each case ──
const BACKENDS = ['nft', 'legacy']
  .map((b) => ({ name: b, restore: `iptables-${b}-restore`, save: `iptables-${b}-save`, iptables: `iptables-${b}` }))
  .filter((b) => existsSync(`/usr/sbin/${b.restore}`));
const canRestore = process.getuid?.() === 0 && BACKENDS.length > 0 && ['/usr/sbin/ip', '/usr/bin/nsenter'].every(existsSync);

/** rule counts per table:chain for our KUBE-* chains */
function ruleCounts(dump: string): Map<string, number> {
  const counts = new Map<string, number>();
  let table = '';
  for (const l of dump.split('\n')) {
    if (l.startsWith('*')) table = l.slice(1);
    const m = /^-A (KUBE-\S+)/.exec(l);
    if (m) counts.set(`${table}:${m[1]}`, (counts.get(`${table}:${m[1]}`) ?? 0) + 1);
  }
  return counts;
}

async function withNetns(tag: string, body: (netns: string) => Promise<void>): Promise<void> {
  const netns = `dpbtest-render-${process.pid}-${tag}`;
  await run(['ip', 'netns', 'add', netns]);
  try {
    await body(netns);
  } finally {
    await run(['ip', 'netns', 'del', netns], { allowFail: true });
  }
}

describe.skipIf(!canRestore)('iptables-restore accepts the goldens (root, throwaway netns)', () => {
  CASES.forEach((c, i) => {
    for (const b of BACKENDS) {
      it(`${c.name} (${b.name})`, async () => {
        const { render, previous } = renderCase(c);
        await withNetns(`${i}-${b.name}`, async (netns) => {
          const restore = (text: string, test = false) =>
            run([b.restore, ...(test ? ['--test'] : []), '--noflush'], { netns, input: text, timeoutMs: 20_000 });
          await restore(render.filter + render.nat, true); // syntax and extensions
          if (previous) await restore(previous.filter + previous.nat);
          await restore(render.filter + render.nat); // the kernel: missing chains, bad targets
          for (const h of iptablesHooks()) {
            const absent = await run([b.iptables, '-t', h.table, '-C', h.chain, ...h.args], { netns, allowFail: true });
            if (absent.code !== 0) await run([b.iptables, '-t', h.table, '-I', h.chain, ...h.args], { netns });
          }
          const saved = (await run([b.save], { netns })).stdout;
          expect(ruleCounts(saved)).toEqual(ruleCounts(render.filter + render.nat));
          const savedChains = new Set([...saved.matchAll(/^:(KUBE-\S+)/gm)].map((m) => m[1]));
          for (const ch of previous?.chains ?? []) expect(savedChains.has(ch)).toBe(render.chains.has(ch));
          // iptables-save prints kube-proxy's input in canonical form: the same rules, spelled out
          if (c.name === 'no-endpoints') expect(saved).toContain('-j REJECT --reject-with icmp-port-unreachable');
          if (c.name === 'clusterip-3-endpoints') expect(saved).toMatch(/^-A KUBE-SEP-\S+ -s 10\.244\.1\.5\/32 .*-j KUBE-MARK-MASQ$/m);
        });
      }, 30_000);
    }
  });

  it('leaves no namespace behind', async () => {
    const list = (await run(['ip', 'netns', 'list'])).stdout;
    expect(list).not.toMatch(new RegExp(`dpbtest-render-${process.pid}-`));
  });
});
