/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* The datapath's maps, BTF-defined: services and backends written by the agent, conntrack, affinity and metrics by the programs. */
#ifndef DP_MAPS_H
#define DP_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "consts.h"
#include "structs.h"

/* service frontends and their backend slots, written by the agent (cilium's lb4_services_v2) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct lb4_key);
	__type(value, struct lb4_service);
	__uint(max_entries, MAX_SERVICES + MAX_BACKENDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} dp_lb4_services SEC(".maps");

/* backends by id, written by the agent */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, struct lb4_backend);
	__uint(max_entries, MAX_BACKENDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} dp_lb4_backends SEC(".maps");

/* conntrack: both directions of every load-balanced flow; full, it evicts the least recently used (drop_no_ct_entry) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ct4_key);
	__type(value, struct ct4_entry);
	__uint(max_entries, MAX_CT_ENTRIES);
} dp_ct4 SEC(".maps");

/* ClientIP session affinity: client and frontend to the backend it last used */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct lb4_affinity_key);
	__type(value, struct lb4_affinity);
	__uint(max_entries, MAX_AFFINITY_ENTRIES);
} dp_lb4_affinity SEC(".maps");

/* packets and bytes per verdict reason and direction, per CPU; written only by account() */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct metrics_key);
	__type(value, struct metrics_value);
	__uint(max_entries, MAX_METRICS_ENTRIES);
} dp_metrics SEC(".maps");

/* address or prefix → identity, written by the agent (cilium's ipcache) */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct ipcache_key);
	__type(value, struct ipcache_value);
	__uint(max_entries, MAX_IPCACHE_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} dp_ipcache SEC(".maps");

/* what each local endpoint allows, by peer identity, direction, protocol and port prefix; written by the agent */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct policy_key);
	__type(value, struct policy_value);
	__uint(max_entries, MAX_POLICY_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} dp_policy SEC(".maps");

/* local pods and their isolated directions, written by the agent */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __be32);
	__type(value, struct policy_endpoint);
	__uint(max_entries, MAX_POLICY_ENDPOINTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} dp_endpoints SEC(".maps");

/* the policy generation packets use (key 0): the agent fills the other one, then flips this */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} dp_policy_gen SEC(".maps");

/* reply tuples of flows an enforcing endpoint allowed, written by the programs */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ct4_key);
	__type(value, struct policy_ct4_entry);
	__uint(max_entries, MAX_POLICY_CT_ENTRIES);
} dp_policy_ct4 SEC(".maps");

#endif /* DP_MAPS_H */
