/*
 * answer.c — blocked answers (see answer.h). Unbound glue: needs the
 * configured Unbound tree's config.h first.
 */
#include "config.h"

#include "answer.h"

#include <string.h>

#include "services/cache/dns.h"
#include "services/mesh.h"
#include "sldns/rrdef.h"
#include "sldns/sbuffer.h"
#include "util/data/msgreply.h"
#include "util/data/packed_rrset.h"
#include "util/module.h"
#include "util/net_help.h"
#include "util/netevent.h"
#include "util/regional.h"

#include "conf.h"
#include "order.h"
#include "rs_err.h"

/* The SOA of NODATA / NXDOMAIN answers: redsink.invalid. hostmaster.redsink.invalid. */
static const uint8_t soa_mname[] = "\007redsink\007invalid";
static const uint8_t soa_rname[] = "\012hostmaster\007redsink\007invalid";

/* A one-RR rrset in the packed layout (rr_len[], rr_data[], rr_ttl[], rdata)
 * that Unbound's encoder and copy helpers expect. rdata without its length. */
static struct ub_packed_rrset_key *rrset_new(struct regional *r, const uint8_t *owner, size_t owner_len,
					     uint16_t type, time_t ttl, const uint8_t *rdata, size_t rdlen)
{
	struct ub_packed_rrset_key *k = regional_alloc_zero(r, sizeof(*k));
	size_t size = sizeof(struct packed_rrset_data) + sizeof(size_t) + sizeof(uint8_t *) + sizeof(time_t) + 2 + rdlen;
	struct packed_rrset_data *d = regional_alloc_zero(r, size);

	if (!k || !d)
		return NULL;
	k->rk.dname = regional_alloc_init(r, owner, owner_len);
	if (!k->rk.dname)
		return NULL;
	k->rk.dname_len = owner_len;
	k->rk.type = htons(type);
	k->rk.rrset_class = htons(LDNS_RR_CLASS_IN);
	k->entry.key = k;
	k->entry.data = d;
	d->ttl = ttl;
	d->count = 1;
	d->trust = rrset_trust_prim_noglue;
	d->security = sec_status_insecure;
	d->rr_len = (size_t *)((uint8_t *)d + sizeof(*d));
	d->rr_data = (uint8_t **)&d->rr_len[1];
	d->rr_ttl = (time_t *)&d->rr_data[1];
	d->rr_data[0] = (uint8_t *)&d->rr_ttl[1];
	d->rr_len[0] = 2 + rdlen;
	d->rr_ttl[0] = ttl;
	sldns_write_uint16(d->rr_data[0], (uint16_t)rdlen);
	memcpy(d->rr_data[0] + 2, rdata, rdlen);
	return k;
}

static struct ub_packed_rrset_key *soa_new(struct regional *r, const uint8_t *zone, size_t zone_len, time_t ttl)
{
	uint8_t rd[sizeof(soa_mname) + sizeof(soa_rname) + 20], *p = rd;

	memcpy(p, soa_mname, sizeof(soa_mname)); /* the string's NUL is the root label */
	p += sizeof(soa_mname);
	memcpy(p, soa_rname, sizeof(soa_rname));
	p += sizeof(soa_rname);
	sldns_write_uint32(p, 1);          /* serial */
	sldns_write_uint32(p + 4, 3600);   /* refresh */
	sldns_write_uint32(p + 8, 600);    /* retry */
	sldns_write_uint32(p + 12, 86400); /* expire */
	sldns_write_uint32(p + 16, (uint32_t)ttl); /* negative-caching TTL */
	p += 20;
	return rrset_new(r, zone, zone_len, LDNS_RR_TYPE_SOA, ttl, rd, (size_t)(p - rd));
}

/* TXT rdata: the text cut into character-strings of at most 255 octets. */
static size_t txt_rdata(const char *s, size_t n, uint8_t *out)
{
	size_t o = 0;

	do {
		size_t k = n > 255 ? 255 : n;
		out[o++] = (uint8_t)k;
		memcpy(out + o, s, k);
		o += k;
		s += k;
		n -= k;
	} while (n > 0);
	return o;
}

/* Octets of the EDNS options in list (code, length, data each). */
static size_t opts_size(const struct edns_option *o)
{
	size_t n = 0;

	for (; o; o = o->next)
		n += 4 + o->opt_len;
	return n;
}

/* Upper bound of the encoded size of the RRs of rep (no name compression). */
size_t rs_answer_rrs_size(const struct reply_info *rep)
{
	size_t n = 0;

	for (size_t i = 0; i < rep->rrset_count; i++) {
		const struct ub_packed_rrset_key *k = rep->rrsets[i];
		const struct packed_rrset_data *d = k->entry.data;
		for (size_t j = 0; j < d->count; j++)
			n += k->rk.dname_len + 8 + d->rr_len[j]; /* rr_len includes RDLENGTH */
	}
	return n;
}

#define EDE_OPTS_MARGIN 32

