// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Connection tracking at XDP ingress and tcx egress: flows, ICMP messages and per-CPU stats
 * for the C# loader (src/Native) to read; at ingress, the Guarder's filter rules (filter_kern.h)
 * decide whether a packet passes before it is tracked. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "conntrack_shared.h"
#include "conntrack_kern.h"
#include "filter_shared.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PS_DEFAULT_MAX_FLOWS);
	__type(key, struct ps_flow_key);
	__type(value, struct ps_flow_value);
} ps_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PS_DEFAULT_MAX_ICMP);
	__type(key, struct ps_icmp_key);
	__type(value, struct ps_icmp_value);
} ps_icmp SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PS_HOOK_MAX * PS_STAT_MAX);
	__type(key, __u32);
	__type(value, struct ps_counter);
} ps_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, PS_ICMP_HIST_MAX);
	__type(key, struct ps_icmp_hist_key);
	__type(value, struct ps_counter);
} ps_icmp_hist SEC(".maps");

/* The Guarder's rule tables (filter_shared.h), two generations of each. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ps_filter_active);
} ps_filter_active_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_FILTER_GENS);
	__type(key, __u32);
	__type(value, struct ps_filter_gen);
} ps_filter_gens SEC(".maps");

/* Vectors and address prefixes take memory only for what a rule set holds. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PS_FILTER_GENS * PS_FILTER_VECS_PER_GEN);
	__type(key, __u32); /* gen * PS_FILTER_VECS_PER_GEN + id */
	__type(value, struct ps_filter_vec);
} ps_filter_vecs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, PS_FILTER_GENS * PS_FILTER_ADDRS_PER_GEN);
	__type(key, struct ps_filter_addr_key);
	__type(value, __u32); /* vector id */
} ps_filter_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_FILTER_GENS * PS_FILTER_PORT_FIELDS * PS_FILTER_PORT_KEYS);
	__type(key, __u32);
	__type(value, __u32); /* vector id */
} ps_filter_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_FILTER_GENS * PS_FILTER_SMALL_FIELDS * PS_FILTER_SMALL_KEYS);
	__type(key, __u32);
	__type(value, __u32); /* vector id */
} ps_filter_small SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_FILTER_GENS * PS_FILTER_MAX_RULES);
	__type(key, __u32);
	__type(value, struct ps_filter_rule);
} ps_filter_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PS_FILTER_HIT_SLOTS);
	__type(key, __u32); /* ps_filter_rule.slot */
	__type(value, struct ps_filter_hit);
} ps_filter_hits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_FILTER_MAX_LENS + 1);
	__type(key, __u32);
	__type(value, struct ps_filter_mask);
} ps_filter_masks SEC(".maps");

/* Never read by the programs: user space puts the inner map in ps_filter_sync after each flip,
 * and the kernel answers that update only after an RCU grace period (synchronize_rcu), so no
 * packet still uses the generation the loader is about to rewrite. */
struct ps_filter_sync_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ps_filter_sync_inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct ps_filter_sync_map);
} ps_filter_sync SEC(".maps");

/* The early path's IPv4 first stage (filter_shared.h): [gen][field (src, dst)][address >> 16]. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PS_FILTER_GENS * 2 * PS_FILTER_EARLY4_KEYS);
	__type(key, __u32);
	__type(value, __u32); /* vector id, | PS_FILTER_DEEPER */
} ps_filter_early4 SEC(".maps");

/* Every bit set: the vector of a scan slot no field fills (filled by the loader). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ps_filter_vec);
} ps_filter_ones SEC(".maps");

/* The AND of the vectors beyond the scan's slots (packets that look up more fields than that). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ps_filter_vec);
} ps_filter_scratch SEC(".maps");

#include "filter_kern.h"

/* The coarse clock of the early path, read once per tick per CPU: the helper call costs a flood's
 * drop about a quarter of its time on this kind of host, while bpf_jiffies64 is inlined to one load and
 * the coarse clock only moves with jiffies (both advance in the tick). */
struct ps_filter_tick {
	__u64 jiffies;
	__u64 ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ps_filter_tick);
} ps_filter_ticks SEC(".maps");

/* bpf_ktime_get_coarse_ns() (CLOCK_MONOTONIC_COARSE), as of this CPU's first read in the current tick. */
static __always_inline __u64 ps_filter_coarse_ns(void)
{
	__u32 zero = 0;
	struct ps_filter_tick *t = bpf_map_lookup_elem(&ps_filter_ticks, &zero);
	__u64 j = bpf_jiffies64();

	if (!t)
		return bpf_ktime_get_coarse_ns();
	if (t->jiffies != j || !t->ns) {
		t->ns = bpf_ktime_get_coarse_ns();
		t->jiffies = j;
	}
	return t->ns;
}

