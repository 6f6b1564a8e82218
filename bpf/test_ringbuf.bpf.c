// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Test fixture for the ring buffer bindings: each packet run through it emits its length and first bytes. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct ps_test_record {
	__u32 len;
	__u8 head[12];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ps_test_events SEC(".maps");

SEC("xdp")
int ps_xdp_ringbuf(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ps_test_record *rec;

	if (data + 12 > data_end)
		return XDP_PASS;
	rec = bpf_ringbuf_reserve(&ps_test_events, sizeof(*rec), 0);
	if (!rec)
		return XDP_PASS;
	rec->len = data_end - data;
	__builtin_memcpy(rec->head, data, 12);
	bpf_ringbuf_submit(rec, 0);
	return XDP_PASS;
}
