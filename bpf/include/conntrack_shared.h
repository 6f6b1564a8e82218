/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Structs and constants shared by conntrack.bpf.c and src/Native/Shared (C# mirrors).
 * Fixed-width, pointer-free, explicitly padded: the C# side checks sizeof/offsetof
 * against this header in tests/PacketScope.Native.Tests, so edit both together. */
#ifndef __CONNTRACK_SHARED_H
#define __CONNTRACK_SHARED_H

#define PS_AF_INET 2
#define PS_AF_INET6 10

/* Which hook saw the packet. */
#define PS_HOOK_INGRESS 0 /* XDP */
#define PS_HOOK_EGRESS 1  /* TC egress (tcx) */
#define PS_HOOK_MAX 2

/* Default LRU size; the loader overrides it with bpf_map__set_max_entries. */
#define PS_DEFAULT_MAX_FLOWS 1048576
#define PS_DEFAULT_MAX_ICMP 65536
#define PS_ICMP_HIST_MAX 1024

/* One connection, direction-independent: endpoint a is the smaller (addr, port)
 * pair in memcmp order, so both directions of a connection hash to one key.
 * Addresses are in network byte order; IPv4 uses the first 4 bytes, the rest zero.
 * Ports are in host byte order. For ICMP echo both ports hold the echo identifier,
 * so a request and its reply land on the same flow. */
struct ps_flow_key {
	__u8 addr_a[16];
	__u8 addr_b[16];
	__u16 port_a;
	__u16 port_b;
	__u16 vlan_id; /* outer 802.1Q/802.1ad VLAN id, 0 when untagged */
	__u8 family;   /* PS_AF_INET or PS_AF_INET6 */
	__u8 proto;    /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6, ... */
};                     /* 40 bytes */

/* What one endpoint sent. */
struct ps_flow_side {
	__u64 packets;       /* GSO segments count as packets */
	__u64 bytes;         /* L2 frame bytes */
	__u64 payload_bytes; /* L4 payload bytes (TCP/UDP), L3 payload otherwise; retransmissions included */
	__u64 data_bytes;    /* TCP: new data, the advance of the sequence space (retransmissions excluded) */
	__u32 next_seq;      /* TCP: highest seq + len seen, the next expected sequence number */
	__u32 last_seq;      /* TCP: seq of the last segment */
	__u32 last_ack;      /* TCP: ack of the last segment */
	__u32 retransmits;   /* TCP: segments whose data ended at or before next_seq */
	__u32 out_of_order;  /* TCP: segments that started beyond next_seq (a gap) */
	__u32 dup_acks;      /* TCP: pure ACKs repeating last_ack and window */
	__u32 zero_windows;  /* TCP: segments advertising a zero window (no RST) */
	__u16 window;        /* TCP: last raw (unscaled) window */
	__u16 ip_id;         /* IPv4 identification of the last packet; 0 for IPv6 */
	__u8 ttl;            /* IPv4 TTL / IPv6 hop limit of the last packet */
	__u8 tcp_flags;      /* OR of all TCP flags seen (FIN=1 SYN=2 RST=4 PSH=8 ACK=16 URG=32 ECE=64 CWR=128) */
	__u8 hooks;          /* bit PS_HOOK_* set when seen on that hook */
	__u8 seq_valid;      /* next_seq/last_ack hold a real value */
	__u32 _pad;
	__u64 filter;        /* ingress: the Guarder's verdict for this side's packets, cached (filter_shared.h) */
};                           /* 80 bytes */

struct ps_flow_value {
	struct ps_flow_side side[2]; /* [0]: sent by endpoint a, [1]: sent by endpoint b */
	__u64 first_seen_ns;         /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 last_seen_ns;
	__u8 initiator; /* 0: a opened the connection (sent the first packet, or received a SYN-ACK first), 1: b */
	__u8 _pad[7];
};                      /* 184 bytes */

/* ICMP/ICMPv6 messages, aggregated by outer addresses, type, code and, for error
 * messages, the quoted (inner) packet's addresses, protocol and ports. */
struct ps_icmp_key {
	__u8 src[16];
	__u8 dst[16];
	__u8 inner_src[16]; /* zero unless the message quotes a packet */
	__u8 inner_dst[16];
	__u16 inner_sport; /* host byte order */
	__u16 inner_dport;
	__u16 vlan_id;
	__u8 family; /* PS_AF_INET (ICMP) or PS_AF_INET6 (ICMPv6) */
	__u8 type;
	__u8 code;
	__u8 inner_proto; /* 0 when no inner packet */
	__u8 hook;        /* PS_HOOK_* */
	__u8 _pad;
};                        /* 76 bytes */

struct ps_icmp_value {
	__u64 packets;
	__u64 bytes;
	__u64 first_seen_ns;
	__u64 last_seen_ns;
	__u16 echo_id;  /* last echo identifier (echo request/reply only) */
	__u16 echo_seq; /* last echo sequence number */
	__u32 _pad;
};                      /* 40 bytes */

/* Per-CPU stats: key = hook * PS_STAT_MAX + stat, value = struct ps_counter.
 * packets counts GSO segments and bytes frame bytes; PS_STAT_FLOW_NEW and PS_STAT_ICMP_NEW count entries in packets. */
enum ps_stat {
	PS_STAT_TOTAL = 0,
	PS_STAT_IPV4,
	PS_STAT_IPV6,
	PS_STAT_ARP,
	PS_STAT_OTHER_L3,
	PS_STAT_TCP,
	PS_STAT_UDP,
	PS_STAT_ICMP,
	PS_STAT_ICMPV6,
	PS_STAT_OTHER_L4,
	PS_STAT_VLAN,          /* frames carrying at least one VLAN tag */
	PS_STAT_FRAGMENT,      /* IP fragments (non-first fragments have no ports: tracked as the flow with ports 0) */
	PS_STAT_MALFORMED,     /* truncated or inconsistent headers */
	PS_STAT_FLOW_NEW,      /* flows created */
	PS_STAT_FLOW_MAP_FULL, /* flow map update failed: the packet was counted but not tracked */
	PS_STAT_ICMP_MAP_FULL, /* icmp map update failed */
	PS_STAT_HIST_FULL,     /* icmp histogram update failed */
	PS_STAT_ICMP_NEW,      /* icmp map entries created (user space derives evictions from it) */
	PS_STAT_PASS,          /* verdicts */
	PS_STAT_DROP,          /* dropped by a filter rule (XDP ingress) */
	PS_STAT_MONITOR,       /* matched a monitor rule first: would have been dropped, passed */
	PS_STAT_MAX,
};

struct ps_counter {
	__u64 packets;
	__u64 bytes;
};

/* Per-CPU ICMP type/code histogram key. */
struct ps_icmp_hist_key {
	__u8 family;
	__u8 type;
	__u8 code;
	__u8 hook;
};

#endif /* __CONNTRACK_SHARED_H */