/* One packet's classifier fields: in a map, not on the stack, which the call chain down to the
 * scan nearly fills. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ps_filter_pkt);
} ps_filter_pkts SEC(".maps");

/* A new flow record and a packet's flow key (one per hook) are built here, not on the stack: the XDP
 * call chain's frames must fit in 512 bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ps_flow_value);
} ps_flow_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PS_HOOK_MAX);
	__type(key, __u32);
	__type(value, struct ps_flow_key);
} ps_flow_keys SEC(".maps");


static __always_inline void ps_count(__u32 hook, __u32 stat, __u64 packets, __u64 bytes)
{
	__u32 key = hook * PS_STAT_MAX + stat;
	struct ps_counter *c = bpf_map_lookup_elem(&ps_stats, &key);

	if (c) {
		c->packets += packets;
		c->bytes += bytes;
	}
}

/* memcmp order of (addr, port): addresses compare as big-endian words. */
static __always_inline int ps_sender_is_b(const struct ps_pkt *p)
{
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		__u32 s = bpf_ntohl(p->src[i]), d = bpf_ntohl(p->dst[i]);

		if (s != d)
			return s > d;
	}
	return p->sport > p->dport;
}

/* Not atomic: one side of one flow is nearly always updated by a single CPU (RSS, one
 * sending socket); a rare race only blurs these health counters. */
static __always_inline void ps_tcp_health(struct ps_flow_side *s, const struct ps_pkt *p)
{
	__u8 flags = p->tcp_flags;
	__u32 seg_len = p->payload + !!(flags & PS_TCP_SYN) + !!(flags & PS_TCP_FIN);
	__u8 was_valid = s->seq_valid;

	/* A SYN that is not a retransmission of the first one starts a new sequence space. */
	if (!was_valid || ((flags & PS_TCP_SYN) && p->seq + seg_len != s->next_seq)) {
		was_valid = 0;
		s->next_seq = p->seq + seg_len;
		s->seq_valid = 1;
		s->data_bytes += p->payload;
	} else if (seg_len) {
		__u32 advance = p->seq + seg_len - s->next_seq;

		if ((__s32)advance <= 0) {
			s->retransmits++;
		} else {
			if ((__s32)(p->seq - s->next_seq) > 0)
				s->out_of_order++;
			s->next_seq = p->seq + seg_len;
			/* New sequence space, less the phantom bytes of SYN and FIN; a gap counts
			 * now and its late fill never does, so a finished transfer sums exactly. */
			advance -= !!(flags & PS_TCP_FIN) + !!(flags & PS_TCP_SYN);
			if ((__s32)advance > 0)
				s->data_bytes += advance;
		}
	}

	/* seq == next_seq keeps keepalives and window probes (seq = snd_una - 1) out. */
	if (was_valid && (flags & PS_TCP_ACK) && seg_len == 0 && p->seq == s->next_seq &&
	    !(flags & (PS_TCP_SYN | PS_TCP_FIN | PS_TCP_RST)) && p->ack == s->last_ack &&
	    p->window == s->window)
		s->dup_acks++;
	if (p->window == 0 && !(flags & PS_TCP_RST))
		s->zero_windows++;

	s->last_seq = p->seq;
	if (flags & PS_TCP_ACK)
		s->last_ack = p->ack;
	s->window = p->window;
}

/* Both sides sent a FIN, or either sent a RST. */
static __always_inline int ps_flow_finished(const struct ps_flow_value *v)
{
	__u8 a = v->side[0].tcp_flags, b = v->side[1].tcp_flags;

	return ((a | b) & PS_TCP_RST) || ((a & PS_TCP_FIN) && (b & PS_TCP_FIN));
}

/* The flow's key (endpoints ordered, so both directions share it); returns the sender's side. */
static __always_inline __u32 ps_flow_key_of(const struct ps_pkt *p, struct ps_flow_key *key)
{
	__u32 side = ps_sender_is_b(p);

	__builtin_memset(key, 0, sizeof(*key));
	if (side == 0) {
		__builtin_memcpy(key->addr_a, p->src, 16);
		__builtin_memcpy(key->addr_b, p->dst, 16);
		key->port_a = p->sport;
		key->port_b = p->dport;
	} else {
		__builtin_memcpy(key->addr_a, p->dst, 16);
		__builtin_memcpy(key->addr_b, p->src, 16);
		key->port_a = p->dport;
		key->port_b = p->sport;
	}
	key->vlan_id = p->vlan_id;
	key->family = p->family;
	key->proto = p->proto;
	return side;
}

