// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Benchmark traffic over many flows: like bpf/bench_tx.bpf.c's ps_xdp_tx, but rewrites the UDP
 * source port of every frame, cycling over psb_flows.flows ports from base_port, so one
 * BPF_PROG_RUN live-frames call (~20 ms fixed cost each here) carries every flow. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct psb_flows {
	__u32 flows;     /* ports to cycle over; 0 = leave frames as they are */
	__u32 base_port;
	__u32 next;      /* only the sending CPU runs this program during a call */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct psb_flows);
} psb_flows SEC(".maps");

#define PSB_UDP_SPORT_OFF (14 + 20) /* Ethernet + option-less IPv4: the sender builds the frame */

SEC("xdp")
int psb_xdp_tx_flows(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__be16 *sport = data + PSB_UDP_SPORT_OFF;
	struct psb_flows *f;
	__u32 key = 0;

	f = bpf_map_lookup_elem(&psb_flows, &key);
	if (!f || !f->flows || (void *)(sport + 1) > data_end)
		goto out;
	/* UDP checksum 0 (none) in the frame: the port can change without fixing a checksum. */
	*sport = bpf_htons((__u16)(f->base_port + f->next));
	if (++f->next >= f->flows)
		f->next = 0;
out:
	return XDP_TX;
}
