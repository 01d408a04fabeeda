// SPDX-License-Identifier: Apache-2.0
// Programs on network devices: a tcx link (kernel >= 6.6, pinned so it can outlive the agent) or, where tcx is
// missing, a clsact qdisc with a cls_bpf filter; an XDP link, native (the driver runs it) or generic (the stack
// runs it on the skb); and taking any of them off again, also when the device is gone.
import { bind, check, EINVAL, EOPNOTSUPP, ENOTSUPP, LibbpfError, pinFd, takeLog, unpin } from './libbpf.ts';
import type { XdpModeRequest } from '../../runner/scenario/schema.ts';

const TCX_INGRESS = 46;
const TCX_EGRESS = 47;
const BPF_XDP = 37;
const XDP_FLAGS_SKB_MODE = 1 << 1;
const XDP_FLAGS_DRV_MODE = 1 << 2;
const BPF_TC_INGRESS = 1;
const BPF_TC_EGRESS = 2;

export type TcDirection = 'ingress' | 'egress';

/** one program on one hook of one device: a tcx link, or a legacy cls_bpf filter where tcx is missing */
export interface TcAttachment {
  kind: 'tcx' | 'tc';
  ifindex: number;
  direction: TcDirection;
  /** tcx: the link, detached by bpf_link_detach + close */
  linkFd?: number;
  linkPin?: string;
  /** tc: the filter's handle and priority, and whether we created the clsact qdisc */
  handle?: number;
  priority?: number;
  createdQdisc?: boolean;
}

/** tcx (kernel ≥ 6.6) through bpf_link_create, else clsact + cls_bpf through bpf_tc_* */
export function attachTc(progFd: number, ifindex: number, direction: TcDirection, linkPin?: string): TcAttachment {
  const a = bind();
  const fd = a.linkCreate(progFd, ifindex, direction === 'ingress' ? TCX_INGRESS : TCX_EGRESS, null);
  if (fd >= 0) return pinLink({ kind: 'tcx', ifindex, direction, linkFd: fd }, linkPin);
  if (fd !== -EINVAL && fd !== -EOPNOTSUPP && fd !== -ENOTSUPP) check(`attaching tcx ${direction} on ifindex ${ifindex}`, fd);
  takeLog();
  return attachLegacyTc(progFd, ifindex, direction);
}

function tcHook(ifindex: number, attachPoint: number): Buffer {
  const hook = Buffer.alloc(24); // sz, ifindex, attach_point, parent
  hook.writeBigUInt64LE(24n, 0);
  hook.writeInt32LE(ifindex, 8);
  hook.writeInt32LE(attachPoint, 12);
  return hook;
}

function tcOpts(progFd: number, handle = 0, priority = 0): Buffer {
  const opts = Buffer.alloc(32); // sz, prog_fd, flags, prog_id, handle, priority
  opts.writeBigUInt64LE(32n, 0);
  opts.writeInt32LE(progFd, 8);
  opts.writeUInt32LE(handle, 20);
  opts.writeUInt32LE(priority, 24);
  return opts;
}

function attachLegacyTc(progFd: number, ifindex: number, direction: TcDirection): TcAttachment {
  const a = bind();
  const hook = tcHook(ifindex, direction === 'ingress' ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  const created = a.tcHookCreate(hook);
  if (created < 0 && created !== -17 /* EEXIST: clsact is there already */) check(`creating the clsact qdisc on ifindex ${ifindex}`, created);
  const opts = tcOpts(progFd);
  check(`attaching tc ${direction} filter on ifindex ${ifindex}`, a.tcAttach(hook, opts));
  return { kind: 'tc', ifindex, direction, handle: opts.readUInt32LE(20), priority: opts.readUInt32LE(24), createdQdisc: created === 0 };
}

/** idempotent; never throws for a device that is already gone (its hooks went with it) */
/** a BPF link (tcx or XDP), pinned when a path is given so it survives this process; closed again if pinning fails */
function pinLink<T extends { linkFd?: number; linkPin?: string }>(att: T, linkPin: string | undefined): T {
  if (!linkPin) return att;
  try {
    pinFd(att.linkFd!, linkPin);
    att.linkPin = linkPin;
  } catch (e) {
    closeLink(att);
    throw e;
  }
  return att;
}

/** unpin, detach and close a link; idempotent */
function closeLink(att: { linkFd?: number; linkPin?: string }): void {
  if (att.linkPin) unpin(att.linkPin);
  if (att.linkFd !== undefined && att.linkFd >= 0) {
    const a = bind();
    a.linkDetach(att.linkFd);
    a.closeFd(att.linkFd);
  }
  att.linkFd = -1;
}

export function detachTc(att: TcAttachment): void {
  if (att.kind === 'tcx') {
    closeLink(att);
    return;
  }
  const a = bind();
  if (att.handle === undefined) return;
  const hook = tcHook(att.ifindex, att.direction === 'ingress' ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  a.tcDetach(hook, tcOpts(0, att.handle, att.priority));
  if (att.createdQdisc) a.tcHookDestroy(tcHook(att.ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS));
  att.handle = undefined;
  takeLog();
}

/** where an XDP program runs: in the driver before an skb exists (native), or on the skb in the stack (generic) */
export type XdpMode = 'native' | 'generic';
export type { XdpModeRequest };

export interface XdpAttachment {
  kind: 'xdp';
  ifindex: number;
  /** the mode the kernel accepted: recorded in every sync report, so results say what really ran */
  mode: XdpMode;
  linkFd: number;
  linkPin?: string;
  /** why native was not used, when `auto` fell back to generic */
  fallbackReason?: string;
}

/** bpf_link_create_opts as far as XDP needs it: sz, flags */
function xdpLinkOpts(flags: number): Buffer {
  const opts = Buffer.alloc(16);
  opts.writeBigUInt64LE(16n, 0);
  opts.writeUInt32LE(flags, 8);
  return opts;
}

/** an XDP link (bpf_link_create, BPF_XDP) in the mode asked for; `auto` falls back to generic where native is refused */
export function attachXdp(progFd: number, ifindex: number, request: XdpModeRequest, linkPin?: string): XdpAttachment {
  const a = bind();
  const tryMode = (mode: XdpMode): number =>
    a.linkCreate(progFd, ifindex, BPF_XDP, xdpLinkOpts(mode === 'native' ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE));
  let mode: XdpMode = request === 'generic' ? 'generic' : 'native';
  let fd = tryMode(mode);
  let fallbackReason: string | undefined;
  if (fd < 0 && request === 'auto' && fd !== -16 /* EBUSY: something else holds the hook */) {
    fallbackReason = new LibbpfError('native XDP', -fd, takeLog()).message;
    mode = 'generic';
    fd = tryMode(mode);
  }
  check(`attaching XDP (${mode}) on ifindex ${ifindex}`, fd);
  return pinLink<XdpAttachment>({ kind: 'xdp', ifindex, mode, linkFd: fd, ...(fallbackReason ? { fallbackReason } : {}) }, linkPin);
}

/** idempotent; a device that is gone took its XDP hook with it */
export function detachXdp(att: XdpAttachment): void {
  closeLink(att);
}
