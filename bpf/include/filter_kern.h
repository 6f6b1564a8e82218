/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The Guarder's classifier for conntrack.bpf.c (tables in filter_shared.h): one lookup per
 * constrained field, the vectors ANDed over the words where all are non-zero, the lowest set bit
 * wins. Expects the ps_filter_* maps to be defined before it is included. */
#ifndef __FILTER_KERN_H
#define __FILTER_KERN_H

/* Open-coded numeric iterators (kernel 6.4+); libbpf 1.1's headers predate bpf_for. */
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __weak __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __weak __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __weak __ksym;

/* for (i = start; i < end; i++) over an iterator; every loop ends with bpf_iter_num_destroy(&it). */
#define ps_for(it, i, start, end)                                                         \
	for (bpf_iter_num_new(&(it), (start), (end));                                      \
	     ({                                                                            \
		     int *___t = bpf_iter_num_next(&(it));                                 \
		     ___t && ((i) = *___t, 1);                                             \
	     });)

#define PS_FILTER_BLOCK 8 /* vector words per loop step; PS_FILTER_WORDS is a multiple */
#define PS_FF_MAX_POW2 16 /* PS_FF_MAX rounded up: a mask keeps the id array's index in bounds */
#define PS_BARRIER_VAR(v) asm volatile("" : "+r"(v))

#define PS_VERDICT_PASS 0
#define PS_VERDICT_DROP 1

/* The fields of one packet the rules look at (ports, flags, ICMP zero where they do not apply). */
struct ps_filter_pkt {
	__u64 now; /* the packet's bpf_ktime_get_ns(), for the hit counter */
	__u32 src[4];
	__u32 dst[4];
	__u32 inner_src[4];
	__u32 inner_dst[4];
	__u16 sport;
	__u16 dport;
	__u16 icmp; /* type << 8 | code */
	__u16 inner_sport;
	__u16 inner_dport;
	__u8 proto;
	__u8 tcp_flags;
	__u8 inner_proto;
	__u8 has_inner;
	__u8 v6;
	__u8 l4_unknown; /* a later fragment: no transport header */
	__u32 ids[PS_FF_MAX_POW2]; /* the classifier's vector per constrained field (here: off its stack) */
};

/* The running intersection: acc->w is valid in [*lo, *hi). */
struct ps_filter_and {
	__u32 lo;
	__u32 hi;
	__u32 first; /* the next vector starts the intersection */
	__u32 gen;
};

/* ANDs eight words of v into acc (the first vector is copied), within [lo, hi), noting the first
 * and last non-zero word of the result. */
static __always_inline void ps_filter_and_block(struct ps_filter_vec *acc, const struct ps_filter_vec *v,
						__u32 base, __u32 lo, __u32 hi, __u32 first,
						__u32 *nlo, __u32 *nhi)
{
	__u32 j;

#pragma unroll
	for (j = 0; j < PS_FILTER_BLOCK; j++) {
		__u32 k = base + j;
		__u64 w;

		PS_BARRIER_VAR(k);
		if (k < lo || k >= hi || k >= PS_FILTER_WORDS)
			continue;
		w = first ? v->w[k] : acc->w[k] & v->w[k];
		acc->w[k] = w;
		if (w) {
			if (*nlo == PS_FILTER_WORDS)
				*nlo = k;
			*nhi = k + 1;
		}
	}
}

/* ANDs vector id into the accumulator; returns 0 once the intersection is empty. Global (not
 * static) functions are verified once, not once per call site and caller state: without that the
 * bounded loops here blow the verifier's instruction budget. */
