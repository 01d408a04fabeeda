/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* IPv4 TCP/UDP header parsing into the 5-tuple and offsets the handlers work on. */
#ifndef DP_PARSE_H
#define DP_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "consts.h"

/* the packet as parsed; addresses and ports in network order, updated in place by nat4_rewrite() */
struct pkt4 {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u16 l4_off;
	__u16 tot_len; /* IP total length, host order */
	__u8 proto;
	__u8 tcp_flags;
	__u8 ttl;
	__u8 tos;
};

enum parse_result {
	PARSE_INVALID = -1,
	PARSE_OK = 0,
	PARSE_SKIP = 1,     /* not IPv4 TCP or UDP */
	PARSE_FRAGMENT = 2, /* an IPv4 fragment: ports may be missing */
};

/* bpf_skb_load_bytes copies out of paged data too, so headers need no linear-area checks */
static __always_inline int parse_ipv4(struct __sk_buff *skb, struct pkt4 *p)
{
	struct iphdr ip;
	__u32 ihl_len;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return PARSE_SKIP;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
		return PARSE_INVALID;
	if (ip.version != 4 || ip.ihl < 5)
		return PARSE_INVALID;
	if (ip.protocol != IPPROTO_TCP && ip.protocol != IPPROTO_UDP)
		return PARSE_SKIP;
	if (ip.frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return PARSE_FRAGMENT;

	ihl_len = ip.ihl * 4;
	p->saddr = ip.saddr;
	p->daddr = ip.daddr;
	p->proto = ip.protocol;
	p->ttl = ip.ttl;
	p->tos = ip.tos;
	p->tot_len = bpf_ntohs(ip.tot_len);
	p->l4_off = ETH_HLEN + ihl_len;
	p->tcp_flags = 0;

	if (ip.protocol == IPPROTO_TCP) {
		struct tcphdr th;

		if (p->tot_len < ihl_len + sizeof(th) || bpf_skb_load_bytes(skb, p->l4_off, &th, sizeof(th)) < 0)
			return PARSE_INVALID;
		p->sport = th.source;
		p->dport = th.dest;
		/* byte 13 of the TCP header: CWR ECE URG ACK PSH RST SYN FIN */
		p->tcp_flags = ((__u8 *)&th)[13];
	} else {
		struct udphdr uh;

		if (p->tot_len < ihl_len + sizeof(uh) || bpf_skb_load_bytes(skb, p->l4_off, &uh, sizeof(uh)) < 0)
			return PARSE_INVALID;
		p->sport = uh.source;
		p->dport = uh.dest;
	}
	return PARSE_OK;
}

/* a connection attempt: SYN without ACK */
static __always_inline bool pkt4_is_syn(const struct pkt4 *p)
{
	return p->proto == IPPROTO_TCP && (p->tcp_flags & (TCPF_SYN | TCPF_ACK)) == TCPF_SYN;
}

/* the FIB question for a packet as it will leave (after its rewrite): route and neighbour from ifindex on */
static __always_inline void fib4_request(struct bpf_fib_lookup *fib, const struct pkt4 *p, __u32 ifindex)
{
	fib->family = AF_INET;
	fib->tos = p->tos;
	fib->l4_protocol = p->proto;
	fib->sport = p->sport;
	fib->dport = p->dport;
	fib->tot_len = p->tot_len;
	fib->ipv4_src = p->saddr;
	fib->ipv4_dst = p->daddr;
	fib->ifindex = ifindex;
}

#endif /* DP_PARSE_H */
