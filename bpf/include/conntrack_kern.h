/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Kernel-only header parsing for conntrack.bpf.c: constants vmlinux.h lacks, the parsed
 * packet summary and bounds-checked L2/L3/quoted-packet parsers. Parsers return < 0 when a
 * header is truncated or inconsistent; the caller counts PS_STAT_MALFORMED. */
#ifndef __CONNTRACK_KERN_H
#define __CONNTRACK_KERN_H

/* vmlinux.h has the enums but none of the uapi #defines. */
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_ARP 0x0806
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_HLEN 14
#define VLAN_HLEN 4
#define VLAN_VID_MASK 0x0fff

#define TC_ACT_UNSPEC (-1)
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

#define EEXIST 17

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define IP6_OFFSET 0xfff8

/* IPPROTO_ICMPV6 and the IPv6 extension headers are #defines in linux/in6.h. */
#define PS_IPPROTO_HOPOPTS 0
#define PS_IPPROTO_ROUTING 43
#define PS_IPPROTO_FRAGMENT 44
#define PS_IPPROTO_AH 51
#define PS_IPPROTO_ICMPV6 58
#define PS_IPPROTO_DSTOPTS 60

#define PS_TCP_FIN 0x01
#define PS_TCP_SYN 0x02
#define PS_TCP_RST 0x04
#define PS_TCP_ACK 0x10

#define PS_ICMP_ECHOREPLY 0
#define PS_ICMP_ECHO 8
#define PS_ICMPV6_ECHO_REQUEST 128
#define PS_ICMPV6_ECHO_REPLY 129

#define PS_MAX_VLAN_TAGS 2
#define PS_MAX_IPV6_EXT 4       /* extension headers skipped before giving up on L4 (verifier cost grows fast) */
#define PS_MAX_QUOTED_IPV6_EXT 2
#define PS_VLAN_NONE (-1)       /* no VLAN tag offloaded into the skb */
#define PS_TC_PULL_LEN 256      /* bytes made linear on egress: covers the headers we read */

struct ps_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* Common start of the IPv6 hop-by-hop, routing, destination options, AH and fragment headers. */
struct ps_ipv6_ext {
	__u8 nexthdr;
	__u8 hdrlen;
	__be16 frag_off; /* fragment header only */
};

/* What the tracker learned about one packet. Addresses in network order, the rest host order. */
struct ps_pkt {
	__u64 now;     /* bpf_ktime_get_ns(), read once per packet for every table it touches */
	__u32 src[4];
	__u32 dst[4];
	__u32 l4_len;  /* L3 payload after the IP header(s), from tot_len/payload_len */
	__u32 payload; /* flow payload: after the TCP/UDP header, else l4_len */
	__u32 seq;
	__u32 ack;
	__u16 sport;
	__u16 dport;
	__u16 window;
	__u16 ip_id;
	__u16 vlan_id;
	__u16 echo_seq;
	__u8 family;
	__u8 proto;
	__u8 ttl;
	__u8 tcp_flags;
	__u8 fragment;    /* any IP fragment */
	__u8 later_frag;  /* non-first fragment: no L4 header */
	__u8 icmp_type;
	__u8 icmp_code;
};

/* Skips up to two VLAN tags; *vlan gets the outer VID unless the NIC already took it off. */
static __always_inline int ps_parse_vlans(void **pos, void *data_end, __be16 *proto, int *vlan,
					  __u32 *tags)
{
	int i;

#pragma unroll
	for (i = 0; i < PS_MAX_VLAN_TAGS; i++) {
		struct ps_vlan_hdr *vh = *pos;

		if (*proto != bpf_htons(ETH_P_8021Q) && *proto != bpf_htons(ETH_P_8021AD))
			break;
		*tags += 1;
		if ((void *)(vh + 1) > data_end)
			return -1;
		if (*vlan < 0)
			*vlan = bpf_ntohs(vh->tci) & VLAN_VID_MASK;
		*proto = vh->proto;
		*pos = vh + 1;
	}
	return 0;
}

