// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Benchmark traffic: ps_xdp_tx bounces the frame given to BPF_PROG_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES out of the sender's veth; ps_xdp_count_drop counts what
 * arrives at a receiver (count at the receiver: the veth ring drops what it cannot take). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ps_rx_count SEC(".maps");

SEC("xdp")
int ps_xdp_tx(struct xdp_md *ctx)
{
	return XDP_TX;
}

SEC("xdp")
int ps_xdp_count_drop(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *count = bpf_map_lookup_elem(&ps_rx_count, &key);

	if (count)
		*count += 1;
	return XDP_DROP;
}
