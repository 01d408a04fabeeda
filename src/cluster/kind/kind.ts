// SPDX-License-Identifier: Apache-2.0
// The kind provider: checks for kind and a running container engine, creates one kind cluster per datapath with
// the config rendered by config.ts, writes its kubeconfig to a file of its own (never the user's), deletes it.
import { accessSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { PrereqError } from '../../errors.ts';
import { run } from '../../util/exec.ts';
import { kindConfig, renderKindConfig, type KindConfig } from './config.ts';
import type { ClusterShape, Datapath } from '../../runner/scenario/schema.ts';

/** kube-proxy's nftables mode in kind's config arrived with kind v0.24.0 (kubernetes-sigs/kind#3577) */
const NFTABLES_MIN_KIND: [number, number, number] = [0, 24, 0];
const INSTALL_HINT = 'install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation) and a container engine (docker or podman), and start the engine';

/** the executable `name` on a PATH-like string, or undefined; a pure lookup, nothing is run */
export function findExecutable(name: string, pathVar = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathVar.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** `kind version` → [major, minor, patch], e.g. "kind v0.24.0 go1.22.6 linux/amd64" */
export function parseKindVersion(text: string): [number, number, number] | undefined {
  const m = /\bv(\d+)\.(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function atLeast(v: [number, number, number], min: [number, number, number]): boolean {
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i]! > min[i]!;
  return true;
}

export interface KindCheckOptions {
  /** PATH to search (tests point it at a directory of fakes) */
  path?: string;
  env?: NodeJS.ProcessEnv;
  /** the config uses kubeProxyMode nftables */
  needNftables?: boolean;
  timeoutMs?: number;
}

/**
 * What stands between this machine and a kind cluster, as one PrereqError with the fix; undefined when nothing.
 * An engine binary is not enough: its daemon must answer (`docker info`), as kind will ask it to start nodes.
 */
export async function checkKind(opts: KindCheckOptions = {}): Promise<PrereqError | undefined> {
  const env = opts.env ?? process.env;
  const path = opts.path ?? env.PATH ?? '';
  const problems: string[] = [];
  const kind = findExecutable('kind', path);
  if (!kind) problems.push('kind is not installed (not on PATH)');
  // kind's own choice: KIND_EXPERIMENTAL_PROVIDER, else docker, else podman
  const wanted = env.KIND_EXPERIMENTAL_PROVIDER ? [env.KIND_EXPERIMENTAL_PROVIDER] : ['docker', 'podman'];
  const engines = wanted.map((name) => ({ name, bin: findExecutable(name, path) }));
  let engineUp = false;
  const engineProblems: string[] = [];
  for (const e of engines.filter((x) => x.bin)) {
    const res = await run([e.bin!, 'info'], { allowFail: true, timeoutMs: opts.timeoutMs ?? 15_000, env: { ...env, PATH: path } }).catch((err: Error) => ({
      code: null,
      stderr: err.message,
      stdout: '',
    }));
    if (res.code === 0) {
      engineUp = true;
      break;
    }
    const why = (res.stderr || res.stdout).trim().split('\n').filter(Boolean).at(-1) ?? `exit code ${res.code}`;
    engineProblems.push(`${e.name} is installed but its engine does not answer (${e.name} info: ${why})`);
  }
  if (!engineUp) {
    if (engines.every((e) => !e.bin)) problems.push(`no container engine (${wanted.join(' or ')}) is installed`);
    else problems.push(...engineProblems);
  }
  if (kind && opts.needNftables) {
    const v = await run([kind, 'version'], { allowFail: true, timeoutMs: 10_000, env: { ...env, PATH: path } }).catch(() => undefined);
    const version = v ? parseKindVersion(v.stdout) : undefined;
    if (!version || !atLeast(version, NFTABLES_MIN_KIND)) {
      problems.push(`kube-proxy's nftables mode needs kind v${NFTABLES_MIN_KIND.join('.')} or later; found ${version ? `v${version.join('.')}` : 'an unknown version'}`);
    }
  }
  if (!problems.length) return undefined;
  const neither = !kind && engines.every((e) => !e.bin) ? '; this machine has neither' : '';
  return new PrereqError(`the kind provider cannot run here: ${problems.join('; ')}.\n  fix: ${INSTALL_HINT}${neither}`);
}

export function kindCreateArgv(name: string, kubeconfig: string, waitS = 180): string[] {
  // --config - : the rendered config goes in on stdin; --kubeconfig keeps the user's own kubeconfig untouched
  return ['kind', 'create', 'cluster', '--name', name, '--config', '-', '--wait', `${waitS}s`, '--kubeconfig', kubeconfig];
}

export function kindDeleteArgv(name: string, kubeconfig?: string): string[] {
  return ['kind', 'delete', 'cluster', '--name', name, ...(kubeconfig ? ['--kubeconfig', kubeconfig] : [])];
}

/** `kind get clusters` prints one name a line (and "No kind clusters found." on stderr when there are none) */
export function parseKindClusters(stdout: string): string[] {
  return stdout.split('\n').map((l) => l.trim()).filter((l) => /^[a-z0-9.-]+$/.test(l));
}

/** kind clusters whose names start with a prefix: leftovers of crashed runs for `dpbench clean` */
export async function listKindClusters(prefix: string): Promise<string[]> {
  if (!findExecutable('kind')) return [];
  const res = await run(['kind', 'get', 'clusters'], { allowFail: true, timeoutMs: 30_000 });
  return res.code === 0 ? parseKindClusters(res.stdout).filter((n) => n.startsWith(prefix)) : [];
}

export interface KindCreateOptions {
  name: string;
  shape: Pick<ClusterShape, 'name' | 'nodes' | 'network'>;
  datapath: Datapath;
  /** kind's --wait for the control plane, seconds */
  waitS?: number;
  /** the whole `kind create` (image pull included), default 10 minutes */
  timeoutMs?: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export class KindCluster implements AsyncDisposable {
  private deleted = false;

  private constructor(
    readonly name: string,
    readonly config: KindConfig,
    /** a kubeconfig file of this cluster's own, in a temporary directory removed on dispose */
    readonly kubeconfig: string,
    private readonly dir: string,
    readonly createMs: number,
  ) {}

  /** config errors first (exit 104, whatever the machine), then prerequisites (exit 3), then `kind create` */
  static async create(opts: KindCreateOptions): Promise<KindCluster> {
    const config = kindConfig(opts.shape, opts.datapath, opts.name);
    const missing = await checkKind({ needNftables: config.networking.kubeProxyMode === 'nftables' });
    if (missing) throw missing;
    const dir = mkdtempSync(join(tmpdir(), 'dpbench-kind-'));
    const kubeconfig = join(dir, 'kubeconfig');
    const t0 = performance.now();
    opts.log?.(`kind: creating cluster ${opts.name} (${config.nodes.length} nodes, kube-proxy ${config.networking.kubeProxyMode})`);
    try {
      await run(kindCreateArgv(opts.name, kubeconfig, opts.waitS), {
        input: renderKindConfig(config),
        timeoutMs: opts.timeoutMs ?? 600_000,
        signal: opts.signal,
      });
    } catch (e) {
      // a failed create can leave node containers behind; kind delete is idempotent
      await run(kindDeleteArgv(opts.name, kubeconfig), { allowFail: true, timeoutMs: 120_000 }).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    const cluster = new KindCluster(opts.name, config, kubeconfig, dir, performance.now() - t0);
    opts.log?.(`kind: cluster ${opts.name} up in ${(cluster.createMs / 1000).toFixed(1)} s`);
    return cluster;
  }

  async delete(): Promise<void> {
    if (this.deleted) return;
    this.deleted = true;
    try {
      await run(kindDeleteArgv(this.name, this.kubeconfig), { timeoutMs: 180_000 });
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.delete();
  }
}
