/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The Guarder's kernel rule tables, shared by conntrack.bpf.c (filter_kern.h) and the C# loader
 * (src/Native/Shared/FilterShared.cs, checked by the layout test).
 *
 * Classification is a linear bit vector search (as in bpf-iptables): each field of a packet is
 * looked up in its own table and yields a vector with one bit per rule in priority order; the
 * vectors are ANDed and the lowest set bit is the rule that wins. Every table exists twice
 * (generation 0 and 1): the loader fills the inactive generation, then flips ps_filter_active,
 * so a packet, which reads the active generation once, never sees half of an update. */
#ifndef __FILTER_SHARED_H
#define __FILTER_SHARED_H

#define PS_FILTER_MAX_RULES 10240
#define PS_FILTER_WORDS (PS_FILTER_MAX_RULES / 64) /* 160 */
#define PS_FILTER_GENS 2
#define PS_FILTER_VECS_PER_GEN 65536 /* distinct vectors in one generation (id 0: the empty vector, never stored) */
#define PS_FILTER_ADDRS_PER_GEN 65536
#define PS_FILTER_PORT_KEYS 65536 /* ports and ICMP type << 8 | code */
#define PS_FILTER_SMALL_KEYS 256  /* protocol, TCP flags, inner protocol */
#define PS_FILTER_MAX_LENS 128    /* prefix lengths 1..128 per address field (/0 is any_vec) */
/* A vector id with this bit set is a vector holding one rule, the one in the low bits: stored
 * nowhere, tested without a lookup (blocklists are made of them). */
#define PS_FILTER_SINGLE 0x80000000U
/* A vector id with this bit set names the rule in its low bits as the winner, whatever the other
 * fields hold: the lowest rule of that field value's vector constrains no other field, so it is in
 * every other field's vector too and nothing ahead of it can match. The classifier stops there. */
#define PS_FILTER_WINNER 0x40000000U
#define PS_FILTER_RULE_MASK 0x3FFFU /* the rule index in a SINGLE or WINNER id */
/* The early path's IPv4 first stage (ps_filter_early4): per generation and address field (src,
 * dst), one entry per /16, holding the id the longest prefix of at most 16 bits gives there; with
 * PS_FILTER_DEEPER set, longer prefixes exist inside that /16 and are looked up in the hash first. */
#define PS_FILTER_EARLY4_KEYS 65536
#define PS_FILTER_DEEPER 0x20000000U

/* Fields, in the order the classifier looks them up; bit f of ps_filter_gen.fields set = some
 * rule constrains field f (an unconstrained field's vector would hold every rule: skipped). */
enum ps_filter_field {
	PS_FF_SRC = 0, /* address fields: PS_FF_SRC + 2 * inner + is_dst, per family */
	PS_FF_DST,
	PS_FF_INNER_SRC,
	PS_FF_INNER_DST,
	PS_FF_DPORT, /* port-keyed arrays: PS_FF_DPORT.. in this order */
	PS_FF_SPORT,
	PS_FF_ICMP,
	PS_FF_INNER_SPORT,
	PS_FF_INNER_DPORT,
	PS_FF_PROTO, /* byte-keyed arrays */
	PS_FF_TCP_FLAGS,
	PS_FF_INNER_PROTO,
	PS_FF_NO_INNER, /* a packet that quotes nothing: only rules without inner fields */
	PS_FF_NO_L4,    /* a later fragment: only rules without port, flag, ICMP or inner fields */
	PS_FF_MAX,
};

#define PS_FILTER_ADDR_FIELDS 4
#define PS_FILTER_PORT_FIELDS 5
#define PS_FILTER_SMALL_FIELDS 3

enum ps_filter_action {
	PS_FILTER_DROP = 0,
	PS_FILTER_ALLOW = 1,   /* stop the search and pass */
	PS_FILTER_MONITOR = 2, /* count as if dropped, pass */
};

/* Which generation packets use. */
struct ps_filter_active {
	__u32 gen;
	__u32 _pad;
};

/* The header of one generation. */
struct ps_filter_gen {
	__u64 version; /* the rule-set version this generation holds */
	__u32 rules;   /* rules in this generation; 0 = classification off */
	__u32 words;   /* 64-bit words in use in every vector: (rules + 63) / 64 */
	__u32 fields;  /* bit per enum ps_filter_field that some rule constrains */
	__u32 no_inner_vec;
	__u32 no_l4_vec;
	__u32 epoch; /* new on every apply, never 0: a flow's cached verdict holds for this epoch only */
	/* Bits PS_FF_SRC / PS_FF_DST: some entry of that address field is a WINNER id of a drop rule,
	 * so ingress looks that field up before the flow table and drops without touching it. */
	__u32 early;
	/* Per family (0: IPv4, 1: IPv6) and address field: the /0 vector and the other prefix
	 * lengths present, longest first. */
	__u32 any_vec[2][PS_FILTER_ADDR_FIELDS];
	__u8 nlens[2][PS_FILTER_ADDR_FIELDS];
	__u8 lens[2][PS_FILTER_ADDR_FIELDS][PS_FILTER_MAX_LENS];
};

/* Address table key: the address masked to len bits, network byte order (IPv4 in addr[0..3]). */
struct ps_filter_addr_key {
	__u8 gen;
	__u8 family; /* 0: IPv4, 1: IPv6 */
	__u8 field;  /* PS_FF_SRC .. PS_FF_INNER_DST */
	__u8 len;
	union {
		__u8 addr[16];
		__u32 addr32[4];
	};
};

/* ps_filter_masks[len]: the network-order mask of a /len prefix, filled by the loader. */
struct ps_filter_mask {
	__u32 m[4];
};

/* A rule vector: bit i = the i-th rule in priority order. first/last bound the non-zero words
 * ([first, last)), so ANDing sparse vectors touches only a few words. */
struct ps_filter_vec {
	__u16 first;
	__u16 last;
	__u32 _pad;
	__u64 w[PS_FILTER_WORDS];
};

/* Rule i of a generation (ps_filter_rules[gen * PS_FILTER_MAX_RULES + i]). */
struct ps_filter_rule {
	__u32 id;   /* the stored rule's id */
	__u16 slot; /* its hit counters: ps_filter_hits[slot], kept while the rule stays in the set */
	__u8 action;
	__u8 _pad;
};

/* A classification's result: action << 16 | the winning rule's hit slot, or PS_FILTER_NONE (no rule
 * matched). A flow caches it per side (ps_flow_side.filter = epoch << 32 | result) when the rule
 * set constrains only fields that every packet of the flow shares (PS_FILTER_FLOW_FIELDS). */
#define PS_FILTER_NONE 0xFFFFFFFFU
#define PS_FILTER_FLOW_FIELDS                                                                \
	((1U << PS_FF_SRC) | (1U << PS_FF_DST) | (1U << PS_FF_DPORT) | (1U << PS_FF_SPORT) | \
	 (1U << PS_FF_PROTO) | (1U << PS_FF_NO_INNER) | (1U << PS_FF_NO_L4))

#define PS_FILTER_HIT_SLOTS (PS_FILTER_GENS * PS_FILTER_MAX_RULES)

/* Per-CPU hit counter of one rule (an array slot, not a hash by id: a match costs one array lookup). */
struct ps_filter_hit {
	__u64 packets;
	__u64 bytes;
	__u64 last_hit_ns; /* bpf_ktime_get_ns() (CLOCK_MONOTONIC), the packet's one clock read; the maximum over CPUs is the last hit */
};

#endif /* __FILTER_SHARED_H */