/* Creates a flow's record; returns 0 when the record exists. */
__noinline int ps_flow_insert(const struct ps_flow_key *key, const struct ps_pkt *p, __u32 side,
			      __u32 hook, __u64 frame_len)
{
	struct ps_flow_value *nv;
	__u32 zero = 0;
	int err;

	if (!key || !p)
		return -1;
	nv = bpf_map_lookup_elem(&ps_flow_scratch, &zero);
	if (!nv)
		return -1;
	__builtin_memset(nv, 0, sizeof(*nv));
	nv->first_seen_ns = p->now;
	nv->last_seen_ns = p->now;
	nv->initiator = side;
	/* Seeing the SYN-ACK first means the receiver opened the connection. */
	if (p->proto == IPPROTO_TCP &&
	    (p->tcp_flags & (PS_TCP_SYN | PS_TCP_ACK)) == (PS_TCP_SYN | PS_TCP_ACK))
		nv->initiator = side ^ 1;
	err = bpf_map_update_elem(&ps_flows, key, nv, BPF_NOEXIST);
	if (err == 0)
		ps_count(hook, PS_STAT_FLOW_NEW, 1, frame_len);
	/* -EEXIST: another CPU created it first. */
	return err == -EEXIST ? 0 : err;
}

/* Counts the packet in its flow's record v (looked up by the caller; NULL: none yet), creating
 * the record when needed. Returns the record, or NULL when the table is full. */
static __always_inline struct ps_flow_value *ps_flow_account(const struct ps_flow_key *key,
							     struct ps_flow_value *v,
							     const struct ps_pkt *p, __u32 side,
							     __u32 hook, __u32 segs, __u64 frame_len)
{
	struct ps_flow_side *s;

	/* A new connection on the 4-tuple of a finished one starts its record again. */
	if (v && p->proto == IPPROTO_TCP &&
	    (p->tcp_flags & (PS_TCP_SYN | PS_TCP_ACK)) == PS_TCP_SYN && ps_flow_finished(v)) {
		__builtin_memset(v, 0, sizeof(*v));
		v->first_seen_ns = p->now;
		v->initiator = side;
	}
	if (!v) {
		if (ps_flow_insert(key, p, side, hook, frame_len))
			goto full;
		v = bpf_map_lookup_elem(&ps_flows, key);
		if (!v)
			goto full;
	}

	s = side ? &v->side[1] : &v->side[0];
	__sync_fetch_and_add(&s->packets, segs);
	__sync_fetch_and_add(&s->bytes, frame_len);
	__sync_fetch_and_add(&s->payload_bytes, p->payload);
	s->ip_id = p->ip_id;
	s->ttl = p->ttl;
	if (!(s->hooks & (1 << hook)))
		s->hooks |= 1 << hook;
	if (p->proto == IPPROTO_TCP && !p->later_frag) {
		/* Data first, flags after: a reader that sees the FIN (the connection closed) then also
		 * sees the data it ended. */
		ps_tcp_health(s, p);
		s->tcp_flags |= p->tcp_flags;
	}
	v->last_seen_ns = p->now;
	return v;
full:
	ps_count(hook, PS_STAT_FLOW_MAP_FULL, segs, frame_len);
	return NULL;
}

/* The egress flow update. Global, as the ingress one: verified once. */
__noinline int ps_flow_update_egress(const struct ps_pkt *p, __u32 segs, __u64 frame_len)
{
	struct ps_flow_key *key;
	struct ps_flow_value *v;
	__u32 side, hook = PS_HOOK_EGRESS;

	key = bpf_map_lookup_elem(&ps_flow_keys, &hook);
	if (!p || !key)
		return -1;
	side = ps_flow_key_of(p, key);
	v = bpf_map_lookup_elem(&ps_flows, key);
	return ps_flow_account(key, v, p, side, PS_HOOK_EGRESS, segs, frame_len) ? 0 : -1;
}

/* The Guarder's view of a parsed packet: ports only for TCP and UDP, flags only for TCP, the
 * ICMP type/code only for ICMP, inner fields only when an ICMP error's quote was read. Global:
 * verified once, not once per path of the parser. */
__noinline int ps_filter_packet(const struct ps_pkt *p, const struct ps_icmp_key *ik, int has_inner,
				__u64 frame_len, __u32 *match)
{
	struct ps_filter_pkt *fp;
	__u32 zero = 0;

	if (!p || !match)
		return PS_VERDICT_PASS;
	*match = PS_FILTER_NONE;
	fp = bpf_map_lookup_elem(&ps_filter_pkts, &zero);
	if (!fp)
		return PS_VERDICT_PASS;
	__builtin_memset(fp, 0, sizeof(*fp));
	fp->now = p->now;
	__builtin_memcpy(fp->src, p->src, 16);
	__builtin_memcpy(fp->dst, p->dst, 16);
	fp->proto = p->proto;
	fp->v6 = p->family == PS_AF_INET6;
	fp->l4_unknown = p->later_frag;
	if (!p->later_frag) {
		if (p->proto == IPPROTO_TCP || p->proto == IPPROTO_UDP) {
			fp->sport = p->sport;
			fp->dport = p->dport;
		}
		if (p->proto == IPPROTO_TCP)
			fp->tcp_flags = p->tcp_flags;
		if (ik) {
			fp->icmp = (__u16)p->icmp_type << 8 | p->icmp_code;
			if (has_inner) {
				fp->has_inner = 1;
				__builtin_memcpy(fp->inner_src, ik->inner_src, 16);
				__builtin_memcpy(fp->inner_dst, ik->inner_dst, 16);
				fp->inner_proto = ik->inner_proto;
				if (ik->inner_proto == IPPROTO_TCP || ik->inner_proto == IPPROTO_UDP) {
					fp->inner_sport = ik->inner_sport;
					fp->inner_dport = ik->inner_dport;
				}
			}
		}
	}
	return ps_filter_classify(fp, frame_len, match);
}

