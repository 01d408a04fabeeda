/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* NetworkPolicy, cilium-style: address → identity (dp_ipcache), per-endpoint allow entries (dp_policy), replies of allowed flows (dp_policy_ct4). */
#ifndef DP_POLICY_H
#define DP_POLICY_H

/*
 * Model (src/datapath/ebpf/policy.ts writes the maps):
 *   - every address has an identity: the longest prefix in dp_ipcache. Pods get one identity per distinct label
 *     set (namespace labels, namespace name and pod labels, plus what else decides a verdict: named ports, ipBlock
 *     membership), every ipBlock cidr and except gets its own, the node's addresses are IDENTITY_HOST and
 *     0.0.0.0/0 is IDENTITY_WORLD, so an except inside a cidr is simply a longer prefix with another identity;
 *   - dp_endpoints holds the local pods and which of their directions some policy isolates: a pod without
 *     isolation costs one lookup;
 *   - dp_policy is an LPM trie over {endpoint, identity, gen, direction, protocol, port}: the first 96 bits are always
 *     matched in full, the port by a prefix, so "every port" is prefix 0 and a port range is at most 30 aligned
 *     blocks (cilium's port masks). Policies only allow, so the lookup order below only decides speed:
 *       1. {peer identity, proto, port}   2. {any peer (0), proto, port}
 *       3. {peer identity, proto 0}        4. {any peer, proto 0}          (proto 0 = a rule without ports)
 *   - no wrong window: every agent-written entry exists in two generations (a gen byte in dp_policy keys, two slots
 *     in dp_ipcache and dp_endpoints values). A packet reads dp_policy_gen once and sees one generation only; the
 *     agent rewrites the inactive one to the new state, then flips dp_policy_gen with one 4-byte write, so every
 *     packet is judged entirely by the old state or entirely by the new one. The generation left behind is the
 *     one the next sync rewrites (a prefix only one generation has reads, in the other, as its covering prefix).
 *     A packet that read the old generation just before a flip is done long before the next sync rewrites it
 *     (microseconds against the agent's milliseconds at least); nothing stronger (RCU grace period) is waited for;
 *   - dp_policy_ct4 remembers the reply tuple of each flow an enforcing endpoint let through (either direction),
 *     so replies pass whatever the policy on their way says; forward packets are judged on every packet.
 * Enforced after service DNAT (the backend's address and port), egress at the sender's veth (tc_from_pod),
 * ingress at the receiver's (tc_to_pod). Traffic to or from the node itself is always allowed.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "consts.h"
#include "ct.h"
#include "maps.h"
#include "parse.h"
#include "reasons.h"

static __always_inline __u32 policy_generation(void)
{
	__u32 zero = 0;
	__u32 *gen = bpf_map_lookup_elem(&dp_policy_gen, &zero);

	return gen && *gen ? 1 : 0;
}

static __always_inline __u32 ipcache_identity(__be32 addr, __u32 gen)
{
	struct ipcache_key key = { .prefixlen = 32, .addr = addr };
	struct ipcache_value *v = bpf_map_lookup_elem(&dp_ipcache, &key);

	return v ? v->identity[gen & 1] : IDENTITY_WORLD;
}

static __always_inline bool policy_allows(__be32 endpoint, __u32 identity, __u32 gen, __u8 dir, __u8 proto, __be16 dport)
{
	struct policy_key key = {
		.prefixlen = POLICY_PREFIX_FULL, .endpoint = endpoint, .identity = identity, .gen = gen, .dir = dir,
		.proto = proto, .dport = dport,
	};

	if (bpf_map_lookup_elem(&dp_policy, &key))
		return true;
	key.identity = IDENTITY_ANY;
	if (bpf_map_lookup_elem(&dp_policy, &key))
		return true;
	key.identity = identity;
	key.proto = 0;
	key.dport = 0;
	if (bpf_map_lookup_elem(&dp_policy, &key))
		return true;
	key.identity = IDENTITY_ANY;
	return bpf_map_lookup_elem(&dp_policy, &key) != NULL;
}

/* the packet answers a flow an enforcing endpoint let through */
static __always_inline bool policy_ct_is_reply(const struct pkt4 *p, __u32 now)
{
	struct ct4_key key;
	struct policy_ct4_entry *e;

	ct4_fill_key(&key, p, CT_REPLY);
	e = bpf_map_lookup_elem(&dp_policy_ct4, &key);
	return e && (__s32)(e->expires - now) > 0;
}

/* remember where the replies of an allowed packet will come from; a full map only costs those replies a lookup */
static __always_inline void policy_ct_record(const struct pkt4 *p, __u32 now)
{
	struct ct4_key key = {
		.saddr = p->daddr, .daddr = p->saddr, .sport = p->dport, .dport = p->sport, .proto = p->proto, .dir = CT_REPLY,
	};
	struct policy_ct4_entry *e = bpf_map_lookup_elem(&dp_policy_ct4, &key);
	__u32 expires = now + ct4_lifetime(p, 0);

	if (e) {
		if ((__s32)(expires - e->expires) > CT_REFRESH_SLACK)
			e->expires = expires;
		return;
	}
	struct policy_ct4_entry fresh = { .expires = expires };
	bpf_map_update_elem(&dp_policy_ct4, &key, &fresh, BPF_ANY);
}

/*
 * The policy verdict for a packet of local pod `endpoint` talking to `peer` in direction `dir`: 0 to go on, or
 * the drop reason. Non-enforcing endpoints (not in dp_endpoints, or flags 0) are not tracked at all.
 */
static __always_inline int policy_check(const struct pkt4 *p, __be32 endpoint, __be32 peer, __u8 dir, __u32 now)
{
	struct policy_endpoint *ep = bpf_map_lookup_elem(&dp_endpoints, &endpoint);
	__u8 flag = dir == POLICY_DIR_INGRESS ? POLICY_F_INGRESS : POLICY_F_EGRESS;
	__u32 gen;
	__u8 flags;

	if (!ep)
		return 0;
	gen = policy_generation();
	flags = ep->flags[gen & 1];
	if (!flags)
		return 0;
	if (policy_ct_is_reply(p, now))
		return 0;
	if (flags & flag) {
		__u32 identity = ipcache_identity(peer, gen);

		if (identity != IDENTITY_HOST && !policy_allows(endpoint, identity, gen, dir, p->proto, p->dport))
			return dir == POLICY_DIR_INGRESS ? REASON_DROP_POLICY_INGRESS : REASON_DROP_POLICY_EGRESS;
	}
	policy_ct_record(p, now);
	return 0;
}

#endif /* DP_POLICY_H */
