/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Service load balancing: frontend lookup, backend choice (random slot or ClientIP affinity), flow creation. */
#ifndef DP_LB_H
#define DP_LB_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "consts.h"
#include "ct.h"
#include "maps.h"
#include "parse.h"
#include "reasons.h"

static __always_inline struct lb4_service *lb4_lookup_service(const struct pkt4 *p, __u8 scope, struct lb4_key *key)
{
	key->address = p->daddr;
	key->dport = p->dport;
	key->slot = 0;
	key->proto = p->proto;
	key->scope = scope;
	key->pad = 0;
	return bpf_map_lookup_elem(&dp_lb4_services, key);
}

/* the backend in one slot of the frontend in key, or NULL when the agent is mid-update */
static __always_inline struct lb4_backend *lb4_slot_backend(struct lb4_key *key, __u16 slot, __u32 *backend_id)
{
	struct lb4_service *entry;

	key->slot = slot;
	entry = bpf_map_lookup_elem(&dp_lb4_services, key);
	key->slot = 0;
	if (!entry)
		return NULL;
	*backend_id = entry->backend_id;
	return bpf_map_lookup_elem(&dp_lb4_backends, &entry->backend_id);
}

/*
 * The backend for a new flow: the client's affinity backend while it is fresh and still in the slot it was
 * chosen from, otherwise a random slot (kube-proxy's statistic-random pick, cilium's default).
 */
static __always_inline struct lb4_backend *lb4_select_backend(struct lb4_key *key, const struct lb4_service *svc,
							      __be32 client, __u32 now, __u32 *backend_id,
							      bool *affinity_failed)
{
	struct lb4_affinity_key akey = { .client = client, .svc_id = svc->svc_id };
	struct lb4_backend *backend = NULL;
	__u16 slot = 0;

	if (svc->affinity_timeout) {
		struct lb4_affinity *aff = bpf_map_lookup_elem(&dp_lb4_affinity, &akey);

		if (aff && now - aff->last_used <= svc->affinity_timeout && aff->slot >= 1 && aff->slot <= svc->count) {
			slot = aff->slot;
			backend = lb4_slot_backend(key, slot, backend_id);
			if (backend && *backend_id != aff->backend_id)
				backend = NULL; /* the backend set changed: choose again */
		}
	}
	if (!backend) {
		slot = (bpf_get_prandom_u32() % svc->count) + 1;
		backend = lb4_slot_backend(key, slot, backend_id);
		if (!backend)
			return NULL;
	}
	if (svc->affinity_timeout) {
		struct lb4_affinity aff = { .backend_id = *backend_id, .last_used = now, .slot = slot };

		if (bpf_map_update_elem(&dp_lb4_affinity, &akey, &aff, BPF_ANY) < 0)
			*affinity_failed = true;
	}
	return backend;
}

/* what lb4_flow() found or created for a packet */
struct lb4_flow {
	struct ct4_entry fwd; /* the rewrite for this packet */
	bool created;
	bool affinity_failed;
};

static __always_inline __u8 new_flow_reason(const struct lb4_flow *flow)
{
	if (!flow->created)
		return REASON_LB_ESTABLISHED;
	return flow->affinity_failed ? REASON_LB_NEW_NO_AFFINITY : REASON_LB_NEW;
}

/* a free source port on the node IP for NodePort SNAT: the client's own, unless another flow holds it */
static __always_inline int snat_port(struct ct4_key *rev_key, const struct pkt4 *p, __u32 now)
{
	__be16 port = p->sport;

	for (int i = 0; i < SNAT_PORT_ATTEMPTS; i++) {
		struct ct4_entry *taken;

		rev_key->dport = port;
		taken = bpf_map_lookup_elem(&dp_ct4, rev_key);
		/* free, expired, or this very client's earlier flow */
		if (!taken || !ct4_live(taken, now) || (taken->new_daddr == p->saddr && taken->new_dport == p->sport &&
							   taken->new_sport == p->dport))
			return 0;
		port = bpf_htons(SNAT_PORT_MIN + bpf_get_prandom_u32() % SNAT_PORT_RANGE);
	}
	return -1;
}