/* The vector id of an IPv4 address field (network order) for the early path: the /16 array, an
 * indexed load, and a hash only where longer prefixes exist inside that /16. */
static __always_inline __u32 ps_filter_early4_vec(const struct ps_filter_gen *g, __be32 addr, __u32 gen,
						  __u32 field)
{
	__u32 key, *first, a[4] = { addr, 0, 0, 0 };

	key = ((gen & 1) * 2 + (field == PS_FF_DST)) * PS_FILTER_EARLY4_KEYS + (bpf_ntohl(addr) >> 16);
	first = bpf_map_lookup_elem(&ps_filter_early4, &key);
	if (!first)
		return 0;
	if (!(*first & PS_FILTER_DEEPER))
		return *first;
	return ps_filter_prefix_vec(a, field == PS_FF_SRC ? g->lens[0][PS_FF_SRC] : g->lens[0][PS_FF_DST],
				    field == PS_FF_SRC ? g->nlens[0][PS_FF_SRC] : g->nlens[0][PS_FF_DST],
				    *first & ~PS_FILTER_DEEPER, gen, 0, field, 16);
}

/* The vector id of one address field (PS_FF_SRC or PS_FF_DST) for the early path: IPv4 through its
 * /16 first stage, IPv6 through the prefix hashes. */
static __always_inline __u32 ps_filter_early_vec(const struct ps_filter_gen *g, const __u32 *addr, __u32 gen,
						 __u32 family, __u32 field)
{
	if (!family)
		return ps_filter_early4_vec(g, addr[0], gen, field);
	return ps_filter_prefix_vec(addr, field == PS_FF_SRC ? g->lens[1][PS_FF_SRC] : g->lens[1][PS_FF_DST],
				    field == PS_FF_SRC ? g->nlens[1][PS_FF_SRC] : g->nlens[1][PS_FF_DST],
				    field == PS_FF_SRC ? g->any_vec[1][PS_FF_SRC] : g->any_vec[1][PS_FF_DST], gen, 1, field, 0);
}

/* The early verdict of a looked-up vector id: a WINNER whose rule drops, its hit counted, else
 * PS_FILTER_NONE. */
static __always_inline __u32 ps_filter_early_drop(__u32 id, __u32 gen, __u64 frame_len)
{
	struct ps_filter_rule *rule;
	__u32 key;

	if (!(id & PS_FILTER_WINNER))
		return PS_FILTER_NONE;
	key = (gen & 1) * PS_FILTER_MAX_RULES + (id & PS_FILTER_RULE_MASK);
	rule = bpf_map_lookup_elem(&ps_filter_rules, &key);
	/* An allow or a monitor is left to the flow update: its flow's cached verdict costs less. */
	if (!rule || rule->action != PS_FILTER_DROP)
		return PS_FILTER_NONE;
	ps_filter_count_hit(rule->slot, frame_len, ps_filter_coarse_ns());
	return (__u32)PS_FILTER_DROP << 16 | rule->slot;
}

/* The early drop: a drop rule an address decides alone (a WINNER id, filter_shared.h), looked up
 * before the flow table and before the packet's clock read, for the address fields g->early names
 * (rule sets with a drop rule that only an address decides, such as blocklists; IPv4 through the
 * /16 first stage, ps_filter_early4). Returns the match with its hit counted, or PS_FILTER_NONE
 * when no looked-up address decides a drop (the verdict then comes as before). No cache: every lookup
 * reads the active generation, so a rule change applies from the next packet. The hit's time is
 * the coarse clock (a tick): the fine one costs a flood's drop about as much as the lookup. */
__noinline __u32 ps_filter_early(const struct ps_pkt *p, __u64 frame_len)
{
	struct ps_filter_gen *g;
	__u32 family, gen, id = 0;

	if (!p)
		return PS_FILTER_NONE;
	g = ps_filter_active(&gen);
	if (!g || !g->rules || !g->early)
		return PS_FILTER_NONE;
	family = p->family == PS_AF_INET6 ? 1 : 0;
	if (g->early & (1 << PS_FF_SRC))
		id = ps_filter_early_vec(g, p->src, gen, family, PS_FF_SRC);
	if (!(id & PS_FILTER_WINNER) && (g->early & (1 << PS_FF_DST)))
		id = ps_filter_early_vec(g, p->dst, gen, family, PS_FF_DST);
	return ps_filter_early_drop(id, gen, frame_len);
}

/* ps_filter_early for an IPv4 packet's addresses as the frame carries them (network order), for
 * the XDP fast path (ps_xdp_fast4): the same tables and verdict without a parsed ps_pkt. */