/* l3_room: frame bytes from the IP header on; segs > 1 marks a GSO packet on egress, where
 * BIG TCP leaves tot_len 0 and the skb length is the only truth. */
static __always_inline int ps_parse_ipv4(void *pos, void *data_end, __u32 l3_room, __u32 segs,
					 struct ps_pkt *p, void **l4)
{
	struct iphdr *iph = pos;
	__u32 hlen, tot_len;
	__u16 frag_off;

	if ((void *)(iph + 1) > data_end)
		return -1;
	if (iph->version != 4 || iph->ihl < 5)
		return -1;
	hlen = iph->ihl * 4;
	if (pos + hlen > data_end)
		return -1;
	tot_len = bpf_ntohs(iph->tot_len);
	if (tot_len == 0 && segs > 1)
		tot_len = l3_room;
	if (tot_len < hlen || tot_len > l3_room)
		return -1;

	p->family = PS_AF_INET;
	p->proto = iph->protocol;
	p->ttl = iph->ttl;
	p->ip_id = bpf_ntohs(iph->id);
	p->src[0] = iph->saddr;
	p->dst[0] = iph->daddr;
	p->l4_len = tot_len - hlen;
	frag_off = bpf_ntohs(iph->frag_off);
	p->fragment = (frag_off & (IP_MF | IP_OFFSET)) != 0;
	p->later_frag = (frag_off & IP_OFFSET) != 0;
	*l4 = pos + hlen;
	return 0;
}

static __always_inline int ps_is_ipv6_ext(__u8 nexthdr)
{
	return nexthdr == PS_IPPROTO_HOPOPTS || nexthdr == PS_IPPROTO_ROUTING ||
	       nexthdr == PS_IPPROTO_DSTOPTS || nexthdr == PS_IPPROTO_AH ||
	       nexthdr == PS_IPPROTO_FRAGMENT;
}

/* Skips extension headers, noting any fragment header in frag and later_frag. Returns the bytes
 * skipped, or -1 if one is truncated. */
static __always_inline int ps_skip_ipv6_ext(void **pos, void *data_end, __u8 *nexthdr, int max,
					    __u8 *frag, __u8 *later_frag)
{
	int i, skipped = 0;

	for (i = 0; i < max; i++) {
		struct ps_ipv6_ext *ext = *pos;
		int len;

		if (!ps_is_ipv6_ext(*nexthdr))
			break;
		/* Every extension header is at least 8 bytes long. */
		if (*pos + 8 > data_end)
			return -1;
		if (*nexthdr == PS_IPPROTO_FRAGMENT) {
			len = 8;
			*frag = 1;
			*later_frag = (bpf_ntohs(ext->frag_off) & IP6_OFFSET) != 0;
		} else if (*nexthdr == PS_IPPROTO_AH) {
			len = (ext->hdrlen + 2) * 4;
		} else {
			len = (ext->hdrlen + 1) * 8;
		}
		*nexthdr = ext->nexthdr;
		*pos += len;
		skipped += len;
		if (*later_frag)
			break; /* what follows is the middle of the L4 payload */
	}
	return skipped;
}

static __always_inline int ps_parse_ipv6(void *pos, void *data_end, __u32 l3_room, __u32 segs,
					 struct ps_pkt *p, void **l4)
{
	struct ipv6hdr *ip6 = pos;
	__u32 payload_len;
	__u8 nexthdr;
	int ext_len;

	if ((void *)(ip6 + 1) > data_end)
		return -1;
	if (ip6->version != 6)
		return -1;
	payload_len = bpf_ntohs(ip6->payload_len);
	if (payload_len == 0 && segs > 1 && l3_room > sizeof(*ip6))
		payload_len = l3_room - sizeof(*ip6);
	if (payload_len + sizeof(*ip6) > l3_room)
		return -1;

	p->family = PS_AF_INET6;
	p->ttl = ip6->hop_limit;
	__builtin_memcpy(p->src, &ip6->saddr, 16);
	__builtin_memcpy(p->dst, &ip6->daddr, 16);