/*
 * Find the flow of a packet addressed to a service frontend, or create it: backend choice, hairpin SNAT (from a
 * pod to itself), NodePort SNAT (from the netdev to a remote backend), both conntrack entries.
 * Returns 0, or the reason the packet cannot be forwarded.
 */
static __always_inline int lb4_flow(const struct pkt4 *p, struct lb4_key *key, const struct lb4_service *svc,
				    __u32 now, bool from_netdev, struct lb4_flow *flow)
{
	struct ct4_key fwd_key, rev_key;
	struct ct4_entry *e, rev = {};
	struct lb4_backend *backend;
	bool syn = pkt4_is_syn(p);
	__u32 backend_id = 0;

	ct4_fill_key(&fwd_key, p, CT_FORWARD);
	e = bpf_map_lookup_elem(&dp_ct4, &fwd_key);
	/* a SYN on a closing flow is the 5-tuple's next connection (TCP_CRR reuses ports) */
	if (e && ct4_live(e, now) && !(syn && (e->flags & CT_F_CLOSING))) {
		if (bpf_map_lookup_elem(&dp_lb4_backends, &e->backend_id)) {
			ct4_refresh(e, p, now);
			flow->fwd = *e;
			return 0;
		}
		/* its backend is gone: only a new connection can be placed elsewhere */
	}
	/* any packet to a service without endpoints is answered: a client mid-flow learns its peer is gone */
	if (svc->count == 0)
		return svc->flags & SVC_F_NO_LOCAL ? REASON_DROP_NO_LOCAL_BACKEND : REASON_REJECT_NO_BACKEND;
	if (p->proto == IPPROTO_TCP && !syn)
		return REASON_DROP_NO_CT_ENTRY;

	backend = lb4_select_backend(key, svc, p->saddr, now, &backend_id, &flow->affinity_failed);
	if (!backend)
		return REASON_DROP_NO_BACKEND_SLOT;

	__builtin_memset(&flow->fwd, 0, sizeof(flow->fwd));
	flow->fwd.new_daddr = backend->address;
	flow->fwd.new_dport = backend->port;
	flow->fwd.backend_id = backend_id;
	flow->fwd.svc_id = svc->svc_id;
	flow->fwd.expires = now + ct4_lifetime(p, 0);

	/* the reply as the backend will send it: to the client, or to whatever the client was SNATed to */
	rev_key.saddr = backend->address;
	rev_key.daddr = p->saddr;
	rev_key.sport = backend->port;
	rev_key.dport = p->sport;
	rev_key.proto = p->proto;
	rev_key.dir = CT_REPLY;
	rev_key.pad = 0;
	rev.new_saddr = p->daddr;
	rev.new_sport = p->dport;
	rev.backend_id = backend_id;
	rev.svc_id = svc->svc_id;
	rev.expires = flow->fwd.expires;

	if (from_netdev) {
		flow->fwd.flags |= CT_F_EXTERNAL;
		if (!(backend->flags & BE_F_LOCAL)) {
			/* the backend's node must send its reply back through us: SNAT to the node IP we were reached on */
			rev_key.daddr = p->daddr;
			if (snat_port(&rev_key, p, now) < 0)
				return REASON_DROP_SNAT_NO_PORT;
			flow->fwd.flags |= CT_F_SNAT;
			flow->fwd.new_saddr = p->daddr;
			flow->fwd.new_sport = rev_key.dport;
			rev.new_daddr = p->saddr;
			rev.new_dport = p->sport;
		}
	} else if (backend->address == p->saddr) {
		/* a pod cannot receive a packet from its own address: cilium's loopback SNAT */
		flow->fwd.flags |= CT_F_HAIRPIN;
		flow->fwd.new_saddr = bpf_htonl(LB4_LOOPBACK);
		rev_key.daddr = bpf_htonl(LB4_LOOPBACK);
		rev.new_daddr = p->saddr;
	}
	rev.flags = flow->fwd.flags;

	if (ct4_create(&fwd_key, &flow->fwd, &rev_key, &rev) < 0)
		return REASON_DROP_CT_MAP_FULL;
	flow->created = true;
	return 0;
}

#endif /* DP_LB_H */
