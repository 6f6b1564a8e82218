// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Benchmark baseline: the cheapest possible XDP program, so the cost of ps_xdp_ingress
 * can be measured against an attached program that does nothing. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int ps_xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}
