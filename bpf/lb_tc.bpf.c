// SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0)
/*
 * tc programs of dpbench's service load balancer (cilium's kube-proxy replacement, reduced to its core):
 *
 *   pod ──eth0══lxcN── node ──eth0══ fabric
 *              │  │           │
 *   tc_from_pod┘  └tc_to_pod  └tc_from_netdev
 *
 *   tc_from_pod     tcx ingress of lxc*: service lookup, backend choice, DNAT, conntrack; hairpin SNAT to the
 *                   loopback; replies of hairpin and NodePort flows whose backend is this pod
 *   tc_to_pod       tcx egress of lxc*: reverse NAT of replies to pod clients (source back to the service)
 *   tc_from_netdev  tcx ingress of eth0: NodePorts (and external IPs) from outside, SNAT to the node IP for remote
 *                   backends, and the replies of those SNATed flows
 *   xdp_from_netdev XDP on eth0 (xdp mode only): the same NodePort work before an skb exists (xdp.h); what it
 *                   leaves alone reaches tc_from_netdev as before
 *
 * NetworkPolicy (policy.h) rides the same hooks: the sender's egress in tc_from_pod once DNAT has chosen the
 * backend, the receiver's ingress in tc_to_pod before reverse NAT, so both see the flow's real addresses.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "consts.h"
#include "structs.h"
#include "maps.h"
#include "reasons.h"
#include "metrics.h"
#include "parse.h"
#include "csum.h"
#include "nat.h"
#include "ct.h"
#include "lb.h"
#include "reject.h"
#include "policy.h"
#include "xdp.h"

static __always_inline struct verdict parse_verdict(int parsed)
{
	if (parsed == PARSE_FRAGMENT)
		return verdict(TC_ACT_OK, REASON_PASS_FRAGMENT);
	if (parsed == PARSE_SKIP)
		return verdict(TC_ACT_OK, REASON_PASS);
	return verdict(TC_ACT_SHOT, REASON_DROP_INVALID);
}

/* a service without endpoints answers at once, back out of the interface the packet came in on */
static __always_inline struct verdict reject_verdict(struct __sk_buff *skb, const struct pkt4 *p)
{
	int ret = reject(skb, p);

	if (ret == REJECT_UNSUPPORTED)
		return verdict(TC_ACT_SHOT, REASON_DROP_UNSUPPORTED);
	if (ret < 0)
		return verdict(TC_ACT_SHOT, REASON_DROP_WRITE);
	return verdict(bpf_redirect(skb->ifindex, 0), REASON_REJECT_NO_BACKEND);
}

/* apply a conntrack entry's rewrite; the caller decides where the packet goes */
static __always_inline int apply(struct __sk_buff *skb, struct pkt4 *p, const struct ct4_entry *e)
{
	return nat4_rewrite(skb, p, e->new_saddr, e->new_daddr, e->new_sport, e->new_dport);
}

static __always_inline struct verdict fib_verdict(struct __sk_buff *skb, struct pkt4 *p, __u8 reason)
{
	int action = fib_redirect(skb, p);

	return action < 0 ? verdict(TC_ACT_SHOT, REASON_DROP_WRITE) : verdict(action, reason);
}

static __always_inline struct verdict handle_from_pod(struct __sk_buff *skb)
{
	struct lb4_flow flow = {};
	struct lb4_service *svc;
	struct ct4_entry r;
	struct lb4_key key;
	struct pkt4 p;
	__u32 now;
	int ret;

	ret = parse_ipv4(skb, &p);
	if (ret != PARSE_OK)
		return parse_verdict(ret);
	now = now_seconds();

	/* replies this hook owns: hairpin flows (sent to the loopback) and external clients' flows served by this pod */
	if (ct4_reply_of(&p, CT_F_HAIRPIN | CT_F_EXTERNAL, now, &r)) {
		if (apply(skb, &p, &r) < 0)
			return verdict(TC_ACT_SHOT, REASON_DROP_WRITE);
		if (r.flags & CT_F_EXTERNAL)
			return fib_verdict(skb, &p, REASON_REV_NAT);
		if (eth_swap_macs(skb) < 0)
			return verdict(TC_ACT_SHOT, REASON_DROP_WRITE);
		return verdict(bpf_redirect(skb->ifindex, 0), REASON_REV_NAT);
	}

	svc = lb4_lookup_service(&p, LB_SCOPE_EXT, &key);
	if (svc && (svc->flags & SVC_F_TWO_SCOPES))
		svc = lb4_lookup_service(&p, LB_SCOPE_INT, &key);
	if (!svc) {
		ret = policy_check(&p, p.saddr, p.daddr, POLICY_DIR_EGRESS, now);
		return ret ? verdict(TC_ACT_SHOT, ret) : verdict(TC_ACT_OK, REASON_PASS);
	}

	ret = lb4_flow(&p, &key, svc, now, false, &flow);
	if (ret == REASON_REJECT_NO_BACKEND)
		return reject_verdict(skb, &p);
	if (ret)
		return verdict(TC_ACT_SHOT, ret);
	if (apply(skb, &p, &flow.fwd) < 0)
		return verdict(TC_ACT_SHOT, REASON_DROP_WRITE);
	if (flow.fwd.flags & CT_F_HAIRPIN) {
		/* straight back into the pod: the stack would see a packet leave by the device it came in on */
		if (eth_swap_macs(skb) < 0)
			return verdict(TC_ACT_SHOT, REASON_DROP_WRITE);
		return verdict(bpf_redirect(skb->ifindex, 0), REASON_HAIRPIN);
	}
	/* judged on the backend's address and port, as the API says; a pod reaching itself (hairpin) is not judged */
	ret = policy_check(&p, p.saddr, p.daddr, POLICY_DIR_EGRESS, now);
	if (ret)
		return verdict(TC_ACT_SHOT, ret);
	return verdict(TC_ACT_OK, new_flow_reason(&flow));
}

