/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * XDP acceleration of external NodePort traffic (cilium's XDP nodeport, Katran's forwarding), on the node's eth0:
 * the same frontends, backends and conntrack as tc_from_netdev (maps.h: one source of truth), the same flow
 * creation (lb4_flow), so a flow started here is continued by tc and the reverse; what XDP does not finish it
 * leaves to the stack untouched (XDP_PASS), where tc_from_netdev answers it as before.
 *
 *   new flow or forward packet to a NodePort ── lb4_flow ── DNAT (+ SNAT to this node for a remote backend)
 *       remote backend: FIB → back out of eth0 (XDP_REDIRECT to the same device, see xdp_forward)
 *       local backend:  ingress policy of the pod, FIB → its lxc → XDP_REDIRECT (bypasses tc_to_pod, hence the
 *                       policy check here; the pod's eth0 must run NAPI: GRO on, or an XDP program)
 *   reply of a SNATed flow (remote backend's node answering) ── reverse NAT ── FIB → back out of eth0
 *   everything else, answers to build (RST / ICMP for no endpoints) ── XDP_PASS, untouched
 *   a flow's packet the FIB cannot place yet (no neighbour entry) ── XDP_PASS, untouched: tc continues the flow
 *
 * Packets are read and written in place (direct packet access) with RFC 1624 incremental checksums. Packets
 * entering a node come off a wire, so their checksums are complete; the lab gives its fabric-facing veths no TX
 * checksum offload for that reason (a CHECKSUM_PARTIAL packet would lose its offload state when XDP forwards it).
 */
#ifndef DP_XDP_H
#define DP_XDP_H

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "consts.h"
#include "ct.h"
#include "lb.h"
#include "metrics.h"
#include "parse.h"
#include "policy.h"
#include "reasons.h"

/* where the parsed headers sit in the frame; valid until the frame's size changes (never, here) */
struct xdp_hdrs {
	struct ethhdr *eth;
	struct iphdr *ip;
	__be16 *ports; /* source, destination */
	__sum16 *l4_csum;
};

static __always_inline int xdp_parse_ipv4(struct xdp_md *ctx, struct pkt4 *p, struct xdp_hdrs *h)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u32 ihl_len;
	void *l4;

	if ((void *)(eth + 1) > end)
		return PARSE_INVALID;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return PARSE_SKIP;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return PARSE_INVALID;
	if (ip->version != 4 || ip->ihl < 5)
		return PARSE_INVALID;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return PARSE_SKIP;
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return PARSE_FRAGMENT;

	ihl_len = ip->ihl * 4;
	l4 = (void *)ip + ihl_len;
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->ttl = ip->ttl;
	p->tos = ip->tos;
	p->tot_len = bpf_ntohs(ip->tot_len);
	p->l4_off = ETH_HLEN + ihl_len;
	p->tcp_flags = 0;
	h->eth = eth;
	h->ip = ip;

	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = l4;

		if ((void *)(th + 1) > end || p->tot_len < ihl_len + sizeof(*th))
			return PARSE_INVALID;
		p->sport = th->source;
		p->dport = th->dest;
		p->tcp_flags = ((__u8 *)th)[13];
		h->ports = &th->source;
		h->l4_csum = &th->check;
	} else {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > end || p->tot_len < ihl_len + sizeof(*uh))
			return PARSE_INVALID;
		p->sport = uh->source;
		p->dport = uh->dest;
		h->ports = &uh->source;
		h->l4_csum = &uh->check;
	}
	return PARSE_OK;
}

static __always_inline __u16 csum_fold32(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	return (__u16)((s & 0xffff) + (s >> 16));
}

/*
 * RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), on 16-bit words as they lie in memory: one's complement sums do not
 * care about byte order as long as every word is read the same way.
 */
static __always_inline void csum_replace4(__sum16 *csum, __be32 from, __be32 to)
{
	__u32 s = (__u16)~*csum;

	s += (__u16)~(from & 0xffff);
	s += (__u16)~(from >> 16);
	s += to & 0xffff;
	s += to >> 16;
	*csum = (__sum16)~csum_fold32(s);
}

static __always_inline void csum_replace2(__sum16 *csum, __u16 from, __u16 to)
{
	__u32 s = (__u16)~*csum;

	s += (__u16)~from;
	s += to;
	*csum = (__sum16)~csum_fold32(s);
}

/* an L4 checksum update; a UDP datagram without a checksum (0) stays without, and 0 is never produced for UDP */
static __always_inline void l4_csum_replace4(const struct pkt4 *p, __sum16 *csum, __be32 from, __be32 to)
{
	if (p->proto == IPPROTO_UDP && !*csum)
		return;
	csum_replace4(csum, from, to);
	if (p->proto == IPPROTO_UDP && !*csum)
		*csum = (__sum16)0xffff;
}

static __always_inline void l4_csum_replace2(const struct pkt4 *p, __sum16 *csum, __u16 from, __u16 to)
{
	if (p->proto == IPPROTO_UDP && !*csum)
		return;
	csum_replace2(csum, from, to);
	if (p->proto == IPPROTO_UDP && !*csum)
		*csum = (__sum16)0xffff;
}

