// SPDX-License-Identifier: Apache-2.0
// The loaded service datapath of one node: bpf/build/lb_tc.bpf.o with its maps pinned under
// /sys/fs/bpf/<pinDir>/ and its programs attached to interfaces (tcx and XDP links pinned under <pinDir>/links/).
// AsyncDisposable: disposal detaches every program, removes every pin and closes the object, on any path.
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ConfigError } from '../../errors.ts';
import { PROJECT_ROOT } from '../../runner/scenario/load.ts';
import { MAP_NAMES, METRICS_KEY_SIZE, decodeMetricsKey, sumPerCpuMetrics } from './codec.ts';
import { attachTc, attachXdp, detachTc, detachXdp, type TcAttachment, type TcDirection, type XdpAttachment, type XdpModeRequest } from './attach.ts';
import { BpfObject, ifNameToIndex, LibbpfError, pinFd, type BpfMap, type BpfProgram } from './libbpf.ts';

export const BPFFS = '/sys/fs/bpf';
export const LB_TC_OBJECT = join(PROJECT_ROOT, 'bpf/build/lb_tc.bpf.o');

/** the entry programs of lb_tc.bpf.c and where they go */
export const PROGRAMS = {
  /** tcx ingress of a pod's host-side veth */
  fromPod: 'tc_from_pod',
  /** tcx egress of a pod's host-side veth */
  toPod: 'tc_to_pod',
  /** tcx ingress of the node's uplink */
  fromNetdev: 'tc_from_netdev',
  /** XDP on the node's uplink (xdp mode) */
  xdpFromNetdev: 'xdp_from_netdev',
} as const;
export type ProgramName = (typeof PROGRAMS)[keyof typeof PROGRAMS];

export interface BpfDatapathOptions {
  /** under /sys/fs/bpf; its first segment must start with `dpb-` so `dpbench clean` finds leftovers */
  pinDir: string;
  objectPath?: string;
  bpffs?: string;
}

/** EAGAIN: the verifier gave up because a signal was pending (a profiler's SIGPROF, say); libbpf retries 5 times */
const EAGAIN = 11;
const LOAD_ATTEMPTS = 3;

/** opens and loads an object; a failed object cannot be loaded again, so a retry opens it afresh */
function openAndLoad(path: string): BpfObject {
  for (let attempt = 1; ; attempt++) {
    const obj = BpfObject.open(path);
    try {
      obj.load();
      return obj;
    } catch (e) {
      obj.close();
      if (!(e instanceof LibbpfError && e.errno === EAGAIN) || attempt === LOAD_ATTEMPTS) throw e;
    }
  }
}

export interface Attachment extends TcAttachment {
  ifname: string;
  program: ProgramName;
}

export interface XdpDeviceAttachment extends XdpAttachment {
  ifname: string;
}

export class BpfDatapathObject implements AsyncDisposable {
  private readonly attached: Attachment[] = [];
  private readonly xdpAttached: XdpDeviceAttachment[] = [];
  private disposed = false;
  /** set once the pin directory is ours: a load that fails earlier must not touch a live agent's pins */
  private ownsPins = false;

  private constructor(
    private readonly obj: BpfObject,
    /** absolute pin directory */
    readonly pinPath: string,
    private readonly bpffs: string,
  ) {}

  /** opens and loads the object, then pins its maps; a stale pin directory of the same name is replaced */
  static async load(opts: BpfDatapathOptions): Promise<BpfDatapathObject> {
    const bpffs = opts.bpffs ?? BPFFS;
    const top = opts.pinDir.split('/')[0] ?? '';
    if (!top.startsWith('dpb-') || opts.pinDir.split('/').some((s) => s === '..' || s === '')) {
      throw new ConfigError(`BPF pin directory "${opts.pinDir}" must be a relative path whose first part starts with "dpb-" (so \`dpbench clean\` finds it)`);
    }
    if (!existsSync(bpffs)) throw new ConfigError(`${bpffs} does not exist: mount bpffs with \`mount -t bpf bpf ${bpffs}\` (scripts/setup.sh does)`);
    const pinPath = join(bpffs, opts.pinDir);
    const obj = openAndLoad(opts.objectPath ?? LB_TC_OBJECT);
    const dp = new BpfDatapathObject(obj, pinPath, bpffs);
    try {
      // a previous agent of this run and node died without cleaning up: its pins are ours to replace
      dp.ownsPins = true;
      rmSync(pinPath, { recursive: true, force: true });
      mkdirSync(join(pinPath, 'links'), { recursive: true });
      for (const name of obj.mapNames) pinFd(obj.map(name).fd, join(pinPath, name));
    } catch (e) {
      dp.disposeSync();
      throw e;
    }
    return dp;
  }