__noinline __u32 ps_filter_early_v4(__be32 saddr, __be32 daddr, __u64 frame_len)
{
	struct ps_filter_gen *g;
	__u32 gen, id = 0;

	g = ps_filter_active(&gen);
	if (!g || !g->rules || !g->early)
		return PS_FILTER_NONE;
	if (g->early & (1 << PS_FF_SRC))
		id = ps_filter_early4_vec(g, saddr, gen, PS_FF_SRC);
	if (!(id & PS_FILTER_WINNER) && (g->early & (1 << PS_FF_DST)))
		id = ps_filter_early4_vec(g, daddr, gen, PS_FF_DST);
	return ps_filter_early_drop(id, gen, frame_len);
}

/* An ingress packet's flow update; with classify set, its filter verdict first (the drops that
 * ps_filter_early decides never get here). Every packet of one side of a flow (ingress may see both sides on a forwarding host) shares the
 * addresses, ports and protocol, so when the rule set constrains nothing else the side caches its
 * verdict: the packets after the first cost a compare and the hit counter, not a classification.
 * The cache holds for one epoch of the rule tables, and never for later fragments (classified
 * without ports, tracked in the ports-0 flow). Returns PS_VERDICT_DROP when a rule drops the
 * packet: it is then not counted in its flow. */
__noinline int ps_flow_update_ingress(const struct ps_pkt *p, __u32 segs, __u64 frame_len,
				      int classify)
{
	struct ps_flow_key *key;
	struct ps_flow_value *v;
	struct ps_filter_gen *g = NULL;
	__u32 side, gen = 0, hook = PS_HOOK_INGRESS, epoch = 0, match = PS_FILTER_NONE;
	__u64 *cache = NULL, cached = 0;

	if (!p)
		return PS_VERDICT_PASS;
	if (classify)
		g = ps_filter_active(&gen);
	key = bpf_map_lookup_elem(&ps_flow_keys, &hook);
	if (!key)
		return PS_VERDICT_PASS;
	side = ps_flow_key_of(p, key);
	v = bpf_map_lookup_elem(&ps_flows, key);
	if (g && g->rules) {
		if (!p->later_frag && !(g->fields & ~PS_FILTER_FLOW_FIELDS))
			epoch = g->epoch;
		if (epoch && v)
			cache = side ? &v->side[1].filter : &v->side[0].filter;
		/* One load of the word (another CPU may rewrite it): its epoch and its result belong together. */
		if (cache)
			cached = *(volatile __u64 *)cache;
		if (cache && cached >> 32 == epoch) {
			match = (__u32)cached;
			if (match != PS_FILTER_NONE)
				ps_filter_count_hit(match & 0xffff, frame_len, p->now);
		} else {
			ps_filter_packet(p, NULL, 0, frame_len, &match);
			if (cache)
				*cache = (__u64)epoch << 32 | match;
		}
		if (match != PS_FILTER_NONE) {
			if (match >> 16 == PS_FILTER_DROP)
				return PS_VERDICT_DROP;
			if (match >> 16 == PS_FILTER_MONITOR)
				ps_count(PS_HOOK_INGRESS, PS_STAT_MONITOR, segs, frame_len);
		}
	}
	v = ps_flow_account(key, v, p, side, PS_HOOK_INGRESS, segs, frame_len);
	/* A record this packet created (or started again) caches the verdict that let it in. */
	if (v && epoch && !cache) {
		if (side)
			v->side[1].filter = (__u64)epoch << 32 | match;
		else
			v->side[0].filter = (__u64)epoch << 32 | match;
	}
	return PS_VERDICT_PASS;
}

/* The ICMP map key of a message: outer fields, and for an error the packet it quotes. Returns
 * whether a quote was read. */
static __always_inline int ps_icmp_key_of(const struct ps_pkt *p, void *quoted, void *data_end,
					  __u32 hook, __u32 segs, __u64 frame_len,
					  struct ps_icmp_key *key)
{
	__builtin_memset(key, 0, sizeof(*key));
	__builtin_memcpy(key->src, p->src, 16);
	__builtin_memcpy(key->dst, p->dst, 16);
	key->vlan_id = p->vlan_id;
	key->family = p->family;
	key->type = p->icmp_type;
	key->code = p->icmp_code;
	key->hook = hook;
	if (!ps_icmp_is_error(p->family, p->icmp_type))
		return 0;
	/* A cut-short quote is malformed, but the message itself still counts. */
	if (ps_parse_quoted(quoted, data_end, p->l4_len - sizeof(struct icmphdr), key) < 0) {
		ps_count(hook, PS_STAT_MALFORMED, segs, frame_len);
		return 0;
	}
	return 1;
}

