/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Verdict and drop reasons, one per outcome, counted in dp_metrics; mirrored in src/datapath/bpf/reasons.ts. */
#ifndef DP_REASONS_H
#define DP_REASONS_H

/*
 * Values start at 128 so a reason can never be mistaken for a TC_ACT_* (-1..8) or XDP_* (0..4) action, as
 * cilium's drop reasons do. Append only: the values are an ABI shared with reports and the TypeScript mirror.
 */
enum dp_reason {
	/* the packet continues */
	REASON_PASS                  = 128, /* not load-balanced traffic: untouched */
	REASON_LB_NEW                = 129, /* new flow to a service: backend chosen, DNAT, conntrack created */
	REASON_LB_ESTABLISHED        = 130, /* packet of a known flow: DNAT from conntrack */
	REASON_REV_NAT               = 131, /* reply of a known flow: source rewritten back to the service */
	REASON_HAIRPIN               = 132, /* pod reaching itself through its service: SNAT to the loopback, sent back */
	REASON_LB_NEW_NO_AFFINITY    = 133, /* new flow forwarded, but the affinity map refused its entry */
	REASON_PASS_FRAGMENT         = 134, /* IPv4 fragment: no ports to load-balance on, untouched */
	REASON_XDP_PASS_TO_STACK     = 135, /* XDP leaves a packet to the stack and tc untouched: an answer to build (no endpoints), a malformed header, no FIB answer yet (no neighbour, TTL expiring) */
	/* the packet is answered */
	REASON_REJECT_NO_BACKEND     = 140, /* service without endpoints: TCP RST or ICMP port unreachable sent back */
	/* the packet is dropped */
	REASON_DROP_INVALID          = 160, /* truncated or malformed headers */
	REASON_DROP_NO_LOCAL_BACKEND = 161, /* a Local traffic policy and no endpoint on this node */
	REASON_DROP_CT_MAP_FULL      = 162, /* a conntrack entry could not be inserted (the LRU found none to evict) */
	REASON_DROP_NO_CT_ENTRY      = 163, /* mid-flow TCP packet to a service that conntrack does not know (or evicted) */
	REASON_DROP_NO_BACKEND_SLOT  = 164, /* a backend slot or backend is missing (agent mid-update) */
	REASON_DROP_WRITE            = 165, /* a packet rewrite helper failed */
	REASON_DROP_SNAT_NO_PORT     = 166, /* no free source port for NodePort SNAT */
	REASON_DROP_UNSUPPORTED      = 167, /* IP options on a packet that must be answered */
	REASON_DROP_POLICY_EGRESS    = 168, /* the sending pod is egress-isolated and no policy allows the flow */
	REASON_DROP_POLICY_INGRESS   = 169, /* the receiving pod is ingress-isolated and no policy allows the flow */
};

#endif /* DP_REASONS_H */
