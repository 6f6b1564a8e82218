// Prints sizeof/offsetof of every struct in conntrack_shared.h and filter_shared.h: "struct field offset size" per line.
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>
#include "conntrack_shared.h"
#include "filter_shared.h"

#define S(s) printf(#s " - 0 %zu\n", sizeof(struct s))
#define F(s, f) printf(#s " " #f " %zu %zu\n", offsetof(struct s, f), sizeof(((struct s *)0)->f))
#define FN(s, name, f) printf(#s " " name " %zu %zu\n", offsetof(struct s, f), sizeof(((struct s *)0)->f))

int main(void)
{
	S(ps_flow_key);
	F(ps_flow_key, addr_a); F(ps_flow_key, addr_b); F(ps_flow_key, port_a); F(ps_flow_key, port_b);
	F(ps_flow_key, vlan_id); F(ps_flow_key, family); F(ps_flow_key, proto);

	S(ps_flow_side);
	F(ps_flow_side, packets); F(ps_flow_side, bytes); F(ps_flow_side, payload_bytes); F(ps_flow_side, data_bytes);
	F(ps_flow_side, next_seq);
	F(ps_flow_side, last_seq); F(ps_flow_side, last_ack); F(ps_flow_side, retransmits); F(ps_flow_side, out_of_order);
	F(ps_flow_side, dup_acks); F(ps_flow_side, zero_windows); F(ps_flow_side, window); F(ps_flow_side, ip_id);
	F(ps_flow_side, ttl); F(ps_flow_side, tcp_flags); F(ps_flow_side, hooks); F(ps_flow_side, seq_valid); F(ps_flow_side, _pad);
	F(ps_flow_side, filter);

	S(ps_flow_value);
	FN(ps_flow_value, "side_a", side[0]); FN(ps_flow_value, "side_b", side[1]);
	F(ps_flow_value, first_seen_ns); F(ps_flow_value, last_seen_ns); F(ps_flow_value, initiator);

	S(ps_icmp_key);
	F(ps_icmp_key, src); F(ps_icmp_key, dst); F(ps_icmp_key, inner_src); F(ps_icmp_key, inner_dst);
	F(ps_icmp_key, inner_sport); F(ps_icmp_key, inner_dport); F(ps_icmp_key, vlan_id); F(ps_icmp_key, family);
	F(ps_icmp_key, type); F(ps_icmp_key, code); F(ps_icmp_key, inner_proto); F(ps_icmp_key, hook); F(ps_icmp_key, _pad);

	S(ps_icmp_value);
	F(ps_icmp_value, packets); F(ps_icmp_value, bytes); F(ps_icmp_value, first_seen_ns); F(ps_icmp_value, last_seen_ns);
	F(ps_icmp_value, echo_id); F(ps_icmp_value, echo_seq); F(ps_icmp_value, _pad);

	S(ps_counter);
	F(ps_counter, packets); F(ps_counter, bytes);

	S(ps_icmp_hist_key);
	F(ps_icmp_hist_key, family); F(ps_icmp_hist_key, type); F(ps_icmp_hist_key, code); F(ps_icmp_hist_key, hook);

	S(ps_filter_active);
	F(ps_filter_active, gen);

	S(ps_filter_gen);
	F(ps_filter_gen, version); F(ps_filter_gen, rules); F(ps_filter_gen, words); F(ps_filter_gen, fields);
	F(ps_filter_gen, no_inner_vec); F(ps_filter_gen, no_l4_vec); F(ps_filter_gen, epoch); F(ps_filter_gen, early); F(ps_filter_gen, any_vec); F(ps_filter_gen, nlens); F(ps_filter_gen, lens);

	S(ps_filter_addr_key);
	F(ps_filter_addr_key, gen); F(ps_filter_addr_key, family); F(ps_filter_addr_key, field); F(ps_filter_addr_key, len);
	F(ps_filter_addr_key, addr);

	S(ps_filter_mask);
	F(ps_filter_mask, m);

	S(ps_filter_vec);
	F(ps_filter_vec, first); F(ps_filter_vec, last); F(ps_filter_vec, w);

	S(ps_filter_rule);
	F(ps_filter_rule, id); F(ps_filter_rule, slot); F(ps_filter_rule, action);

	S(ps_filter_hit);
	F(ps_filter_hit, packets); F(ps_filter_hit, bytes); F(ps_filter_hit, last_hit_ns);

	printf("enum PS_STAT_MAX %d 0\n", PS_STAT_MAX);
	printf("enum PS_STAT_MONITOR %d 0\n", PS_STAT_MONITOR);
	printf("enum PS_FF_MAX %d 0\n", PS_FF_MAX);
	printf("enum PS_FF_INNER_DPORT %d 0\n", PS_FF_INNER_DPORT);
	printf("enum PS_FF_PROTO %d 0\n", PS_FF_PROTO);
	printf("enum PS_FILTER_MONITOR %d 0\n", PS_FILTER_MONITOR);
	printf("enum PS_FILTER_MAX_RULES %d 0\n", PS_FILTER_MAX_RULES);
	printf("enum PS_FILTER_VECS_PER_GEN %d 0\n", PS_FILTER_VECS_PER_GEN);
	printf("enum PS_FILTER_MAX_LENS %d 0\n", PS_FILTER_MAX_LENS);
	printf("enum PS_FILTER_SINGLE %u 0\n", PS_FILTER_SINGLE);
	printf("enum PS_FILTER_WINNER %u 0\n", PS_FILTER_WINNER);
	printf("enum PS_FILTER_RULE_MASK %u 0\n", PS_FILTER_RULE_MASK);
	printf("enum PS_FILTER_DEEPER %u 0\n", PS_FILTER_DEEPER);
	printf("enum PS_FILTER_EARLY4_KEYS %u 0\n", PS_FILTER_EARLY4_KEYS);
	printf("enum PS_STAT_FLOW_MAP_FULL %d 0\n", PS_STAT_FLOW_MAP_FULL);
	printf("enum PS_STAT_PASS %d 0\n", PS_STAT_PASS);
	printf("enum PS_STAT_ICMP_NEW %d 0\n", PS_STAT_ICMP_NEW);
	printf("enum PS_STAT_DROP %d 0\n", PS_STAT_DROP);
	printf("enum PS_HOOK_MAX %d 0\n", PS_HOOK_MAX);
	printf("enum PS_DEFAULT_MAX_FLOWS %d 0\n", PS_DEFAULT_MAX_FLOWS);
	return 0;
}