static __always_inline void ps_icmp_update(const struct ps_pkt *p, const struct ps_icmp_key *key,
					   __u32 hook, __u32 segs, __u64 frame_len)
{
	struct ps_icmp_value *v;
	__u64 now = p->now;
	int echo = ps_icmp_is_echo(p->family, p->icmp_type);

	v = bpf_map_lookup_elem(&ps_icmp, key);
	if (!v) {
		struct ps_icmp_value nv;
		int err;

		__builtin_memset(&nv, 0, sizeof(nv));
		nv.first_seen_ns = now;
		err = bpf_map_update_elem(&ps_icmp, key, &nv, BPF_NOEXIST);
		if (err == 0)
			ps_count(hook, PS_STAT_ICMP_NEW, 1, frame_len);
		else if (err != -EEXIST)
			goto full;
		v = bpf_map_lookup_elem(&ps_icmp, key);
		if (!v)
			goto full;
	}
	__sync_fetch_and_add(&v->packets, segs);
	__sync_fetch_and_add(&v->bytes, frame_len);
	v->last_seen_ns = now;
	if (echo) {
		v->echo_id = p->sport;
		v->echo_seq = p->echo_seq;
	}
	return;
full:
	ps_count(hook, PS_STAT_ICMP_MAP_FULL, segs, frame_len);
}

static __always_inline void ps_hist_update(const struct ps_pkt *p, __u32 hook, __u32 segs,
					   __u64 frame_len)
{
	struct ps_icmp_hist_key key = {
		.family = p->family,
		.type = p->icmp_type,
		.code = p->icmp_code,
		.hook = hook,
	};
	struct ps_counter *c = bpf_map_lookup_elem(&ps_icmp_hist, &key);

	if (!c) {
		struct ps_counter init = { .packets = segs, .bytes = frame_len };
		int err = bpf_map_update_elem(&ps_icmp_hist, &key, &init, BPF_NOEXIST);

		if (!err)
			return;
		if (err != -EEXIST)
			goto full;
		c = bpf_map_lookup_elem(&ps_icmp_hist, &key);
		if (!c)
			goto full;
	}
	c->packets += segs;
	c->bytes += frame_len;
	return;
full:
	ps_count(hook, PS_STAT_HIST_FULL, segs, frame_len);
}

/* Shared by both hooks. vlan: the VID the NIC took out of the frame, or PS_VLAN_NONE. Returns
 * PS_VERDICT_DROP when an ingress filter rule drops the packet (it is then not tracked). */
static __always_inline int ps_track(void *data, void *data_end, __u64 frame_len, __u32 segs,
				    __u32 hook, int vlan, int early_done)
{
	struct ethhdr *eth = data;
	struct ps_icmp_key ikey, *ik = NULL;
	struct ps_pkt p;
	void *pos, *l4 = NULL;
	__be16 h_proto;
	__u32 tags = 0, l3_off, stat, match = PS_FILTER_NONE;
	int err, has_inner = 0;

	/* The caller checked the Ethernet header and counts the frame in PS_STAT_TOTAL. */
	h_proto = eth->h_proto;
	pos = eth + 1;
	err = ps_parse_vlans(&pos, data_end, &h_proto, &vlan, &tags);
	if (tags || vlan >= 0)
		ps_count(hook, PS_STAT_VLAN, segs, frame_len);
	if (err)
		goto malformed;
	l3_off = ETH_HLEN + tags * VLAN_HLEN; /* within frame_len: the tags were bounds-checked */

	__builtin_memset(&p, 0, sizeof(p));
	p.vlan_id = vlan < 0 ? 0 : vlan;
	if (h_proto == bpf_htons(ETH_P_IP)) {
		ps_count(hook, PS_STAT_IPV4, segs, frame_len);
		err = ps_parse_ipv4(pos, data_end, frame_len - l3_off, segs, &p, &l4);
	} else if (h_proto == bpf_htons(ETH_P_IPV6)) {
		ps_count(hook, PS_STAT_IPV6, segs, frame_len);
		err = ps_parse_ipv6(pos, data_end, frame_len - l3_off, segs, &p, &l4);
	} else {
		ps_count(hook, h_proto == bpf_htons(ETH_P_ARP) ? PS_STAT_ARP : PS_STAT_OTHER_L3, segs,
			 frame_len);
		return PS_VERDICT_PASS;
	}
	if (err)
		goto malformed;

	if (p.fragment)
		ps_count(hook, PS_STAT_FRAGMENT, segs, frame_len);
	switch (p.proto) {
	case IPPROTO_TCP:
		stat = PS_STAT_TCP;
		break;
	case IPPROTO_UDP:
		stat = PS_STAT_UDP;
		break;
	case IPPROTO_ICMP:
		stat = PS_STAT_ICMP;
		break;
	case PS_IPPROTO_ICMPV6:
		stat = PS_STAT_ICMPV6;
		break;
	default:
		stat = PS_STAT_OTHER_L4;
	}
	ps_count(hook, stat, segs, frame_len);

	p.payload = p.l4_len;
	/* Non-first fragments carry no ports: tracked as the address pair's flow with ports 0. */
	if (p.later_frag)
		goto classify;

	if (p.proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;
		__u32 thlen;

		if ((void *)(th + 1) > data_end || th->doff < 5)
			goto malformed;
		thlen = th->doff * 4;
		if (thlen > p.l4_len)
			goto malformed;
		p.payload = p.l4_len - thlen;
		p.sport = bpf_ntohs(th->source);
		p.dport = bpf_ntohs(th->dest);
		p.seq = bpf_ntohl(th->seq);
		p.ack = bpf_ntohl(th->ack_seq);
		p.window = bpf_ntohs(th->window);
		p.tcp_flags = ((__u8 *)th)[13];
	} else if (p.proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > data_end || p.l4_len < sizeof(*uh))
			goto malformed;
		p.payload = p.l4_len - sizeof(*uh);
		p.sport = bpf_ntohs(uh->source);
		p.dport = bpf_ntohs(uh->dest);
	} else if ((p.proto == IPPROTO_ICMP && p.family == PS_AF_INET) ||
		   (p.proto == PS_IPPROTO_ICMPV6 && p.family == PS_AF_INET6)) {
		struct icmphdr *ih = l4; /* ICMPv6 shares type, code and the echo id/seq layout */

		if ((void *)(ih + 1) > data_end || p.l4_len < sizeof(*ih))
			goto malformed;
		p.icmp_type = ih->type;
		p.icmp_code = ih->code;
		if (ps_icmp_is_echo(p.family, p.icmp_type)) {
			p.sport = bpf_ntohs(ih->un.echo.id);
			p.dport = p.sport;
			p.echo_seq = bpf_ntohs(ih->un.echo.sequence);
		}
		has_inner = ps_icmp_key_of(&p, ih + 1, data_end, hook, segs, frame_len, &ikey);
		ik = &ikey;
	}
