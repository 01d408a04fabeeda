/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Answers for services without endpoints, built in place from the packet: a TCP RST, or ICMP port unreachable. */
#ifndef DP_REJECT_H
#define DP_REJECT_H

#include <stddef.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "csum.h"
#include "nat.h"
#include "parse.h"

#define REJECT_UNSUPPORTED (-2)

struct pseudo_tcp4 {
	__be32 saddr;
	__be32 daddr;
	__u8 zero;
	__u8 proto;
	__be16 len;
	struct tcphdr th;
};

/*
 * The RST a closed port would send (RFC 9293 3.10.7.1), written over the packet, which then goes back out.
 * The L4 checksum is patched so that it is right in both states the skb can be in: with CHECKSUM_PARTIAL only
 * pseudo-header updates apply (length; swapping addresses changes no sum), otherwise the final non-pseudo
 * replace turns whatever is there into the checksum computed here from scratch.
 */
static __always_inline int reject_tcp(struct __sk_buff *skb, const struct pkt4 *p)
{
	__u32 l4 = ETH_HLEN + sizeof(struct iphdr);
	struct pseudo_tcp4 ph = {};
	struct tcphdr th;
	__be32 addrs[2] = { p->daddr, p->saddr };
	__u16 old_l4_len, field;
	__u32 seg_len, before, after;

	if (p->l4_off != l4)
		return REJECT_UNSUPPORTED;
	if (bpf_skb_load_bytes(skb, l4, &th, sizeof(th)) < 0 || th.doff < 5)
		return -1;
	old_l4_len = p->tot_len - sizeof(struct iphdr);
	if (old_l4_len < th.doff * 4)
		return -1;
	seg_len = old_l4_len - th.doff * 4 + th.syn + th.fin;

	ph.th.source = th.dest;
	ph.th.dest = th.source;
	ph.th.doff = 5;
	ph.th.rst = 1;
	if (th.ack) {
		ph.th.seq = th.ack_seq;
	} else {
		ph.th.ack = 1;
		ph.th.ack_seq = bpf_htonl(bpf_ntohl(th.seq) + seg_len);
	}

	if (bpf_l4_csum_replace(skb, l4 + 16, bpf_htons(old_l4_len), bpf_htons(sizeof(struct tcphdr)),
				BPF_F_PSEUDO_HDR | 2) < 0)
		return -1;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, bpf_htons(p->tot_len), bpf_htons(l4 - ETH_HLEN + sizeof(th)), 2) < 0)
		return -1;
	{
		__be16 tot_len = bpf_htons(l4 - ETH_HLEN + sizeof(th));

		if (bpf_skb_store_bytes(skb, ETH_HLEN + offsetof(struct iphdr, tot_len), &tot_len, 2, 0) < 0)
			return -1;
	}
	if (bpf_skb_store_bytes(skb, ETH_HLEN + offsetof(struct iphdr, saddr), addrs, sizeof(addrs), 0) < 0)
		return -1;
	/* the header around its checksum field */
	if (bpf_skb_store_bytes(skb, l4, &ph.th, 16, BPF_F_RECOMPUTE_CSUM) < 0 ||
	    bpf_skb_store_bytes(skb, l4 + 18, (__u8 *)&ph.th + 18, 2, BPF_F_RECOMPUTE_CSUM) < 0)
		return -1;
	if (bpf_skb_change_tail(skb, l4 + sizeof(th), 0) < 0)
		return -1;

	ph.saddr = p->daddr;
	ph.daddr = p->saddr;
	ph.proto = IPPROTO_TCP;
	ph.len = bpf_htons(sizeof(th));
	if (bpf_skb_load_bytes(skb, l4 + 16, &field, 2) < 0)
		return -1;
	before = field;
	after = csum_of(&ph, sizeof(ph), 0);
	if (bpf_l4_csum_replace(skb, l4 + 16, (__u16)~before, (__u16)~after, 2) < 0)
		return -1;
	/* CHECKSUM_COMPLETE (rare on veth, never after the trim) must account for the field it did not see change */
	bpf_csum_update(skb, bpf_csum_diff(&before, 4, &after, 4, 0));
	return eth_swap_macs(skb);
}

/* linux/icmp.h drags in libc's socket headers */
struct icmp4hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 unused;
};

struct icmp4_reply {
	struct iphdr ip;
	struct icmp4hdr icmp;
	__u8 quote[sizeof(struct iphdr) + 8]; /* the offending header and 8 bytes of its datagram (RFC 792) */
};

/* ICMP port unreachable from the service address, as a closed UDP port answers */
static __always_inline int reject_udp(struct __sk_buff *skb, const struct pkt4 *p)
{
	struct icmp4_reply r = {};
	__u32 grow = sizeof(struct iphdr) + sizeof(struct icmp4hdr);

	if (p->l4_off != ETH_HLEN + sizeof(struct iphdr))
		return REJECT_UNSUPPORTED;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, r.quote, sizeof(r.quote)) < 0)
		return -1;
	/* keep only what is quoted, then open room for the new IP and ICMP headers in front of it */
	if (bpf_skb_change_tail(skb, ETH_HLEN + sizeof(r.quote), 0) < 0)
		return -1;
	if (bpf_skb_adjust_room(skb, grow, BPF_ADJ_ROOM_MAC, 0) < 0)
		return -1;

	r.ip.version = 4;
	r.ip.ihl = 5;
	r.ip.tot_len = bpf_htons(sizeof(r));
	r.ip.ttl = 64;
	r.ip.protocol = IPPROTO_ICMP;
	r.ip.saddr = p->daddr;
	r.ip.daddr = p->saddr;
	r.ip.check = csum_of(&r.ip, sizeof(r.ip), 0);
	r.icmp.type = ICMP_DEST_UNREACH;
	r.icmp.code = ICMP_PORT_UNREACH;
	r.icmp.checksum = csum_of(&r.icmp, sizeof(r.icmp) + sizeof(r.quote), 0);

	if (bpf_skb_store_bytes(skb, ETH_HLEN, &r, grow, 0) < 0)
		return -1;
	return eth_swap_macs(skb);
}

/* answer the packet in place; 0, -1 on a failed write, REJECT_UNSUPPORTED for IP options */
static __always_inline int reject(struct __sk_buff *skb, const struct pkt4 *p)
{
	return p->proto == IPPROTO_TCP ? reject_tcp(skb, p) : reject_udp(skb, p);
}

#endif /* DP_REJECT_H */