__noinline int ps_filter_and_vec(struct ps_filter_vec *acc, struct ps_filter_and *st, __u32 id)
{
	struct ps_filter_vec *v;
	struct bpf_iter_num it;
	__u32 key, lo, hi, nlo, nhi, first;
	int blk;

	if (!acc || !st || id == 0)
		return 0;
	if (id & PS_FILTER_SINGLE) {
		__u32 bit = id & ~PS_FILTER_SINGLE;
		__u64 word = bit / 64, mask = 1ULL << (bit & 63);

		PS_BARRIER_VAR(word);
		if (word >= PS_FILTER_WORDS || word < st->lo || word >= st->hi)
			return 0;
		if (!st->first && !(acc->w[word] & mask))
			return 0;
		acc->w[word] = mask;
		st->first = 0;
		st->lo = word;
		st->hi = word + 1;
		return 1;
	}
	if (id >= PS_FILTER_VECS_PER_GEN)
		return 0;
	key = (st->gen & 1) * PS_FILTER_VECS_PER_GEN + id;
	v = bpf_map_lookup_elem(&ps_filter_vecs, &key);
	if (!v)
		return 0;
	lo = st->lo > v->first ? st->lo : v->first;
	hi = st->hi < v->last ? st->hi : v->last;
	if (hi > PS_FILTER_WORDS)
		hi = PS_FILTER_WORDS;
	if (lo >= hi)
		return 0;
	first = st->first;
	st->first = 0;
	nlo = PS_FILTER_WORDS;
	nhi = 0;
	if (lo / PS_FILTER_BLOCK == (hi - 1) / PS_FILTER_BLOCK) {
		/* One block (sparse vectors, small rule sets): no loop at all. */
		ps_filter_and_block(acc, v, lo / PS_FILTER_BLOCK * PS_FILTER_BLOCK, lo, hi, first, &nlo, &nhi);
	} else {
		/* Open-coded iterator (the verifier checks the body until its state converges), eight
		 * words per step: a step is a kfunc call, too dear to pay for every word. */
		ps_for(it, blk, lo / PS_FILTER_BLOCK, (hi + PS_FILTER_BLOCK - 1) / PS_FILTER_BLOCK)
			ps_filter_and_block(acc, v, (__u32)blk * PS_FILTER_BLOCK, lo, hi, first, &nlo, &nhi);
		bpf_iter_num_destroy(&it);
	}
	if (nlo >= nhi)
		nlo = nhi = 0;
	lo = nlo;
	hi = nhi;
	st->lo = lo;
	st->hi = hi;
	return lo < hi;
}

/* The vector id of the longest prefix present among n lengths (longest first) of one address field
 * that is longer than floor bits; any when none is. addr: 16 bytes, network order. Inlined into each
 * caller (they know their pointers' bounds). */
static __always_inline __u32 ps_filter_prefix_vec(const __u32 *addr, const __u8 *lens, __u32 n, __u32 any,
						  __u32 gen, __u32 family, __u32 field, __u32 floor)
{
	struct ps_filter_addr_key key;
	struct ps_filter_mask *m;
	__u32 i, *id;

	__builtin_memset(&key, 0, sizeof(key));
	key.gen = gen & 1;
	key.family = family;
	key.field = field;
	for (i = 0; i < n && i < PS_FILTER_MAX_LENS; i++) {
		__u32 len = lens[i];

		if (len <= floor)
			break;
		/* Masks come from a table the loader fills: computing them here branches on the
		 * length, and the verifier then walks every branch of every iteration. */
		m = bpf_map_lookup_elem(&ps_filter_masks, &len);
		if (!m)
			return 0;
		key.len = len;
		key.addr32[0] = addr[0] & m->m[0];
		key.addr32[1] = addr[1] & m->m[1];
		key.addr32[2] = addr[2] & m->m[2];
		key.addr32[3] = addr[3] & m->m[3];
		id = bpf_map_lookup_elem(&ps_filter_addrs, &key);
		if (id)
			return *id;
	}
	return any;
}

/* The vector of the longest prefix present for address field (PS_FF_SRC..PS_FF_INNER_DST);
 * any_vec when none is. */