	nexthdr = ip6->nexthdr;
	pos = ip6 + 1;
	ext_len = ps_skip_ipv6_ext(&pos, data_end, &nexthdr, PS_MAX_IPV6_EXT, &p->fragment,
				   &p->later_frag);
	if (ext_len < 0)
		return -1;
	if ((__u32)ext_len > payload_len)
		return -1;
	/* Still inside the extension headers after the walk's limit: no L4 header to trust. */
	if (ps_is_ipv6_ext(nexthdr) && !p->later_frag)
		return -1;

	p->proto = nexthdr;
	p->l4_len = payload_len - ext_len;
	*l4 = pos;
	return 0;
}

static __always_inline int ps_icmp_is_echo(__u8 family, __u8 type)
{
	if (family == PS_AF_INET)
		return type == PS_ICMP_ECHO || type == PS_ICMP_ECHOREPLY;
	return type == PS_ICMPV6_ECHO_REQUEST || type == PS_ICMPV6_ECHO_REPLY;
}

/* Error messages quote the offending packet after the 8-byte ICMP header. */
static __always_inline int ps_icmp_is_error(__u8 family, __u8 type)
{
	if (family == PS_AF_INET)
		return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
	return type >= 1 && type <= 4;
}

/* Reads the packet an ICMP error quotes (at pos, quoted_len bytes of the message) into the
 * inner_* fields of k. Returns -1 if even the quoted IP header is cut short. */
static __always_inline int ps_parse_quoted(void *pos, void *data_end, __u32 quoted_len,
					   struct ps_icmp_key *k)
{
	__u32 hlen;
	__u8 proto, frag = 0, later_frag = 0;

	if (k->family == PS_AF_INET) {
		struct iphdr *iph = pos;

		if ((void *)(iph + 1) > data_end || sizeof(*iph) > quoted_len)
			return -1;
		if (iph->version != 4 || iph->ihl < 5)
			return -1;
		hlen = iph->ihl * 4;
		__builtin_memcpy(k->inner_src, &iph->saddr, 4);
		__builtin_memcpy(k->inner_dst, &iph->daddr, 4);
		proto = iph->protocol;
		later_frag = (bpf_ntohs(iph->frag_off) & IP_OFFSET) != 0;
		pos += hlen;
	} else {
		struct ipv6hdr *ip6 = pos;
		int ext_len;

		if ((void *)(ip6 + 1) > data_end || sizeof(*ip6) > quoted_len)
			return -1;
		if (ip6->version != 6)
			return -1;
		__builtin_memcpy(k->inner_src, &ip6->saddr, 16);
		__builtin_memcpy(k->inner_dst, &ip6->daddr, 16);
		proto = ip6->nexthdr;
		pos = ip6 + 1;
		/* A quote may end inside its extension headers: then report no protocol. */
		ext_len = ps_skip_ipv6_ext(&pos, data_end, &proto, PS_MAX_QUOTED_IPV6_EXT, &frag,
					   &later_frag);
		if (ext_len < 0 || ps_is_ipv6_ext(proto))
			return 0;
		hlen = sizeof(*ip6) + ext_len;
	}
	k->inner_proto = proto;
	if (later_frag)
		return 0;

	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		__be16 *ports = pos;

		if (pos + 4 > data_end || hlen + 4 > quoted_len)
			return 0;
		k->inner_sport = bpf_ntohs(ports[0]);
		k->inner_dport = bpf_ntohs(ports[1]);
	} else if ((proto == IPPROTO_ICMP && k->family == PS_AF_INET) ||
		   (proto == PS_IPPROTO_ICMPV6 && k->family == PS_AF_INET6)) {
		struct icmphdr *icmp = pos; /* ICMPv6 echo has the same layout */

		if ((void *)(icmp + 1) > data_end || hlen + sizeof(*icmp) > quoted_len)
			return 0;
		if (ps_icmp_is_echo(k->family, icmp->type)) {
			k->inner_sport = bpf_ntohs(icmp->un.echo.id);
			k->inner_dport = k->inner_sport;
		}
	}
	return 0;
}

#endif /* __CONNTRACK_KERN_H */
