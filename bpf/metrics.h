/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Per-CPU packet and byte counters keyed by {reason, direction}, updated at one choke point per entry program. */
#ifndef DP_METRICS_H
#define DP_METRICS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"
#include "reasons.h"

/* which program counted: mirrored in src/datapath/bpf/reasons.ts */
enum metrics_dir {
	METRICS_DIR_FROM_POD    = 0, /* tc ingress of a pod's host-side veth */
	METRICS_DIR_TO_POD      = 1, /* tc egress of a pod's host-side veth */
	METRICS_DIR_FROM_NETDEV = 2, /* tc ingress of the node's eth0 */
	METRICS_DIR_XDP         = 3, /* XDP on the node's eth0 (xdp mode) */
};

/* what a handler decided: the tc action to return and why */
struct verdict {
	int action;
	__u8 reason;
};

static __always_inline struct verdict verdict(int action, __u8 reason)
{
	struct verdict v = { .action = action, .reason = reason };
	return v;
}

/* the one place counters are written: called once, at the end of each entry program; returns the action */
static __always_inline int account_len(struct verdict v, __u8 dir, __u64 len)
{
	struct metrics_key key = { .reason = v.reason, .dir = dir };
	struct metrics_value *value = bpf_map_lookup_elem(&dp_metrics, &key);

	if (!value) {
		struct metrics_value zero = {};
		/* another CPU may create the key first: then its lookup below finds it */
		bpf_map_update_elem(&dp_metrics, &key, &zero, BPF_NOEXIST);
		value = bpf_map_lookup_elem(&dp_metrics, &key);
	}
	if (value) {
		/* per-CPU value: no other writer */
		value->packets += 1;
		value->bytes += len;
	}
	return v.action;
}

static __always_inline int account(struct __sk_buff *skb, struct verdict v, __u8 dir)
{
	return account_len(v, dir, skb->len);
}

#endif /* DP_METRICS_H */