classify:
	if (hook == PS_HOOK_INGRESS && !early_done) {
		/* A drop an address decides alone (a blocklist's flood) ends here: no clock, no flow lookup. */
		if (ps_filter_early(&p, frame_len) != PS_FILTER_NONE)
			return PS_VERDICT_DROP;
	}
	p.now = bpf_ktime_get_ns();
	if (hook == PS_HOOK_INGRESS) {
		/* TCP, UDP, fragments and other protocols: classified with their flow (its cached verdict). */
		if (!ik)
			return ps_flow_update_ingress(&p, segs, frame_len, 1);
		if (ps_filter_packet(&p, ik, has_inner, frame_len, &match) == PS_VERDICT_DROP)
			return PS_VERDICT_DROP;
		if (match != PS_FILTER_NONE && match >> 16 == PS_FILTER_MONITOR)
			ps_count(hook, PS_STAT_MONITOR, segs, frame_len);
	}
	if (ik) {
		ps_icmp_update(&p, ik, hook, segs, frame_len);
		ps_hist_update(&p, hook, segs, frame_len);
		/* Only echo request/reply pairs are flows; other messages live in ps_icmp. */
		if (!ps_icmp_is_echo(p.family, p.icmp_type))
			return PS_VERDICT_PASS;
	}
	if (hook == PS_HOOK_INGRESS)
		ps_flow_update_ingress(&p, segs, frame_len, 0);
	else
		ps_flow_update_egress(&p, segs, frame_len);
	return PS_VERDICT_PASS;
malformed:
	ps_count(hook, PS_STAT_MALFORMED, segs, frame_len);
	if (hook == PS_HOOK_INGRESS && ps_filter_rules_loaded())
		return PS_VERDICT_DROP;
	return PS_VERDICT_PASS;
}

/* The IPv4 fast path to the early drop: an untagged, unfragmented IPv4 TCP or UDP frame with the
 * headers ps_track accepts, its addresses read straight from the frame (no ps_pkt, no VLAN loop).
 * Returns 1 when an early drop rule dropped it, its IPV4 and L4 stats and the rule's hit counted as
 * ps_track counts them (the caller's drop exit counts TOTAL and DROP); 0 when the full path decides, with
 * *early_done set when the early tables were already asked (the full path asks them once). */