  map(name: string): BpfMap {
    return this.obj.map(name);
  }

  program(name: ProgramName): BpfProgram {
    return this.obj.program(name);
  }

  /**
   * Attaches a program to a device of the current network namespace; `ifindex` pins down which device when the
   * caller listed them (a pod replaced meanwhile gets a new index), otherwise if_nametoindex resolves it here.
   */
  attach(ifname: string, direction: TcDirection, program: ProgramName, ifindex = ifNameToIndex(ifname)): Attachment {
    if (this.attached.some((a) => a.ifname === ifname && a.direction === direction)) {
      throw new ConfigError(`${ifname} ${direction} already has a program of this datapath attached`);
    }
    const att = attachTc(this.obj.program(program).fd, ifindex, direction, join(this.pinPath, 'links', `${ifname}-${direction}`));
    const full: Attachment = Object.assign(att, { ifname, program });
    this.attached.push(full);
    return full;
  }

  /** xdp_from_netdev on a device of the current namespace, in the mode asked for (`auto`: native, else generic) */
  attachXdp(ifname: string, mode: XdpModeRequest, ifindex = ifNameToIndex(ifname)): XdpDeviceAttachment {
    if (this.xdpAttached.some((a) => a.ifname === ifname)) throw new ConfigError(`${ifname} already has this datapath's XDP program`);
    const att = attachXdp(this.obj.program(PROGRAMS.xdpFromNetdev).fd, ifindex, mode, join(this.pinPath, 'links', `${ifname}-xdp`));
    const full: XdpDeviceAttachment = Object.assign(att, { ifname });
    this.xdpAttached.push(full);
    return full;
  }

  /** every program of this datapath on the device: tc hooks and XDP */
  detach(ifname: string): void {
    for (const a of this.attached.filter((x) => x.ifname === ifname)) detachTc(a);
    this.attached.splice(0, this.attached.length, ...this.attached.filter((x) => x.ifname !== ifname));
    for (const a of this.xdpAttached.filter((x) => x.ifname === ifname)) detachXdp(a);
    this.xdpAttached.splice(0, this.xdpAttached.length, ...this.xdpAttached.filter((x) => x.ifname !== ifname));
  }

  /** the tc hooks (tcx links or cls_bpf filters) */
  get attachments(): readonly Attachment[] {
    return this.attached;
  }

  get xdpAttachments(): readonly XdpDeviceAttachment[] {
    return this.xdpAttached;
  }

  /** dp_metrics summed over CPUs: one row per {reason, direction} seen */
  metrics(): { reason: number; dir: number; packets: number; bytes: number }[] {
    return this.obj
      .map(MAP_NAMES.metrics)
      .entries()
      .map(([k, v]) => ({ ...decodeMetricsKey(k.subarray(0, METRICS_KEY_SIZE)), ...sumPerCpuMetrics(v) }));
  }

  /**
   * Leaves everything as it is for good: maps, programs and tcx links stay pinned and keep working after this
   * process exits (`dpbench lab up`, as kube-proxy's rules outlive it); `dpbench lab down` removes the pins.
   */
  abandon(): void {
    this.disposed = true;
  }

  /**
   * Synchronous, so it can also run from a process 'exit' handler: detach every program, remove the pins (the
   * maps die with their last reference), close the object, and remove the run's directory once it is empty.
   */
  disposeSync(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const a of this.attached.splice(0)) {
      try {
        detachTc(a);
      } catch {
        /* the device may be gone with its namespace; its hooks went with it */
      }
    }
    for (const a of this.xdpAttached.splice(0)) {
      try {
        detachXdp(a);
      } catch {
        /* as above */
      }
    }
    this.obj.close();
    if (!this.ownsPins) return;
    rmSync(this.pinPath, { recursive: true, force: true });
    // the run's top directory is shared by the nodes: the last one out removes it
    for (let dir = dirname(this.pinPath); dir.startsWith(`${this.bpffs}/dpb-`); dir = dirname(dir)) {
      try {
        if (readdirSync(dir).length) break;
        rmdirSync(dir);
      } catch {
        break;
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.disposeSync();
  }
}
