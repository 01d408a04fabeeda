/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Keys and values of the datapath's maps; src/datapath/bpf/codec.ts encodes the same layouts byte for byte. */
#ifndef DP_STRUCTS_H
#define DP_STRUCTS_H

#include <linux/types.h>

/* a service frontend (slot 0) or one of its backend slots (1..count); addresses and ports in network order */
struct lb4_key {
	__be32 address;
	__be16 dport;
	__u16 slot;
	__u8 proto;
	__u8 scope; /* LB_SCOPE_* */
	__u16 pad;
};

struct lb4_service {
	__u32 backend_id;       /* slot > 0: the backend in this slot */
	__u32 svc_id;           /* slot 0: the frontend's id, for affinity and conntrack */
	__u32 affinity_timeout; /* slot 0: ClientIP session affinity in seconds, 0 = none */
	__u16 count;            /* slot 0: backend slots 1..count */
	__u16 flags;            /* slot 0: SVC_F_* */
};

struct lb4_backend {
	__be32 address;
	__be16 port;
	__u8 proto;
	__u8 flags; /* BE_F_* */
};

/* one direction of a flow, as the packet carries it before any rewrite */
struct ct4_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 dir; /* CT_FORWARD or CT_REPLY */
	__u16 pad;
};

/* what to rewrite on packets matching the key; 0 = leave that field alone */
struct ct4_entry {
	__be32 new_saddr;
	__be32 new_daddr;
	__be16 new_sport;
	__be16 new_dport;
	__u32 backend_id; /* forward entries: checked against dp_lb4_backends on every packet */
	__u32 svc_id;
	__u32 expires;    /* seconds of bpf_ktime_get_ns() */
	__u16 flags;      /* CT_F_* */
	__u16 pad;
};

struct lb4_affinity_key {
	__be32 client;
	__u32 svc_id;
};

struct lb4_affinity {
	__u32 backend_id;
	__u32 last_used; /* seconds of bpf_ktime_get_ns() */
	__u16 slot;      /* where backend_id sat: still there = still a backend of this service */
	__u16 pad;
};

struct metrics_key {
	__u8 reason; /* REASON_* */
	__u8 dir;    /* METRICS_DIR_* */
	__u16 pad;
};

struct metrics_value {
	__u64 packets;
	__u64 bytes;
};

/* dp_ipcache: an address or prefix (LPM trie key: prefixlen, then the address in network order) */
struct ipcache_key {
	__u32 prefixlen;
	__be32 addr;
};

/* the address's identity in each policy generation (IDENTITY_* or one the agent allocated) */
struct ipcache_value {
	__u32 identity[2];
};

/* dp_policy: LPM trie key; the first POLICY_PREFIX_FIXED bits always match in full, the rest is the port's prefix */
struct policy_key {
	__u32 prefixlen;
	__be32 endpoint; /* the local pod's address */
	__u32 identity;  /* of the peer; IDENTITY_ANY = every peer */
	__u8 gen;        /* the policy generation the entry belongs to */
	__u8 dir;        /* POLICY_DIR_* */
	__u8 proto;      /* 0 = every protocol and port */
	__u8 pad;
	__be16 dport;
};

struct policy_value {
	__u32 flags; /* reserved: every entry allows */
};

/* dp_endpoints: the directions some policy isolates for a local pod */
struct policy_endpoint {
	__u8 flags[2]; /* POLICY_F_* in each policy generation */
	__u8 pad[2];
};

/* dp_policy_ct4 (keyed by struct ct4_key, dir CT_REPLY): a reply tuple of an allowed flow */
struct policy_ct4_entry {
	__u32 expires; /* seconds of bpf_ktime_get_ns() */
};

#endif /* DP_STRUCTS_H */