__noinline __u32 ps_filter_addr_vec(const struct ps_filter_gen *g, const struct ps_filter_pkt *fp,
				    __u32 gen, __u32 field)
{
	const __u32 *addr;
	const __u8 *lens;
	__u32 n, family, any;

	if (!g || !fp || field >= PS_FILTER_ADDR_FIELDS)
		return 0;
	family = fp->v6 ? 1 : 0;
	/* Constant indexes only: a variable one loses its bounds check to clang's reordering. */
	switch (field) {
	case PS_FF_SRC:
		addr = fp->src;
		n = g->nlens[family][PS_FF_SRC];
		lens = g->lens[family][PS_FF_SRC];
		any = g->any_vec[family][PS_FF_SRC];
		break;
	case PS_FF_DST:
		addr = fp->dst;
		n = g->nlens[family][PS_FF_DST];
		lens = g->lens[family][PS_FF_DST];
		any = g->any_vec[family][PS_FF_DST];
		break;
	case PS_FF_INNER_SRC:
		addr = fp->inner_src;
		n = g->nlens[family][PS_FF_INNER_SRC];
		lens = g->lens[family][PS_FF_INNER_SRC];
		any = g->any_vec[family][PS_FF_INNER_SRC];
		break;
	default:
		addr = fp->inner_dst;
		n = g->nlens[family][PS_FF_INNER_DST];
		lens = g->lens[family][PS_FF_INNER_DST];
		any = g->any_vec[family][PS_FF_INNER_DST];
	}
	return ps_filter_prefix_vec(addr, lens, n, any, gen, family, field, 0);
}

static __always_inline __u32 ps_filter_port_vec(__u32 gen, __u32 field, __u32 value)
{
	__u32 key = ((gen & 1) * PS_FILTER_PORT_FIELDS + (field - PS_FF_DPORT)) * PS_FILTER_PORT_KEYS +
		    (value & 0xffff);
	__u32 *id = bpf_map_lookup_elem(&ps_filter_ports, &key);

	return id ? *id : 0;
}

static __always_inline __u32 ps_filter_small_vec(__u32 gen, __u32 field, __u32 value)
{
	__u32 key = ((gen & 1) * PS_FILTER_SMALL_FIELDS + (field - PS_FF_PROTO)) * PS_FILTER_SMALL_KEYS +
		    (value & 0xff);
	__u32 *id = bpf_map_lookup_elem(&ps_filter_small, &key);

	return id ? *id : 0;
}

/* Lowest set bit of a non-zero word, without a ctz instruction. */
static __always_inline __u32 ps_filter_lowest_bit(__u64 w)
{
	__u32 n = 0;

	w &= -w;
	if (w & 0xffffffff00000000ULL)
		n += 32;
	if (w & 0xffff0000ffff0000ULL)
		n += 16;
	if (w & 0xff00ff00ff00ff00ULL)
		n += 8;
	if (w & 0xf0f0f0f0f0f0f0f0ULL)
		n += 4;
	if (w & 0xccccccccccccccccULL)
		n += 2;
	if (w & 0xaaaaaaaaaaaaaaaaULL)
		n += 1;
	return n;
}

static __always_inline void ps_filter_count_hit(__u32 slot, __u64 frame_len, __u64 now)
{
	struct ps_filter_hit *h = bpf_map_lookup_elem(&ps_filter_hits, &slot);

	if (!h)
		return;
	h->packets++;
	h->bytes += frame_len;
	h->last_hit_ns = now;
}

/* The match of rule i (the index in priority order) of generation gen: action << 16 | hit slot, its hit
 * counted; PS_FILTER_NONE when there is no such rule. */
static __always_inline __u32 ps_filter_rule_match(__u32 gen, __u32 i, __u64 frame_len, __u64 now)
{
	struct ps_filter_rule *rule;
	__u32 key;

	if (i >= PS_FILTER_MAX_RULES)
		return PS_FILTER_NONE;
	key = (gen & 1) * PS_FILTER_MAX_RULES + i;
	rule = bpf_map_lookup_elem(&ps_filter_rules, &key);
	if (!rule)
		return PS_FILTER_NONE;
	ps_filter_count_hit(rule->slot, frame_len, now);
	return (__u32)rule->action << 16 | rule->slot;
}

/* Collects a field's vector id; an empty vector (id 0) ends classification at once, a WINNER id
 * with its rule. */
