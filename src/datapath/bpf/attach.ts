// SPDX-License-Identifier: Apache-2.0
// Programs on network devices: a tcx link (kernel >= 6.6, pinned so it can outlive the agent) or, where tcx is
// missing, a clsact qdisc with a cls_bpf filter; and taking either off again, also when the device is gone.
import { bind, check, EINVAL, EOPNOTSUPP, ENOTSUPP, pinFd, takeLog, unpin } from './libbpf.ts';

const TCX_INGRESS = 46;
const TCX_EGRESS = 47;
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
  if (fd >= 0) {
    const att: TcAttachment = { kind: 'tcx', ifindex, direction, linkFd: fd };
    if (linkPin) {
      try {
        pinFd(fd, linkPin);
        att.linkPin = linkPin;
      } catch (e) {
        detachTc(att);
        throw e;
      }
    }
    return att;
  }
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
export function detachTc(att: TcAttachment): void {
  const a = bind();
  if (att.kind === 'tcx') {
    if (att.linkPin) unpin(att.linkPin);
    if (att.linkFd !== undefined && att.linkFd >= 0) {
      a.linkDetach(att.linkFd);
      a.closeFd(att.linkFd);
    }
    att.linkFd = -1;
    return;
  }
  if (att.handle === undefined) return;
  const hook = tcHook(att.ifindex, att.direction === 'ingress' ? BPF_TC_INGRESS : BPF_TC_EGRESS);
  a.tcDetach(hook, tcOpts(0, att.handle, att.priority));
  if (att.createdQdisc) a.tcHookDestroy(tcHook(att.ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS));
  att.handle = undefined;
  takeLog();
}
