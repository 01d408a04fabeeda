// SPDX-License-Identifier: Apache-2.0
// The kind and kubeconfig providers on a machine without kind, a container engine or a cluster (this one):
// each says so with a PrereqError (exit 3) and the fix, and nothing pretends to have run. The parts that need
// no cluster are tested here too: argv, kubeconfig resolution, parsers of recorded API objects, the netperf path.
// Network rule: the only address contacted is https://127.0.0.1:1, which refuses at once.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { V1Node, V1Pod, V1Status } from '@kubernetes/client-node';
import { checkKind, KindCluster, kindCreateArgv, kindDeleteArgv, parseKindClusters, parseKindVersion } from '../../../src/cluster/kind/kind.ts';
import {
  connectKube, describePodState, exitCodeFromStatus, kubeNodeOf, loadKubeConfig, resolveKubeconfig,
} from '../../../src/cluster/kubeconfig/kube.ts';
import {
  engineUnmet, errorChain, loadClientNode, mapLimit, openKubeTarget, runNetperfInPod, type KubeTarget, type PodRef,
} from '../../../src/cluster/provider.ts';
import { ConfigError, PrereqError } from '../../../src/errors.ts';
import { netperfArgv, type NetperfRequest } from '../../../src/workload/netperf/driver.ts';
import { parseNetperf } from '../../../src/workload/netperf/parse.ts';
import type { RunResult } from '../../../src/util/exec.ts';