#define PS_FILTER_STEP(id)                                \
	do {                                              \
		__u32 ___id = (id), ___k = n;             \
		if (___id == 0 || n >= PS_FF_MAX)         \
			return PS_VERDICT_PASS;           \
		if (___id & PS_FILTER_WINNER) {           \
			i = ___id & PS_FILTER_RULE_MASK;  \
			goto found;                       \
		}                                         \
		___k &= PS_FF_MAX_POW2 - 1;               \
		PS_BARRIER_VAR(___k);                     \
		ids[___k & (PS_FF_MAX_POW2 - 1)] = ___id; \
		n++;                                      \
	} while (0)

/* ANDs four vectors over one aligned block of eight words, stopping at the first non-zero word:
 * the index of the winning rule, or -1. */
static __always_inline int ps_filter_scan_block(const struct ps_filter_vec *a, const struct ps_filter_vec *b,
						const struct ps_filter_vec *c, const struct ps_filter_vec *d,
						__u32 base32)
{
	__u64 base = base32;
	__u32 j;

	/* Blocks are aligned and the vector a whole number of them: bounding the base bounds every
	 * word of the block. The barrier after the check makes clang address through the register
	 * the verifier saw checked, not a copy computed before it. */
	if (base > PS_FILTER_WORDS - PS_FILTER_BLOCK)
		return -1;
	PS_BARRIER_VAR(base);
#pragma unroll
	for (j = 0; j < PS_FILTER_BLOCK; j++) {
		__u32 k = base + j;
		__u64 w;

		/* No test against [lo, hi): outside it some vector is outside its own [first, last),
		 * where its words are zero, so the AND is zero there anyway. */
		w = a->w[k] & b->w[k] & c->w[k] & d->w[k];
		if (w)
			return k * 64 + ps_filter_lowest_bit(w);
	}
	return -1;
}

/* One pass over at most four vectors (most packets need no more), eight words per step. */
__noinline int ps_filter_scan(const struct ps_filter_vec *a, const struct ps_filter_vec *b,
			      const struct ps_filter_vec *c, const struct ps_filter_vec *d, __u32 range)
{
	struct bpf_iter_num it;
	__u32 lo = range & 0xffff, hi = range >> 16;
	int blk, found = -1;

	if (!a || !b || !c || !d || lo >= hi)
		return -1;
	if (lo / PS_FILTER_BLOCK == (hi - 1) / PS_FILTER_BLOCK)
		return ps_filter_scan_block(a, b, c, d, lo / PS_FILTER_BLOCK * PS_FILTER_BLOCK);
	ps_for(it, blk, lo / PS_FILTER_BLOCK, (hi + PS_FILTER_BLOCK - 1) / PS_FILTER_BLOCK) {
		found = ps_filter_scan_block(a, b, c, d, (__u32)blk * PS_FILTER_BLOCK);
		if (found >= 0)
			break;
	}
	bpf_iter_num_destroy(&it);
	return found;
}

static __always_inline const struct ps_filter_vec *ps_filter_vec_of(__u32 gen, __u32 id)
{
	__u32 key = (gen & 1) * PS_FILTER_VECS_PER_GEN + id;

	if (id == 0 || id >= PS_FILTER_VECS_PER_GEN)
		return NULL;
	return bpf_map_lookup_elem(&ps_filter_vecs, &key);
}

/* Whether vector id holds rule bit. */
static __always_inline int ps_filter_has_bit(__u32 gen, __u32 id, __u32 bit)
{
	const struct ps_filter_vec *v;
	__u64 word = bit / 64;

	if (id & PS_FILTER_SINGLE)
		return (id & ~PS_FILTER_SINGLE) == bit;
	v = ps_filter_vec_of(gen, id);
	/* The barrier keeps clang from dropping the check (it knows bit < MAX_RULES from the caller)
	 * and indexing through a copy the verifier never saw bounded. */
	PS_BARRIER_VAR(word);
	if (!v || word >= PS_FILTER_WORDS)
		return 0;
	return (v->w[word] >> (bit & 63)) & 1;
}

static __always_inline void ps_filter_narrow(const struct ps_filter_vec *v, __u32 *lo, __u32 *hi)
{
	if (v->first > *lo)
		*lo = v->first;
	if (v->last < *hi)
		*hi = v->last;
}