const char *rs_answer_ede_text(const struct rs_conf *c, const struct rs_order *o, size_t qname_len, size_t body,
			       size_t opts, size_t udp, bool sde)
{
	const struct rs_ede *e = &o->ede;
	size_t head = LDNS_HEADER_SIZE + qname_len + 4;
	size_t fixed = head + 11 + opts + 6; /* OPT RR, the other options, the EDE code */
	unsigned v;

	if (c->ede_format == RS_EDE_JSON && c->ede_json_clients == RS_EDE_CLIENTS_SDE && !sde)
		e = &o->ede_plain;
	if (e->n == 0)
		return NULL;
	/* + a margin for options a module in front of this one may still add
	 * (subnetcache appends ECS, up to 24 octets, at its moddone) */
	fixed += EDE_OPTS_MARGIN;
	if (udp >= fixed + body) {
		v = rs_ede_pick(e, udp - fixed - body);
	} else {
		/* The answer itself does not fit: Unbound sends it truncated
		 * (TC, question and OPT only); the text must fit beside those. */
		v = rs_ede_pick(e, udp > fixed ? udp - fixed : 0);
	}
	return e->text[v];
}

/*
 * The EDE text for the clients waiting on this query (see answer.h): the
 * smallest EDNS buffer among them decides the variant, the SDE option (when
 * ede-json-clients: sde-option) whether the JSON or the plain text is sent.
 * Returns the text, or NULL for no EDE.
 */
static const char *ede_for_clients(struct module_qstate *qs, const struct rs_conf *c, const struct rs_order *o,
				   const struct reply_info *rep)
{
	size_t udp = 65535, client_opts = 0;
	bool any = false, all_sde = true;

	if (qs->mesh_info) {
		for (struct mesh_reply *r = qs->mesh_info->reply_list; r; r = r->next) {
			size_t u, co;
			if (!r->edns.edns_present)
				continue; /* no OPT in its reply whatever we do */
			any = true;
			u = r->query_reply.c && r->query_reply.c->type != comm_udp ? 65535 : r->edns.udp_size;
			if (u < udp)
				udp = u;
			co = opts_size(r->edns.opt_list_out);
			if (co > client_opts)
				client_opts = co;
			if (!edns_opt_list_find(r->edns.opt_list_in, (uint16_t)c->sde_option_code))
				all_sde = false;
		}
	}
	return rs_answer_ede_text(c, o, qs->qinfo.qname_len, rs_answer_rrs_size(rep),
				  opts_size(qs->edns_opts_front_out) + client_opts, udp, any && all_sde);
}

int rs_answer_blocked(struct module_qstate *qstate, const struct rs_conf *c, const struct rs_order *o,
		      const uint8_t *zone, size_t zone_len)
{
	struct regional *r = qstate->region;
	struct query_info *qi = &qstate->qinfo;
	struct ub_packed_rrset_key *an = NULL, *ns = NULL;
	time_t ttl = c->ttl;
	uint16_t flags = BIT_QR | BIT_RA;
	struct reply_info *rep;
	struct dns_msg *msg;
	const char *ede;
	int action = o->action;

	/* Classes other than IN and ANY: REFUSED (doc/architecture.md, "A query"). */
	if (qi->qclass != LDNS_RR_CLASS_IN && qi->qclass != LDNS_RR_CLASS_ANY)
		action = RS_ACT_REFUSED;
	switch (action) {
	case RS_ACT_SINKHOLE:
		if (qi->qtype == LDNS_RR_TYPE_A && c->have_sinkhole4) {
			an = rrset_new(r, qi->qname, qi->qname_len, LDNS_RR_TYPE_A, ttl, c->sinkhole4, 4);
		} else if (qi->qtype == LDNS_RR_TYPE_AAAA && c->have_sinkhole6) {
			an = rrset_new(r, qi->qname, qi->qname_len, LDNS_RR_TYPE_AAAA, ttl, c->sinkhole6, 16);
		} else if (qi->qtype == LDNS_RR_TYPE_TXT) {
			uint8_t rd[4 * 256];
			size_t n = txt_rdata(o->txt, o->txt_len, rd);
			an = rrset_new(r, qi->qname, qi->qname_len, LDNS_RR_TYPE_TXT, ttl, rd, n);
		} else {
			ns = soa_new(r, zone, zone_len, ttl);
		}
		if (!an && !ns)
			return RS_ENOMEM;
		break;
	case RS_ACT_NXDOMAIN:
		FLAGS_SET_RCODE(flags, LDNS_RCODE_NXDOMAIN);
		if (!(ns = soa_new(r, zone, zone_len, ttl)))
			return RS_ENOMEM;
		break;
	case RS_ACT_NODATA:
		if (!(ns = soa_new(r, zone, zone_len, ttl)))
			return RS_ENOMEM;
		break;
	case RS_ACT_REFUSED:
	default:
		FLAGS_SET_RCODE(flags, LDNS_RCODE_REFUSED);
		break;
	}
	rep = construct_reply_info_base(r, flags, 1, ttl, ttl, 0, an ? 1 : 0, ns ? 1 : 0, 0,
					(an ? 1 : 0) + (ns ? 1 : 0), sec_status_insecure);
	msg = regional_alloc(r, sizeof(*msg));
	if (!rep || !msg)
		return RS_ENOMEM;
	rep->reason_bogus = LDNS_EDE_NONE;
	if (an)
		rep->rrsets[0] = an;
	if (ns)
		rep->rrsets[an ? 1 : 0] = ns;
	msg->qinfo = *qi;
	msg->rep = rep;
	ede = ede_for_clients(qstate, c, o, rep);
	if (ede && !edns_opt_list_append_ede(&qstate->edns_opts_front_out, r, LDNS_EDE_CENSORED, ede))
		return RS_ENOMEM;
	qstate->return_msg = msg;
	qstate->return_rcode = LDNS_RCODE_NOERROR;
	return 0;
}
