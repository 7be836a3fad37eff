/*
 * ctl_ip.h — address prefixes in orders (issue 13): the commands addip,
 * delip, protect-ip, unprotect-ip, ip list and ticket import, and the prefix
 * half of a push of a whole Piracy-Shield ticket (push --format
 * piracy-shield), which ctl_cmd_write.c drives through struct ctl_ipset.
 *
 * Keys (doc/redis-schema.md): order:<id>:ips (the order's prefixes: the
 * commands write canonical CIDR text, but a member written otherwise, say
 * with redis-cli, that rs_prefix_parse reads is enforced by the resolvers,
 * so the commands read members the same way: shown, guarded against,
 * matched by value and removed by its stored text) and protected-ips; stream ops addip / delip (order, prefix) and
 * protectip / unprotectip (prefix), with by, why and, when a guard was
 * overridden, override ("protected-ip", "short-prefix" or both, comma
 * separated). Every change is one MULTI/EXEC with its stream entries, under
 * a WATCH of what was read, like the name commands.
 *
 * Guards (ctl_safety.h): a prefix overlapping a protected prefix, or shorter
 * than /24 (IPv4) or /48 (IPv6), is refused (exit 3) unless --override with
 * a reason (--why), which the entries record.
 */
#ifndef CTL_IP_H
#define CTL_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctl.h"
#include "ctl_input.h"
#include "ctl_safety.h"

#define CTL_IP_OVR_PROT 0x1  /* overlaps a protected prefix */
#define CTL_IP_OVR_SHORT 0x2 /* shorter than /24 or /48 */

enum ctl_ip_state { CTL_IP_NEW = 0, CTL_IP_PRESENT, CTL_IP_REFUSED };

/* The prefixes of one batch and what a change does with each. */
struct ctl_ipset {
	const struct ctl_batch *b; /* the prefixes: b->pitems[0..b->np) */
	bool del;                  /* delip / withdraw: no guards */
	bool override;             /* --override given (with a reason) */
	char kset[CTL_KEY_MAX];    /* order:<id>:ips */
	char kprot[CTL_KEY_MAX];   /* protected-ips */
	struct ctl_pprot prot;
	uint8_t *st;   /* per prefix: enum ctl_ip_state */
	uint8_t *why;  /* per prefix: CTL_IP_OVR_* (refused for these, or overridden) */
	long *hit;     /* per prefix: the protected prefix it overlaps, or -1 */
	size_t nnew, npresent, nrefused, novr;
	size_t nsets;  /* set commands queued by ctl_ip_queue */
	/* members of the set holding a prefix of the batch in another text
	 * ("198.51.100.9" for 198.51.100.9/32): mem[alt_mem[k]] holds pitems[alt_of[k]] */
	char **mem;    /* the set's members (ctl_ip_classify) */
	size_t nmem, nalt;
	size_t *alt_mem, *alt_of;
};

/* The prefixes of Redis set key (order:<id>:ips, protected-ips) as the
 * resolvers read them (rs_prefix_parse), added to pp (parsed, with their
 * canonical text), each prefix once: a member in another text than the
 * canonical one ("198.51.100.9", "2001:DB8:5::/48") is included with a
 * warning naming its stored text (the resolvers enforce it); a member that is
 * no prefix is skipped with a warning (so do the resolvers). 0 or the exit
 * code (printed). */
int ctl_ip_load_set(struct ctl *x, const char *key, struct ctl_pprot *pp);

/* Set up s for the prefixes of b and order (the keys). */
void ctl_ip_init(struct ctl *x, struct ctl_ipset *s, const struct ctl_batch *b, const char *order, bool del,
		 bool override);
void ctl_ip_free(struct ctl_ipset *s);
/* WATCH the order's prefix set and the protected prefixes. 0 or the exit code. */
int ctl_ip_watch(struct ctl *x, struct ctl_ipset *s);
/* Read the protected prefixes, check the guards and which prefixes the set
 * holds, by value (a member in another text counts, and delip removes that
 * text too). 0 or the exit code (printed). */
int ctl_ip_classify(struct ctl *x, struct ctl_ipset *s);
/* The refusals ("FILE:LINE: refused: ...") to f after pre; with dry, the
 * diff lines (+ / - / =) to stdout too. */
void ctl_ip_print(const struct ctl_ipset *s, bool dry, FILE *f, const char *pre);
/* Queue the set change and one stream entry per new prefix (op addip/delip). */
void ctl_ip_queue(struct ctl *x, struct ctl_tx *t, struct ctl_ipset *s, const char *order, const char *why,
		  bool *first);
/* validate / push --dry-run --offline: each prefix ("+", or "!" when shorter
 * than /24 or /48 and not allowed), and a summary line; nothing with json
 * (the offline report has no prefixes yet). Returns the number refused. */
size_t ctl_ip_offline(const struct ctl_ipset *s, bool allow_short, bool json);
/* "prefixes":[{...}] members of a JSON receipt (with a leading comma). */
void ctl_ip_json(const struct ctl_ipset *s, FILE *f);

int cmd_addip(struct ctl *x, int argc, char **argv);
int cmd_delip(struct ctl *x, int argc, char **argv);
int cmd_protect_ip(struct ctl *x, int argc, char **argv);
int cmd_unprotect_ip(struct ctl *x, int argc, char **argv);
int cmd_confirm_ip(struct ctl *x, int argc, char **argv);
int cmd_unconfirm_ip(struct ctl *x, int argc, char **argv);
int cmd_ip(struct ctl *x, int argc, char **argv);
int cmd_ticket(struct ctl *x, int argc, char **argv);

#endif