/* nat4_rewrite() in place: the fields that are set (non-zero) and differ; p follows the packet */
static __always_inline void xdp_nat4_rewrite(struct xdp_hdrs *h, struct pkt4 *p, const struct ct4_entry *e)
{
	if (e->new_saddr && e->new_saddr != p->saddr) {
		csum_replace4(&h->ip->check, p->saddr, e->new_saddr);
		l4_csum_replace4(p, h->l4_csum, p->saddr, e->new_saddr);
		h->ip->saddr = p->saddr = e->new_saddr;
	}
	if (e->new_daddr && e->new_daddr != p->daddr) {
		csum_replace4(&h->ip->check, p->daddr, e->new_daddr);
		l4_csum_replace4(p, h->l4_csum, p->daddr, e->new_daddr);
		h->ip->daddr = p->daddr = e->new_daddr;
	}
	if (e->new_sport && e->new_sport != p->sport) {
		l4_csum_replace2(p, h->l4_csum, p->sport, e->new_sport);
		h->ports[0] = p->sport = e->new_sport;
	}
	if (e->new_dport && e->new_dport != p->dport) {
		l4_csum_replace2(p, h->l4_csum, p->dport, e->new_dport);
		h->ports[1] = p->dport = e->new_dport;
	}
}

/* the packet's tuple as a conntrack entry's rewrite leaves it (nat4_rewrite() on the struct alone) */
static __always_inline void pkt4_nat(struct pkt4 *p, const struct ct4_entry *e)
{
	if (e->new_saddr)
		p->saddr = e->new_saddr;
	if (e->new_daddr)
		p->daddr = e->new_daddr;
	if (e->new_sport)
		p->sport = e->new_sport;
	if (e->new_dport)
		p->dport = e->new_dport;
}

/*
 * Rewrite the frame by `e` and send it on ourselves: into a local pod's lxc, or back out of eth0, aging it like a
 * router. The FIB is asked first, with the translated tuple (`next`): without an answer (no neighbour entry yet,
 * TTL expiring) the frame goes to the stack untouched, where tc_from_netdev continues the flow from conntrack and
 * bpf_redirect_neigh() resolves the neighbour. A frame rewritten to the node's own source address would be a
 * martian to the stack.
 */
static __always_inline struct verdict xdp_forward(struct xdp_md *ctx, struct xdp_hdrs *h, struct pkt4 *p,
						  const struct pkt4 *next, const struct ct4_entry *e, __u8 reason)
{
	struct bpf_fib_lookup fib = {};
	long ret;

	if (next->ttl <= 1)
		return verdict(XDP_PASS, REASON_XDP_PASS_TO_STACK); /* the stack sends the ICMP time exceeded */
	fib4_request(&fib, next, ctx->ingress_ifindex);

	ret = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	if (ret != BPF_FIB_LKUP_RET_SUCCESS)
		return verdict(XDP_PASS, REASON_XDP_PASS_TO_STACK);

	xdp_nat4_rewrite(h, p, e);
	/* TTL is the high byte of the 16-bit word at offset 8 */
	csum_replace2(&h->ip->check, bpf_htons((__u16)p->ttl << 8), bpf_htons((__u16)(p->ttl - 1) << 8));
	h->ip->ttl = --p->ttl;
	__builtin_memcpy(h->eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(h->eth->h_source, fib.smac, ETH_ALEN);
	/*
	 * Back out of eth0 too by XDP_REDIRECT rather than XDP_TX: on a veth, XDP_TX frames reach the peer's ring but
	 * only wake its NAPI when the peer runs an XDP program itself (veth_xdp_flush(), kernel 6.18), so they would wait
	 * for unrelated traffic; a redirect's flush always wakes it. On a NIC both end in the driver's xmit ring.
	 */
	return verdict(bpf_redirect(fib.ifindex, 0), reason);
}

static __always_inline struct verdict handle_xdp_from_netdev(struct xdp_md *ctx)
{
	struct lb4_flow flow = {};
	struct lb4_service *svc;
	struct ct4_entry rev;
	struct xdp_hdrs h = {};
	struct lb4_key key;
	struct pkt4 p, next;
	__u32 now;
	int ret;

	ret = xdp_parse_ipv4(ctx, &p, &h);
	if (ret == PARSE_FRAGMENT)
		return verdict(XDP_PASS, REASON_PASS_FRAGMENT);
	if (ret != PARSE_OK)
		/* malformed frames are the stack's (and tc's) to judge: XDP only takes what it fully understands */
		return verdict(XDP_PASS, ret == PARSE_SKIP ? REASON_PASS : REASON_XDP_PASS_TO_STACK);
	now = now_seconds();

	/* the replies of SNATed external flows, from the remote backend's node: back out to the client */
	if (ct4_reply_of(&p, CT_F_EXTERNAL, now, &rev)) {
		next = p;
		pkt4_nat(&next, &rev);
		return xdp_forward(ctx, &h, &p, &next, &rev, REASON_REV_NAT);
	}

	svc = lb4_lookup_service(&p, LB_SCOPE_EXT, &key);
	if (!svc || !(svc->flags & SVC_F_EXTERNAL))
		return verdict(XDP_PASS, REASON_PASS);

	ret = lb4_flow(&p, &key, svc, now, true, &flow);
	if (ret == REASON_REJECT_NO_BACKEND)
		return verdict(XDP_PASS, REASON_XDP_PASS_TO_STACK); /* tc_from_netdev builds the answer */
	if (ret)
		return verdict(XDP_DROP, ret);
	next = p;
	pkt4_nat(&next, &flow.fwd);
	if (!(flow.fwd.flags & CT_F_SNAT)) {
		/* a local backend: XDP_REDIRECT skips tc_to_pod, so its ingress policy is judged here, after DNAT */
		ret = policy_check(&next, next.daddr, next.saddr, POLICY_DIR_INGRESS, now);
		if (ret)
			return verdict(XDP_DROP, ret);
	}
	return xdp_forward(ctx, &h, &p, &next, &flow.fwd, new_flow_reason(&flow));
}

/* account() for XDP: the frame's length stands for skb->len */
static __always_inline int account_xdp(struct xdp_md *ctx, struct verdict v)
{
	return account_len(v, METRICS_DIR_XDP, ctx->data_end - ctx->data);
}

#endif /* DP_XDP_H */