static __always_inline int ps_xdp_fast4(void *data, void *data_end, __u64 frame_len, int *early_done)
{
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	__u32 tot_len, l4_len, stat;

	if (eth->h_proto != bpf_htons(ETH_P_IP) || (void *)(iph + 1) > data_end)
		return 0;
	if (iph->version != 4 || iph->ihl != 5 || (iph->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return 0;
	tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len < sizeof(*iph) || tot_len > frame_len - ETH_HLEN)
		return 0;
	l4_len = tot_len - sizeof(*iph);
	if (iph->protocol == IPPROTO_UDP) {
		if ((void *)(iph + 1) + sizeof(struct udphdr) > data_end || l4_len < sizeof(struct udphdr))
			return 0;
		stat = PS_STAT_UDP;
	} else if (iph->protocol == IPPROTO_TCP) {
		struct tcphdr *th = (void *)(iph + 1);

		if ((void *)(th + 1) > data_end || th->doff < 5 || th->doff * 4 > l4_len)
			return 0;
		stat = PS_STAT_TCP;
	} else {
		return 0;
	}
	*early_done = 1;
	if (ps_filter_early_v4(iph->saddr, iph->daddr, frame_len) == PS_FILTER_NONE)
		return 0;
	ps_count(PS_HOOK_INGRESS, PS_STAT_IPV4, 1, frame_len);
	ps_count(PS_HOOK_INGRESS, stat, 1, frame_len);
	return 1;
}

SEC("xdp")
int ps_xdp_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	/* The whole frame: SEC("xdp") takes no multi-buffer frames. data_end - data, not
	 * bpf_xdp_get_buff_len(): a helper call costs a flood's drop 7-10 ns on a virtual machine; the
	 * pointer subtraction needs CAP_PERFMON, which the node requires anyway (README, Requirements). */
	__u64 frame_len = (__u64)(data_end - data);
	int early_done = 0;

	if (data + sizeof(struct ethhdr) > data_end) {
		ps_count(PS_HOOK_INGRESS, PS_STAT_MALFORMED, 1, frame_len);
		goto out;
	}
	if (ps_xdp_fast4(data, data_end, frame_len, &early_done) ||
	    ps_track(data, data_end, frame_len, 1, PS_HOOK_INGRESS, PS_VLAN_NONE, early_done) ==
	    PS_VERDICT_DROP) {
		ps_count(PS_HOOK_INGRESS, PS_STAT_TOTAL, 1, frame_len);
		ps_count(PS_HOOK_INGRESS, PS_STAT_DROP, 1, frame_len);
		return XDP_DROP;
	}
out:
	ps_count(PS_HOOK_INGRESS, PS_STAT_TOTAL, 1, frame_len);
	ps_count(PS_HOOK_INGRESS, PS_STAT_PASS, 1, frame_len);
	return XDP_PASS;
}

/* How many bytes from the start of the frame the tracker reads, found with small
 * bpf_skb_load_bytes peeks that leave the skb alone. Locally sent TCP keeps only its headers
 * in the linear area, and those skbs are clones: pulling payload in would copy the head of
 * every segment, so pull only what the headers need. Unusual packets (VLAN tags, IPv6
 * extension headers, ICMP errors with their quote) get the generous PS_TC_PULL_LEN. */
static __always_inline __u32 ps_tc_headers_len(struct __sk_buff *skb)
{
	__u8 b[2];
	__u16 proto;
	__u32 l3 = ETH_HLEN, l4;

	if (bpf_skb_load_bytes(skb, 12, &proto, sizeof(proto)))
		return PS_TC_PULL_LEN;
	if (proto == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, l3, b, 1) || bpf_skb_load_bytes(skb, l3 + 9, &b[1], 1))
			return PS_TC_PULL_LEN;
		l4 = l3 + (b[0] & 0x0f) * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, l3 + 6, &b[1], 1))
			return PS_TC_PULL_LEN;
		l4 = l3 + sizeof(struct ipv6hdr);
	} else {
		return PS_TC_PULL_LEN;
	}
	if (b[1] == IPPROTO_TCP) {
		if (bpf_skb_load_bytes(skb, l4 + 12, b, 1))
			return PS_TC_PULL_LEN;
		return l4 + (b[0] >> 4) * 4;
	}
	if (b[1] == IPPROTO_UDP)
		return l4 + sizeof(struct udphdr);
	return PS_TC_PULL_LEN;
}

SEC("tc")
int ps_tc_egress(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	__u32 segs = skb->gso_segs > 1 ? skb->gso_segs : 1;
	__u32 want = ps_tc_headers_len(skb);
	/* veth and most NICs take the 802.1Q tag out of the frame into the skb on transmit. */
	int vlan = skb->vlan_present ? (int)(skb->vlan_tci & VLAN_VID_MASK) : PS_VLAN_NONE;
	/* Count the offloaded tag as the wire will carry it, as XDP counts a tag in the frame. */
	__u64 wire_len = len + (vlan >= 0 ? VLAN_HLEN : 0);
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (want > len)
		want = len;
	if (data + want > data_end) {
		/* On failure the tracker sees the short linear part and counts it malformed. */
		bpf_skb_pull_data(skb, want);
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
	}
	if (data + sizeof(struct ethhdr) > data_end) {
		ps_count(PS_HOOK_EGRESS, PS_STAT_MALFORMED, segs, wire_len);
		goto out;
	}
	ps_track(data, data_end, wire_len, segs, PS_HOOK_EGRESS, vlan, 0);
out:
	ps_count(PS_HOOK_EGRESS, PS_STAT_TOTAL, segs, wire_len);
	ps_count(PS_HOOK_EGRESS, PS_STAT_PASS, segs, wire_len);
	/* TCX_NEXT, not TC_ACT_OK: OK would end the tcx chain and skip later tcx and clsact programs. */
	return TCX_NEXT;
}
