/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Conntrack: lookup, lifetime refresh and creation of the two entries (forward, reply) of a flow in dp_ct4. */
#ifndef DP_CT_H
#define DP_CT_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "consts.h"
#include "maps.h"
#include "parse.h"

static __always_inline __u32 now_seconds(void)
{
	return bpf_ktime_get_ns() / NSEC_PER_SEC;
}

static __always_inline void ct4_fill_key(struct ct4_key *k, const struct pkt4 *p, __u8 dir)
{
	k->saddr = p->saddr;
	k->daddr = p->daddr;
	k->sport = p->sport;
	k->dport = p->dport;
	k->proto = p->proto;
	k->dir = dir;
	k->pad = 0;
}

static __always_inline bool ct4_live(const struct ct4_entry *e, __u32 now)
{
	return (__s32)(e->expires - now) > 0;
}

/* the live entry for the packet as it is, or NULL */
static __always_inline struct ct4_entry *ct4_lookup(const struct pkt4 *p, __u8 dir, __u32 now)
{
	struct ct4_key key;
	struct ct4_entry *e;

	ct4_fill_key(&key, p, dir);
	e = bpf_map_lookup_elem(&dp_ct4, &key);
	return e && ct4_live(e, now) ? e : NULL;
}

static __always_inline __u32 ct4_lifetime(const struct pkt4 *p, __u16 flags)
{
	if (p->proto != IPPROTO_TCP)
		return CT_LIFETIME_NONTCP;
	if (flags & CT_F_CLOSING)
		return CT_CLOSE_TIMEOUT;
	return p->tcp_flags & TCPF_SYN ? CT_SYN_TIMEOUT : CT_LIFETIME_TCP;
}

/* extend a flow's life; FIN or RST shorten it instead. Written in place: a racing CPU writes the same values */
static __always_inline void ct4_refresh(struct ct4_entry *e, const struct pkt4 *p, __u32 now)
{
	__u16 flags = e->flags;
	__u32 expires;

	if (p->proto == IPPROTO_TCP && (p->tcp_flags & (TCPF_FIN | TCPF_RST)))
		flags |= CT_F_CLOSING;
	expires = now + ct4_lifetime(p, flags);
	if (flags != e->flags) {
		e->flags = flags;
		e->expires = expires;
	} else if ((__s32)(expires - e->expires) > CT_REFRESH_SLACK) {
		e->expires = expires;
	}
}

/*
 * The reply entry of a flow whose replies this hook owns (its flags carry one of `owned`), refreshed and copied
 * out: the copy stays valid whatever another CPU does to the map entry meanwhile.
 */
static __always_inline bool ct4_reply_of(const struct pkt4 *p, __u16 owned, __u32 now, struct ct4_entry *out)
{
	struct ct4_entry *rev = ct4_lookup(p, CT_REPLY, now);

	if (!rev || !(rev->flags & owned))
		return false;
	ct4_refresh(rev, p, now);
	*out = *rev;
	return true;
}

/* both entries of a new flow, reply first so no forwarded packet's answer can miss it; -1 when the map refused */
static __always_inline int ct4_create(const struct ct4_key *fwd_key, const struct ct4_entry *fwd,
				      const struct ct4_key *rev_key, const struct ct4_entry *rev)
{
	if (bpf_map_update_elem(&dp_ct4, rev_key, rev, BPF_ANY) < 0)
		return -1;
	if (bpf_map_update_elem(&dp_ct4, fwd_key, fwd, BPF_ANY) < 0) {
		bpf_map_delete_elem(&dp_ct4, rev_key);
		return -1;
	}
	return 0;
}

#endif /* DP_CT_H */
