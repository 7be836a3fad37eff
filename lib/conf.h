/*
 * conf.h — redsink.conf: the module's own configuration file.
 *
 * Unbound gives a dynlib module no options, so the module reads redsink.conf
 * (path from $REDSINK_CONF, else "redsink.conf" in Unbound's directory:).
 * Format: one "directive: value" per line, '#' starts a comment, a value may be
 * put in double quotes (needed to keep leading/trailing spaces or a '#').
 * The directives are rows of one table in conf.c (name, type, storage,
 * default, limits, help); doc/configuration.md documents every row.
 *
 * Ownership: rs_conf_load fills a struct rs_conf that owns all its strings;
 * rs_conf_free releases them. A struct rs_conf is immutable once loaded and may
 * be read by any thread.
 */
#ifndef RS_CONF_H
#define RS_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sign.h"

#define RS_CONF_ERRLEN 512

/* Which node a Sentinel endpoint asks for (lib/sentinel.h). */
enum rs_role { RS_ROLE_DEFAULT = 0, RS_ROLE_PRIMARY = 1, RS_ROLE_REPLICA = 2 };

/* One sentinel of a Sentinel endpoint. */
struct rs_sentinel_addr {
	char *host;
	int port;
};

/*
 * A Redis endpoint: TCP "host:port", "unix:/path", or through Sentinel
 * "sentinel:h1:p1,h2:p2/name" (nsentinels > 0; host and unix_path are then
 * NULL and the node is discovered at every connect, lib/sentinel.h).
 */
struct rs_endpoint {
	char *addr;      /* as written, for messages */
	char *host;      /* TCP host, or NULL for a unix socket or Sentinel */
	int port;        /* TCP port */
	char *unix_path; /* unix socket path, or NULL */
	int db;          /* SELECT index */
	char *user;      /* ACL user, or NULL */
	char *password;  /* read from the password file, or NULL */
	char *password_file;
	/* Sentinel form only */
	struct rs_sentinel_addr *sentinels; /* in the order written */
	size_t nsentinels;
	char *master_name;            /* the name the sentinels monitor */
	int role;                     /* enum rs_role */
	char *sentinel_user;          /* ACL user towards the sentinels, or NULL */
	char *sentinel_password;      /* password towards the sentinels, or NULL */
	char *sentinel_password_file;
};

enum rs_ede_format { RS_EDE_JSON = 0, RS_EDE_TEXT = 1, RS_EDE_OFF = 2 };
/* Who gets the structured error JSON (ede-json-clients). */
enum rs_ede_clients { RS_EDE_CLIENTS_ALL = 0, RS_EDE_CLIENTS_SDE = 1 };
/* What a prefix over collateral-threshold gets (collateral-action). */
enum rs_collateral_action { RS_COLLATERAL_REPORT = 0, RS_COLLATERAL_SUSPEND = 1 };

struct rs_conf {
	char *path;                /* the file this came from */
	struct rs_endpoint read;   /* where the list is read (a replica) */
	struct rs_endpoint write;  /* heartbeats, hits (the primary); defaults to read */
	char *prefix;              /* key prefix, default "redsink:" */
	int redis_timeout_ms;      /* connect and command timeout */
	char *resolver_name;       /* this resolver's name in resolver:<name> */
	char *jurisdiction;        /* ISO 3166-1 alpha-2 (uppercase), or NULL */
	bool have_sinkhole4, have_sinkhole6;
	uint8_t sinkhole4[4];
	uint8_t sinkhole6[16];
	int ttl;                   /* TTL of synthesised answers */
	char *txt_text;            /* template of the TXT answer */
	int ede_format;            /* enum rs_ede_format */
	char *ede_text;            /* template of the EDE text when ede-format: text */
	int ede_json_clients;      /* enum rs_ede_clients */
	int sde_option_code;       /* EDNS option code of the SDE option (sde-option mode) */
	char **contacts;           /* URIs for the structured error's "c" */
	size_t ncontacts;
	char *language;            /* default language tag */
	char *snapshot_file;       /* the list persisted on disk, or NULL */
	char *geoip_database;      /* MaxMind-format database, or NULL (regions: ZZ) */
	char *geoip_country_field; /* lookup path, e.g. "country.iso_code" */
	char *geoip_subdivision_field; /* e.g. "subdivisions.0.iso_code", or NULL */
	int stats_flush_interval;  /* seconds between hit flushes */
	int stats_retention;       /* days the hits:<hour> keys are kept */
	int stats_max_pending;     /* distinct pending counters kept while Redis is away */
	struct rs_endpoint metrics; /* Prometheus listen address (host, port), or unset */
	int collateral_threshold;  /* distinct names per address prefix per UTC hour that raise the alarm; 0 = off */
	int collateral_action;     /* enum rs_collateral_action */
	/* signed orders (issue 14, doc/signing.md) */
	struct rs_pubkey *trusted_keys; /* trusted-key: the authorities' keys (label set), in the order written */
	size_t ntrusted;
	char (*revoked_keys)[RS_KEYID_LEN + 1]; /* revoked-key: key ids never accepted, even when trusted */
	size_t nrevoked;
	int require_signatures;    /* 1: enforce only what a trusted, unrevoked key signed (doc/signing.md) */
};

/* The trusted key with key id id, or NULL (unknown). *revoked: it is listed
 * by revoked-key (a revoked key id need not be trusted: *revoked is set
 * whenever the id is revoked, and NULL is returned then). */
const struct rs_pubkey *rs_conf_key(const struct rs_conf *c, const char *id, bool *revoked);
/* The same for a key trusted to sign the protected set (protect-key). */
const struct rs_pubkey *rs_conf_protect_key(const struct rs_conf *c, const char *id, bool *revoked);

/*
 * Load and validate the file at path into *c (zeroed first). On error returns
 * RS_ECONF (or RS_ENOMEM) and writes "FILE:LINE: message" (or "FILE: message")
 * to err; *c is then left empty (nothing to free, but rs_conf_free is safe).
 */
int rs_conf_load(const char *path, struct rs_conf *c, char err[RS_CONF_ERRLEN]);

/* Free everything *c owns and zero it. */
void rs_conf_free(struct rs_conf *c);

#endif