const dir = mkdtempSync(join(tmpdir(), 'dpbench-kube-absent-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => void vi.unstubAllEnvs());

/**
 * @kubernetes/client-node 2.0.1 pulls in undici 8, which does not load on Node < 22.19. Where it cannot load,
 * that is the PrereqError every kube path must give; where it can, the refused connection is.
 */
const clientNode = await loadClientNode().then(
  (lib) => ({ lib, error: undefined }),
  (error: Error) => ({ lib: undefined, error }),
);
const expectClientNodeMissing = (err: Error): void => {
  expect(err).toBeInstanceOf(PrereqError);
  expect(err.message).toMatch(/^@kubernetes\/client-node cannot be loaded on Node v[\d.]+: /);
  expect(err.message).toMatch(/fix: /);
};

const shape = { name: 'kind-2node', nodes: 2, network: { nodeSubnet: '172.18.0.0/16', podCIDR: '10.244.0.0/16', serviceCIDR: '10.96.0.0/12' } };

/** a kubeconfig whose server refuses connections: port 1 on loopback */
function refusedKubeconfig(): string {
  const file = join(dir, 'refused.kubeconfig');
  writeFileSync(
    file,
    [
      'apiVersion: v1', 'kind: Config', 'current-context: refused',
      'clusters:', '- name: refused', '  cluster:', '    server: https://127.0.0.1:1', '    insecure-skip-tls-verify: true',
      'users:', '- name: u', '  user:', '    token: not-a-real-token',
      'contexts:', '- name: refused', '  context:', '    cluster: refused', '    user: u',
    ].join('\n'),
  );
  return file;
}

/** a directory of fake executables, to be the whole PATH of a check */
function fakeBin(name: string, scripts: Record<string, string>): string {
  const bin = join(dir, name);
  mkdirSync(bin, { recursive: true });
  for (const [exe, body] of Object.entries(scripts)) {
    writeFileSync(join(bin, exe), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, exe), 0o755);
  }
  return bin;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

describe('kind on this machine', () => {
  // docker's client may be installed without its engine; keep it on the local socket whatever the environment says
  const localEngine = (): void => {
    vi.stubEnv('DOCKER_HOST', 'unix:///var/run/docker.sock');
    vi.stubEnv('CONTAINER_HOST', 'unix:///run/podman/podman.sock');
    vi.stubEnv('KIND_EXPERIMENTAL_PROVIDER', '');
  };

  it('KindCluster.create stops with a PrereqError (exit 3) naming what is missing and the fix', async () => {
    localEngine();
    const err = await rejection(KindCluster.create({ name: 'dpb-abc123-iptables', shape, datapath: 'iptables' }));
    expect(err).toBeInstanceOf(PrereqError);
    expect((err as PrereqError).exitCode).toBe(3);
    expect(err.message).toMatch(/kind is not installed/);
    expect(err.message).toMatch(/fix: install kind .* and a container engine \(docker or podman\)/);
  });

  it('an invalid shape is a ConfigError before any prerequisite is looked at', async () => {
    const err = await rejection(KindCluster.create({ name: 'dpb-abc123-iptables', shape: { ...shape, network: { ...shape.network, podCIDR: '10.244.0.0/24' } }, datapath: 'iptables' }));
    expect(err).toBeInstanceOf(ConfigError);
  });

  it('openKubeTarget({provider: kind}) stops with a PrereqError before creating anything', async () => {
    localEngine();
    const err = await rejection(openKubeTarget({ provider: 'kind', prefix: 'dpb-abc123', datapath: 'ebpf', shape }));
    if (clientNode.error) expectClientNodeMissing(err);
    else expect(err.message).toMatch(/kind is not installed/);
    expect(err).toBeInstanceOf(PrereqError);
  });
});

describe('checkKind against fake PATHs', () => {
  const engineDown = 'echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1';

  it('nothing installed: kind and an engine, "this machine has neither"', async () => {
    const err = await checkKind({ path: fakeBin('empty', {}), env: {} });
    expect(err?.message).toMatch(/kind is not installed \(not on PATH\); no container engine \(docker or podman\) is installed/);
    expect(err?.message).toMatch(/this machine has neither$/);
  });

  it('kind and a docker client whose engine does not answer', async () => {
    const err = await checkKind({ path: fakeBin('down', { kind: 'echo kind v0.24.0', docker: engineDown }), env: {} });
    expect(err).toBeInstanceOf(PrereqError);
    expect(err!.message).toMatch(/docker is installed but its engine does not answer \(docker info: Cannot connect to the Docker daemon/);
    expect(err!.message).not.toMatch(/kind is not installed/);
  });

  it('kind and a running podman: ready; nftables mode needs kind v0.24.0+', async () => {
    const path = fakeBin('podman-up', { kind: 'echo "kind v0.23.0 go1.22.2 linux/amd64"', podman: 'exit 0' });
    expect(await checkKind({ path, env: {} })).toBeUndefined();
    expect((await checkKind({ path, env: {}, needNftables: true }))?.message).toMatch(/nftables mode needs kind v0\.24\.0 or later; found v0\.23\.0/);
    const newer = fakeBin('podman-up-new', { kind: 'echo "kind v0.27.0 go1.23 linux/amd64"', podman: 'exit 0' });
    expect(await checkKind({ path: newer, env: {}, needNftables: true })).toBeUndefined();
  });

  it('builds the kind argv and reads its outputs', () => {
    expect(kindCreateArgv('dpb-abc123-ebpf', '/tmp/x/kubeconfig')).toEqual([
      'kind', 'create', 'cluster', '--name', 'dpb-abc123-ebpf', '--config', '-', '--wait', '180s', '--kubeconfig', '/tmp/x/kubeconfig',
    ]);
    expect(kindDeleteArgv('dpb-abc123-ebpf', '/tmp/x/kubeconfig')).toEqual(['kind', 'delete', 'cluster', '--name', 'dpb-abc123-ebpf', '--kubeconfig', '/tmp/x/kubeconfig']);
    expect(parseKindClusters('dpb-abc123-ebpf\ndpb-abc123-iptables\nkind\n')).toEqual(['dpb-abc123-ebpf', 'dpb-abc123-iptables', 'kind']);
    expect(parseKindClusters('')).toEqual([]);
    expect(parseKindVersion('kind v0.24.0 go1.22.6 linux/amd64')).toEqual([0, 24, 0]);
    expect(parseKindVersion('garbage')).toBeUndefined();
  });
});

describe('a kubeconfig with no cluster behind it', () => {
  it.runIf(clientNode.error)('where client-node cannot load, connectKube says so and how to fix it', async () => {
    const err = await rejection(connectKube({ provider: 'kubeconfig', prefix: 'dpb-abc123', kubeconfig: refusedKubeconfig() }));
    expectClientNodeMissing(err);
  });

  it.runIf(clientNode.lib)('connectKube fails fast with a PrereqError naming the server, the kubeconfig and the error', async () => {
    const file = refusedKubeconfig();
    const t0 = performance.now();
    const err = await rejection(connectKube({ provider: 'kubeconfig', prefix: 'dpb-abc123', kubeconfig: file, reachTimeoutMs: 3000 }));
    expect(err).toBeInstanceOf(PrereqError);
    expect(err.message).toContain(`no cluster reachable at https://127.0.0.1:1 from kubeconfig ${file}: `);
    // undici's fetch refuses port 1 itself (a WHATWG "bad port"), so not even a SYN is sent; a client that
    // tried would get ECONNREFUSED
    expect(err.message).toMatch(/bad port|ECONNREFUSED/);
    expect(err.message).toMatch(/fix: start the cluster/);
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('openKubeTarget({provider: kubeconfig}) reports the same', async () => {
    const err = await rejection(openKubeTarget({ provider: 'kubeconfig', prefix: 'dpb-abc123', datapath: 'iptables', shape, kubeconfig: refusedKubeconfig() }));
    expect(err).toBeInstanceOf(PrereqError);
  });

  it('finds no kubeconfig where there is none, without contacting anything', () => {
    const home = mkdtempSync(join(dir, 'home-'));
    expect(() => resolveKubeconfig(undefined, {}, home)).toThrow(PrereqError);
    expect(() => resolveKubeconfig(undefined, {}, home)).toThrow(/no kubeconfig found/);
    expect(() => resolveKubeconfig(join(dir, 'nope'), {}, home)).toThrow(/kubeconfig .*nope does not exist/);
    const file = refusedKubeconfig();
    expect(resolveKubeconfig(undefined, { KUBECONFIG: `${join(dir, 'missing')}:${file}` }, home)).toBe(file);
  });

  it.runIf(clientNode.lib)('an unknown context or an unreadable file is a ConfigError', () => {
    const lib = clientNode.lib!;
    expect(loadKubeConfig(lib, refusedKubeconfig()).getCurrentCluster()?.server).toBe('https://127.0.0.1:1');
    expect(() => loadKubeConfig(lib, refusedKubeconfig(), 'other')).toThrow(/has no context "other"; it has: refused/);
    const bad = join(dir, 'bad.kubeconfig');
    writeFileSync(bad, ': not yaml : [');
    expect(() => loadKubeConfig(lib, bad)).toThrow(ConfigError);
  });
});

describe('reading what the API returns (recorded objects)', () => {
  it('nodes: InternalIP, pod CIDRs, readiness, control-plane taint', () => {
    const node: V1Node = {
      metadata: { name: 'dpb-abc123-iptables-control-plane', labels: { 'node-role.kubernetes.io/control-plane': '' } },
      spec: { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24'], taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] },
      status: { addresses: [{ type: 'InternalIP', address: '172.18.0.3' }, { type: 'Hostname', address: 'dpb-abc123-iptables-control-plane' }], conditions: [{ type: 'Ready', status: 'True' }] },
    };
    expect(kubeNodeOf(node)).toEqual({ name: 'dpb-abc123-iptables-control-plane', internalIP: '172.18.0.3', podCIDRs: ['10.244.0.0/24'], ready: true, controlPlane: true, schedulable: false });
    expect(kubeNodeOf({ metadata: { name: 'w' }, status: { conditions: [{ type: 'Ready', status: 'False' }] } })).toMatchObject({ ready: false, schedulable: true, podCIDRs: [] });
  });

  it('a pod stuck on its image says why', () => {
    const pod: V1Pod = {
      status: {
        phase: 'Pending',
        containerStatuses: [{ name: 'netperf', image: 'x', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "x"' } } }],
      },
    };
    expect(describePodState(pod)).toBe('phase Pending; container netperf waiting: ImagePullBackOff (Back-off pulling image "x")');
  });

  it('exec statuses: success, a non-zero exit, and an error without an exit code', () => {
    const failure: V1Status = {
      status: 'Failure', reason: 'NonZeroExitCode', message: 'command terminated with non-zero exit code: error executing command [netperf], exit code 1',
      details: { causes: [{ reason: 'ExitCode', message: '1' }] },
    };
    expect(exitCodeFromStatus({ status: 'Success' })).toBe(0);
    expect(exitCodeFromStatus(failure)).toBe(1);
    expect(exitCodeFromStatus({ status: 'Failure', reason: 'InternalError', message: 'container not found' })).toBeNull();
    expect(exitCodeFromStatus(undefined)).toBeNull();
  });

  it('package engines: a ">=" range against a Node version', () => {
    expect(engineUnmet('>=22.19.0', '20.20.2')).toBe('>=22.19.0');
    expect(engineUnmet('>=22.19.0', '22.19.0')).toBeUndefined();
    expect(engineUnmet('>=20.18.1', '20.20.2')).toBeUndefined();
    expect(engineUnmet('>=18', '16.9.0')).toBe('>=18.0.0');
    expect(engineUnmet('^20 || >=22', '16.0.0')).toBeUndefined(); // not judged
    expect(engineUnmet(undefined)).toBeUndefined();
  });

  it('error chains keep the cause a user needs', () => {
    const e = new Error('Error occurred in health request', { cause: new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:1') }) });
    expect(errorChain(e)).toBe('Error occurred in health request: fetch failed: connect ECONNREFUSED 127.0.0.1:1');
  });

  it('mapLimit keeps order and never exceeds its limit', async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (x) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, x));
      inFlight--;
      return x * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(most).toBe(2);
  });
});

describe('netperf through a KubeTarget', () => {
  it('runs the driver\'s argv in the client pod and hands its raw output to the parser', async () => {
    const recorded = JSON.parse(readFileSync(new URL('../../fixtures/netperf/tcp_rr.json', import.meta.url), 'utf8')) as { stdout: string; stderr: string; code: number };
    const calls: { pod: PodRef; argv: readonly string[]; timeoutMs?: number; allowFail?: boolean }[] = [];
    const target = {
      exec: async (pod: PodRef, argv: readonly string[], opts?: { timeoutMs?: number; allowFail?: boolean }): Promise<RunResult> => {
        calls.push({ pod, argv, ...opts });
        return { argv: [...argv], stdout: recorded.stdout, stderr: recorded.stderr, code: recorded.code, signal: null, durationMs: 1000 };
      },
    } as unknown as KubeTarget;
    const client: PodRef = { namespace: 'dpbench-dpb-abc123', name: 'netperf-client', container: 'netperf', node: 'kind-worker', ip: '10.244.1.5' };
    const req: NetperfRequest = { test: 'TCP_RR', host: '10.96.12.34', controlPort: 12865, dataPort: 12866, durationS: 2, cpus: { local: 0, remote: 1 } };
    const raw = await runNetperfInPod(target, client, req);
    expect(calls).toEqual([{ pod: client, argv: netperfArgv(req), allowFail: true, timeoutMs: 22_000 }]);
    const sample = parseNetperf('TCP_RR', raw);
    expect(sample.errors).toEqual([]);
    expect(sample.transactionsPerSec).toBeGreaterThan(0);
  });
});
