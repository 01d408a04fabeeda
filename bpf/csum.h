/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Internet checksum helpers: where a packet's L4 checksum lives, and checksums of headers built from scratch. */
#ifndef DP_CSUM_H
#define DP_CSUM_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "parse.h"

#define IP_CSUM_OFF (ETH_HLEN + 10)

static __always_inline __u16 csum_fold(__s64 sum)
{
	__u32 s = (__u32)sum;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* folded, inverted checksum of a stack buffer; len must be a multiple of 4 (bpf_csum_diff's rule) */
static __always_inline __u16 csum_of(void *buf, __u32 len, __u32 seed)
{
	return csum_fold(bpf_csum_diff(0, 0, buf, len, seed));
}

static __always_inline __u32 l4_csum_off(const struct pkt4 *p)
{
	return p->l4_off + (p->proto == IPPROTO_TCP ? 16 : 6);
}

/* UDP may carry no checksum (0): leave it so, and never produce 0 (BPF_F_MARK_MANGLED_0) */
static __always_inline __u64 l4_csum_flags(const struct pkt4 *p)
{
	return p->proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
}

#endif /* DP_CSUM_H */