/* The active generation's header, and its number in *gen; NULL before the loader's first flip. */
static __always_inline struct ps_filter_gen *ps_filter_active(__u32 *gen)
{
	struct ps_filter_active *active;
	__u32 zero = 0;

	active = bpf_map_lookup_elem(&ps_filter_active_gen, &zero);
	if (!active)
		return NULL;
	*gen = active->gen & 1;
	return bpf_map_lookup_elem(&ps_filter_gens, gen);
}

/* The verdict of the active rule set for one packet; counts the winning rule's hit. *match: the
 * result (action << 16 | hit slot), PS_FILTER_NONE when no rule matched. */
__noinline int ps_filter_classify(struct ps_filter_pkt *fp, __u64 frame_len, __u32 *match)
{
	const struct ps_filter_vec *va, *vb, *vc, *vd;
	struct ps_filter_and st = {};
	struct ps_filter_vec *acc;
	struct ps_filter_gen *g;
	__u32 *ids;
	__u32 zero = 0, gen, fields, lo, hi, n = 0, k;
	int i;

	if (!fp || !match)
		return PS_VERDICT_PASS;
	*match = PS_FILTER_NONE;
	ids = fp->ids; /* zeroed with the packet's fields */
	g = ps_filter_active(&gen);
	if (!g || g->rules == 0)
		return PS_VERDICT_PASS;
	fields = g->fields;

	/* Addresses first: they are the most selective and end most misses after one lookup. */
	if (fields & (1 << PS_FF_SRC))
		PS_FILTER_STEP(ps_filter_addr_vec(g, fp, gen, PS_FF_SRC));
	if (fields & (1 << PS_FF_DST))
		PS_FILTER_STEP(ps_filter_addr_vec(g, fp, gen, PS_FF_DST));
	if (fp->l4_unknown) {
		/* As iptables: rules on ports, flags or ICMP fields never match a later fragment. */
		if (fields & (1 << PS_FF_PROTO))
			PS_FILTER_STEP(ps_filter_small_vec(gen, PS_FF_PROTO, fp->proto));
		if (fields & (1 << PS_FF_NO_L4))
			PS_FILTER_STEP(g->no_l4_vec);
		goto done;
	}
	if (fields & (1 << PS_FF_DPORT))
		PS_FILTER_STEP(ps_filter_port_vec(gen, PS_FF_DPORT, fp->dport));
	if (fields & (1 << PS_FF_SPORT))
		PS_FILTER_STEP(ps_filter_port_vec(gen, PS_FF_SPORT, fp->sport));
	if (fields & (1 << PS_FF_PROTO))
		PS_FILTER_STEP(ps_filter_small_vec(gen, PS_FF_PROTO, fp->proto));
	if (fields & (1 << PS_FF_TCP_FLAGS))
		PS_FILTER_STEP(ps_filter_small_vec(gen, PS_FF_TCP_FLAGS, fp->tcp_flags));
	if (fields & (1 << PS_FF_ICMP))
		PS_FILTER_STEP(ps_filter_port_vec(gen, PS_FF_ICMP, fp->icmp));
	if (fp->has_inner) {
		if (fields & (1 << PS_FF_INNER_SRC))
			PS_FILTER_STEP(ps_filter_addr_vec(g, fp, gen, PS_FF_INNER_SRC));
		if (fields & (1 << PS_FF_INNER_DST))
			PS_FILTER_STEP(ps_filter_addr_vec(g, fp, gen, PS_FF_INNER_DST));
		if (fields & (1 << PS_FF_INNER_PROTO))
			PS_FILTER_STEP(ps_filter_small_vec(gen, PS_FF_INNER_PROTO, fp->inner_proto));
		if (fields & (1 << PS_FF_INNER_SPORT))
			PS_FILTER_STEP(ps_filter_port_vec(gen, PS_FF_INNER_SPORT, fp->inner_sport));
		if (fields & (1 << PS_FF_INNER_DPORT))
			PS_FILTER_STEP(ps_filter_port_vec(gen, PS_FF_INNER_DPORT, fp->inner_dport));
	} else if (fields & (1 << PS_FF_NO_INNER)) {
		PS_FILTER_STEP(g->no_inner_vec);
	}
done:
	lo = 0;
	hi = g->words < PS_FILTER_WORDS ? g->words : PS_FILTER_WORDS;
	if (n == 0) {
		/* No field constrained at all (rules that match everything): the first rule wins. */
		i = 0;
	} else if (n <= 4 && ((ids[0] | ids[1] | ids[2] | ids[3]) & PS_FILTER_SINGLE)) {
		/* A one-rule vector among them: that rule wins if every other vector holds it. */
		i = -1;
		if (ids[0] & PS_FILTER_SINGLE)
			i = ids[0] & ~PS_FILTER_SINGLE;
		else if (ids[1] & PS_FILTER_SINGLE)
			i = ids[1] & ~PS_FILTER_SINGLE;
		else if (ids[2] & PS_FILTER_SINGLE)
			i = ids[2] & ~PS_FILTER_SINGLE;
		else if (ids[3] & PS_FILTER_SINGLE)
			i = ids[3] & ~PS_FILTER_SINGLE;
		if (i < 0 || i >= PS_FILTER_MAX_RULES)
			return PS_VERDICT_PASS;
		if (!ps_filter_has_bit(gen, ids[0], i) || (n > 1 && !ps_filter_has_bit(gen, ids[1], i)) ||
		    (n > 2 && !ps_filter_has_bit(gen, ids[2], i)) || (n > 3 && !ps_filter_has_bit(gen, ids[3], i)))
			return PS_VERDICT_PASS;
	} else if (n <= 4) {
		/* One pass over at most four vectors; a missing one repeats the first. */
		va = ps_filter_vec_of(gen, ids[0]);
		if (!va)
			return PS_VERDICT_PASS;
		vb = n > 1 ? ps_filter_vec_of(gen, ids[1]) : va;
		vc = n > 2 ? ps_filter_vec_of(gen, ids[2]) : va;
		vd = n > 3 ? ps_filter_vec_of(gen, ids[3]) : va;
		if (!vb || !vc || !vd)
			return PS_VERDICT_PASS;
		ps_filter_narrow(va, &lo, &hi);
		ps_filter_narrow(vb, &lo, &hi);
		ps_filter_narrow(vc, &lo, &hi);
		ps_filter_narrow(vd, &lo, &hi);
		if (lo >= hi)
			return PS_VERDICT_PASS;
		i = ps_filter_scan(va, vb, vc, vd, lo | hi << 16);
	} else {
		/* More fields (ICMP errors against rules on inner fields, many-field rules): AND them one by one. */
		acc = bpf_map_lookup_elem(&ps_filter_scratch, &zero);
		if (!acc)
			return PS_VERDICT_PASS;
		st.gen = gen;
		st.lo = lo;
		st.hi = hi;
		st.first = 1;
		for (k = 0; k < n && k < PS_FF_MAX; k++) {
			__u32 idx = k & (PS_FF_MAX_POW2 - 1);

			PS_BARRIER_VAR(idx);
			if (!ps_filter_and_vec(acc, &st, ids[idx & (PS_FF_MAX_POW2 - 1)]))
				return PS_VERDICT_PASS;
		}
		k = st.lo;
		if (k >= PS_FILTER_WORDS || acc->w[k] == 0)
			return PS_VERDICT_PASS;
		i = k * 64 + ps_filter_lowest_bit(acc->w[k]);
	}
found:
	if (i < 0 || i >= PS_FILTER_MAX_RULES)
		return PS_VERDICT_PASS;
	*match = ps_filter_rule_match(gen, i, frame_len, fp->now);
	return *match != PS_FILTER_NONE && *match >> 16 == PS_FILTER_DROP ? PS_VERDICT_DROP : PS_VERDICT_PASS;
}

/* Whether any rule is loaded: then what the parser cannot read (a first fragment too short for its
 * transport header, an IPv6 extension chain longer than we walk) is dropped rather than let past
 * rules it might have matched (RFC 1858's tiny fragments). */
static __always_inline int ps_filter_rules_loaded(void)
{
	struct ps_filter_gen *g;
	__u32 gen;

	g = ps_filter_active(&gen);
	return g && g->rules > 0;
}

#endif /* __FILTER_KERN_H */
