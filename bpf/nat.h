/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Packet rewrites with incremental checksum updates: addresses, ports, TTL, MAC addresses. */
#ifndef DP_NAT_H
#define DP_NAT_H

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "csum.h"
#include "parse.h"

/*
 * Addresses are in the TCP/UDP pseudo-header, so their L4 update is BPF_F_PSEUDO_HDR: with CHECKSUM_PARTIAL
 * (packets from local sockets on veths) only that part is patched, and the ports are left to the offload.
 */
static __always_inline int nat4_addr(struct __sk_buff *skb, const struct pkt4 *p, __u32 off, __be32 from, __be32 to)
{
	if (bpf_l4_csum_replace(skb, l4_csum_off(p), from, to, l4_csum_flags(p) | BPF_F_PSEUDO_HDR | sizeof(to)) < 0)
		return -1;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, from, to, sizeof(to)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, off, &to, sizeof(to), 0);
}

static __always_inline int nat4_port(struct __sk_buff *skb, const struct pkt4 *p, __u32 off, __be16 from, __be16 to)
{
	if (bpf_l4_csum_replace(skb, l4_csum_off(p), from, to, l4_csum_flags(p) | sizeof(to)) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, off, &to, sizeof(to), 0);
}

/* rewrite the fields that are set (non-zero) and differ; p follows the packet */
static __always_inline int nat4_rewrite(struct __sk_buff *skb, struct pkt4 *p, __be32 saddr, __be32 daddr,
					__be16 sport, __be16 dport)
{
	if (saddr && saddr != p->saddr) {
		if (nat4_addr(skb, p, ETH_HLEN + offsetof(struct iphdr, saddr), p->saddr, saddr) < 0)
			return -1;
		p->saddr = saddr;
	}
	if (daddr && daddr != p->daddr) {
		if (nat4_addr(skb, p, ETH_HLEN + offsetof(struct iphdr, daddr), p->daddr, daddr) < 0)
			return -1;
		p->daddr = daddr;
	}
	/* source then destination port: the first four bytes of both TCP and UDP headers */
	if (sport && sport != p->sport) {
		if (nat4_port(skb, p, p->l4_off, p->sport, sport) < 0)
			return -1;
		p->sport = sport;
	}
	if (dport && dport != p->dport) {
		if (nat4_port(skb, p, p->l4_off + 2, p->dport, dport) < 0)
			return -1;
		p->dport = dport;
	}
	return 0;
}

/* a forwarding hop of our own (FIB redirect) must age the packet like the stack would */
static __always_inline int ipv4_dec_ttl(struct __sk_buff *skb, struct pkt4 *p)
{
	__u8 ttl = p->ttl - 1;

	if (p->ttl <= 1)
		return -1;
	/* TTL is the high byte of the 16-bit word at offset 8 */
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, bpf_htons((__u16)p->ttl << 8), bpf_htons((__u16)ttl << 8), 2) < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, ETH_HLEN + offsetof(struct iphdr, ttl), &ttl, 1, 0) < 0)
		return -1;
	p->ttl = ttl;
	return 0;
}

/* a packet sent back out of the interface it came in on swaps its MAC addresses */
static __always_inline int eth_swap_macs(struct __sk_buff *skb)
{
	__u8 macs[2 * ETH_ALEN], swapped[2 * ETH_ALEN];

	if (bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)) < 0)
		return -1;
	__builtin_memcpy(swapped, macs + ETH_ALEN, ETH_ALEN);
	__builtin_memcpy(swapped + ETH_ALEN, macs, ETH_ALEN);
	return bpf_skb_store_bytes(skb, 0, swapped, sizeof(swapped), 0);
}

/*
 * Send a rewritten packet on toward its new destination ourselves: the stack would see a source address of its
 * own (SNAT to the node IP) arriving from outside. Falls back to the stack when the FIB has no answer.
 * Returns a tc action, or -1 when the packet could not be written.
 */
static __always_inline int fib_redirect(struct __sk_buff *skb, struct pkt4 *p)
{
	struct bpf_fib_lookup fib = {};
	long ret;

	fib4_request(&fib, p, skb->ingress_ifindex ? skb->ingress_ifindex : skb->ifindex);

	ret = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (ret != BPF_FIB_LKUP_RET_SUCCESS && ret != BPF_FIB_LKUP_RET_NO_NEIGH)
		return TC_ACT_OK;
	if (ipv4_dec_ttl(skb, p) < 0)
		return TC_ACT_OK; /* the stack sends the ICMP time exceeded */
	if (ret == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(fib.ifindex, 0, 0, 0);
	if (bpf_skb_store_bytes(skb, 0, fib.dmac, ETH_ALEN, 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_ALEN, fib.smac, ETH_ALEN, 0) < 0)
		return -1;
	return bpf_redirect(fib.ifindex, 0);
}

#endif /* DP_NAT_H */
