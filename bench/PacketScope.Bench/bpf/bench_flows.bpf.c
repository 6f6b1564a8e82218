// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Benchmark traffic over many flows: like bpf/bench_tx.bpf.c's ps_xdp_tx, but rewrites the UDP
 * source port of every frame, cycling over psb_flows.flows ports from base_port, or the low
 * rand_bits of the IPv4 source address with a random value (a new source in every frame), so one
 * BPF_PROG_RUN live-frames call (~20 ms fixed cost each here) carries every flow. psb_xdp_drop is
 * the bare XDP_DROP receiver the drop benchmark compares against. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct psb_flows {
	__u32 flows;     /* ports to cycle over; 0 = leave frames as they are */
	__u32 base_port;
	__u32 next;      /* only the sending CPU runs this program during a call */
	__u32 rand_bits; /* 0..32: low bits of the IPv4 source drawn at random for each frame; 0 = none */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct psb_flows);
} psb_flows SEC(".maps");

#define PSB_UDP_SPORT_OFF (14 + 20) /* Ethernet + option-less IPv4: the sender builds the frame */
#define PSB_IP_CSUM_OFF (14 + 10)
#define PSB_IP_SADDR_OFF (14 + 12)

/* A new random source address, the IPv4 header checksum updated to match (RFC 1624): the stack
 * checks it before netfilter's inet hooks see the packet. */
static __always_inline void psb_random_source(void *data, void *data_end, __u32 bits)
{
	__u16 *csum = data + PSB_IP_CSUM_OFF;
	__u16 *saddr = data + PSB_IP_SADDR_OFF;
	__u32 mask = bits >= 32 ? 0xffffffff : (1U << bits) - 1;
	__u32 old, new, sum;

	if ((void *)(saddr + 2) > data_end)
		return;
	old = bpf_ntohl(*(__be32 *)saddr);
	new = (old & ~mask) | (bpf_get_prandom_u32() & mask);
	sum = (__u16)~*csum;
	sum += (__u16)~saddr[0] + (__u16)~saddr[1];
	*(__be32 *)saddr = bpf_htonl(new);
	sum += saddr[0] + saddr[1];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	*csum = (__u16)~sum;
}

SEC("xdp")
int psb_xdp_tx_flows(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__be16 *sport = data + PSB_UDP_SPORT_OFF;
	struct psb_flows *f;
	__u32 key = 0;

	f = bpf_map_lookup_elem(&psb_flows, &key);
	if (f && f->rand_bits)
		psb_random_source(data, data_end, f->rand_bits);
	if (!f || !f->flows || (void *)(sport + 1) > data_end)
		goto out;
	/* UDP checksum 0 (none) in the frame: the port can change without fixing a checksum. */
	*sport = bpf_htons((__u16)(f->base_port + f->next));
	if (++f->next >= f->flows)
		f->next = 0;
out:
	return XDP_TX;
}

SEC("xdp")
int psb_xdp_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}