static __always_inline struct verdict handle_to_pod(struct __sk_buff *skb)
{
	struct ct4_entry *rev;
	struct pkt4 p;
	__u32 now;
	int ret;

	ret = parse_ipv4(skb, &p);
	if (ret != PARSE_OK)
		return parse_verdict(ret);
	now = now_seconds();

	/* before reverse NAT: the reply of a service flow still carries the backend's address, as recorded at egress */
	if (p.saddr != bpf_htonl(LB4_LOOPBACK)) {
		ret = policy_check(&p, p.daddr, p.saddr, POLICY_DIR_INGRESS, now);
		if (ret)
			return verdict(TC_ACT_SHOT, ret);
	}

	rev = ct4_lookup(&p, CT_REPLY, now);
	if (!rev)
		return verdict(TC_ACT_OK, REASON_PASS);
	ct4_refresh(rev, &p, now);
	if (apply(skb, &p, rev) < 0)
		return verdict(TC_ACT_SHOT, REASON_DROP_WRITE);
	return verdict(TC_ACT_OK, REASON_REV_NAT);
}

static __always_inline struct verdict handle_from_netdev(struct __sk_buff *skb)
{
	struct lb4_flow flow = {};
	struct lb4_service *svc;
	struct ct4_entry r;
	struct lb4_key key;
	struct pkt4 p;
	__u32 now;
	int ret;

	ret = parse_ipv4(skb, &p);
	if (ret != PARSE_OK)
		return parse_verdict(ret);
	now = now_seconds();

	/* replies of SNATed external flows come back to the node IP; other replies are tc_to_pod's */
	if (ct4_reply_of(&p, CT_F_EXTERNAL, now, &r)) {
		if (apply(skb, &p, &r) < 0)
			return verdict(TC_ACT_SHOT, REASON_DROP_WRITE);
		return fib_verdict(skb, &p, REASON_REV_NAT);
	}

	/* only external frontends (NodePorts, external IPs) are served from outside; ClusterIPs are for pods */
	svc = lb4_lookup_service(&p, LB_SCOPE_EXT, &key);
	if (!svc || !(svc->flags & SVC_F_EXTERNAL))
		return verdict(TC_ACT_OK, REASON_PASS);

	ret = lb4_flow(&p, &key, svc, now, true, &flow);
	if (ret == REASON_REJECT_NO_BACKEND)
		return reject_verdict(skb, &p);
	if (ret)
		return verdict(TC_ACT_SHOT, ret);
	if (apply(skb, &p, &flow.fwd) < 0)
		return verdict(TC_ACT_SHOT, REASON_DROP_WRITE);
	if (flow.fwd.flags & CT_F_SNAT)
		return fib_verdict(skb, &p, new_flow_reason(&flow));
	return verdict(TC_ACT_OK, new_flow_reason(&flow));
}

SEC("tc")
int tc_from_pod(struct __sk_buff *skb)
{
	return account(skb, handle_from_pod(skb), METRICS_DIR_FROM_POD);
}

SEC("tc")
int tc_to_pod(struct __sk_buff *skb)
{
	return account(skb, handle_to_pod(skb), METRICS_DIR_TO_POD);
}

SEC("tc")
int tc_from_netdev(struct __sk_buff *skb)
{
	return account(skb, handle_from_netdev(skb), METRICS_DIR_FROM_NETDEV);
}

SEC("xdp")
int xdp_from_netdev(struct xdp_md *ctx)
{
	return account_xdp(ctx, handle_xdp_from_netdev(ctx));
}

/* bpf_fib_lookup() is GPL-only: the kernel wants a GPL-compatible license string, hence the dual license */
char _license[] SEC("license") = "GPL";
