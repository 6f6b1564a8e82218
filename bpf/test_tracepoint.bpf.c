// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Test fixture for the tracepoint bindings: counts net:netif_receive_skb events per CPU. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ps_test_rx_events SEC(".maps");

SEC("tracepoint/net/netif_receive_skb")
int ps_tp_netif_receive_skb(void *ctx)
{
	__u32 zero = 0;
	__u64 *count = bpf_map_lookup_elem(&ps_test_rx_events, &zero);

	if (count)
		(*count)++;
	return 0;
}
