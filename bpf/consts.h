/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Constants of the service datapath: map sizes, flags, lifetimes and protocol numbers it shares with the agent. */
#ifndef DP_CONSTS_H
#define DP_CONSTS_H

#include <stdbool.h>
#include <linux/types.h>

/* map sizes; override with -DMAX_...=N at build time */
#ifndef MAX_SERVICES
#define MAX_SERVICES 65536 /* service frontends: (address, port, protocol, scope) */
#endif
#ifndef MAX_BACKENDS
#define MAX_BACKENDS 262144 /* distinct backends, and (frontend, backend) slots */
#endif
#ifndef MAX_CT_ENTRIES
#define MAX_CT_ENTRIES 262144 /* two per flow: forward and reply */
#endif
#ifndef MAX_AFFINITY_ENTRIES
#define MAX_AFFINITY_ENTRIES 65536
#endif
#ifndef MAX_METRICS_ENTRIES
#define MAX_METRICS_ENTRIES 1024 /* room for every reason (u8) x direction: account() never lacks a slot */
#endif

#ifndef MAX_IPCACHE_ENTRIES
#define MAX_IPCACHE_ENTRIES 65536 /* pod IPs, ipBlock cidrs and excepts, node IPs */
#endif
#ifndef MAX_POLICY_ENTRIES
#define MAX_POLICY_ENTRIES 262144 /* {endpoint, identity, direction, protocol, port prefix} allow entries */
#endif
#ifndef MAX_POLICY_ENDPOINTS
#define MAX_POLICY_ENDPOINTS 4096 /* local pods */
#endif
#ifndef MAX_POLICY_CT_ENTRIES
#define MAX_POLICY_CT_ENTRIES 65536 /* reply tuples of allowed flows */
#endif

/* lb4_key.scope: NodePorts with externalTrafficPolicy=Local carry a second, in-cluster entry (cilium's two scopes) */
#define LB_SCOPE_EXT 0
#define LB_SCOPE_INT 1

/* lb4_service.flags (slot 0 only) */
#define SVC_F_EXTERNAL   (1 << 0) /* NodePort, external IP or LB IP: served to clients outside the cluster too */
#define SVC_F_TWO_SCOPES (1 << 1) /* pods use the LB_SCOPE_INT entry instead */
#define SVC_F_NO_LOCAL   (1 << 2) /* count == 0 because no endpoint is local: drop, do not reject */

/* lb4_backend.flags */
#define BE_F_LOCAL (1 << 0) /* the backend lives on this node: NodePort traffic to it is not SNATed */

/* ct4_key.dir */
#define CT_FORWARD 0 /* as sent by the client, before NAT */
#define CT_REPLY   1 /* as sent by the backend, before reverse NAT */

/* ct4_entry.flags */
#define CT_F_HAIRPIN  (1 << 0) /* client is its own backend: source rewritten to LB4_LOOPBACK */
#define CT_F_EXTERNAL (1 << 1) /* created by the netdev program: a client outside, at an external frontend */
#define CT_F_SNAT     (1 << 2) /* source rewritten to the node IP (external client, remote backend) */
#define CT_F_CLOSING  (1 << 3) /* FIN or RST seen: short lifetime, a new SYN starts a new flow */

/* conntrack lifetimes in seconds (cilium's defaults) */
#define CT_LIFETIME_TCP    21600
#define CT_LIFETIME_NONTCP 60
#define CT_SYN_TIMEOUT     60
#define CT_CLOSE_TIMEOUT   10
/* expiry is rewritten at most this often per flow: a map write per packet would cost more than the lookup */
#define CT_REFRESH_SLACK   5

/* hairpin flows are SNATed to this address, as cilium's IPV4_LOOPBACK: 169.254.42.1 */
#define LB4_LOOPBACK 0xa9fe2a01

/* source ports tried for NodePort SNAT when the client's own port is taken */
#define SNAT_PORT_MIN      32768
#define SNAT_PORT_RANGE    28232 /* up to 60999, the kernel's default ephemeral range */
#define SNAT_PORT_ATTEMPTS 8

/* identities (cilium's reserved ones); the agent allocates from IDENTITY_FIRST_ALLOCATED */
#define IDENTITY_ANY   0 /* dp_policy only: every peer */
#define IDENTITY_HOST  1 /* this node's addresses: always allowed */
#define IDENTITY_WORLD 2 /* no more specific prefix in dp_ipcache */
#define IDENTITY_FIRST_ALLOCATED 256

/* policy_key.dir and policy_endpoint.flags */
#define POLICY_DIR_INGRESS 0
#define POLICY_DIR_EGRESS  1
#define POLICY_F_INGRESS (1 << 0)
#define POLICY_F_EGRESS  (1 << 1)
/* bits of policy_key after prefixlen: endpoint, identity, gen, dir, proto, pad always matched, then the port's 16 */
#define POLICY_PREFIX_FIXED 96
#define POLICY_PREFIX_FULL  112

#define NSEC_PER_SEC 1000000000ULL

#ifndef ETH_HLEN
#define ETH_HLEN 14
#endif
#ifndef ETH_ALEN
#define ETH_ALEN 6
#endif
#define IP_MF     0x2000
#define IP_OFFSET 0x1fff
#define AF_INET   2

#define TCPF_FIN 0x01
#define TCPF_SYN 0x02
#define TCPF_RST 0x04
#define TCPF_ACK 0x10

#define ICMP_DEST_UNREACH 3
#define ICMP_PORT_UNREACH 3

#endif /* DP_CONSTS_H */
