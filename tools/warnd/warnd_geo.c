/* warnd_geo.c — country and region of a client address (see warnd_geo.h). */
#include "warnd_geo.h"

#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_err.h"

struct wd_geo {
	MMDB_s db;
};

int wd_geo_open(const char *path, struct wd_geo **out, char *err, size_t errlen)
{
	struct wd_geo *g = calloc(1, sizeof(*g));
	int rc;

	*out = NULL;
	if (!g) {
		snprintf(err, errlen, "out of memory");
		return RS_ENOMEM;
	}
	rc = MMDB_open(path, MMDB_MODE_MMAP, &g->db);
	if (rc != MMDB_SUCCESS) {
		snprintf(err, errlen, "GeoIP database %s: %s", path, MMDB_strerror(rc));
		free(g);
		return RS_ECONF;
	}
	*out = g;
	return 0;
}

void wd_geo_close(struct wd_geo *g)
{
	if (!g)
		return;
	MMDB_close(&g->db);
	free(g);
}

/* A short UTF-8 string at path in the entry, into out (outsz octets); "" otherwise. */
static void get_string(MMDB_entry_s *e, char *out, size_t outsz, const char *const *path)
{
	MMDB_entry_data_s d;

	out[0] = '\0';
	if (MMDB_aget_value(e, &d, path) != MMDB_SUCCESS || !d.has_data || d.type != MMDB_DATA_TYPE_UTF8_STRING ||
	    d.data_size >= outsz)
		return;
	memcpy(out, d.utf8_string, d.data_size);
	out[d.data_size] = '\0';
}

void wd_geo_lookup(const struct wd_geo *g, const struct sockaddr *sa, char country[3], char region[WD_REGION_MAX])
{
	static const char *const cc_path[] = { "country", "iso_code", NULL };
	static const char *const sub_path[] = { "subdivisions", "0", "iso_code", NULL };
	struct sockaddr_in v4;
	MMDB_lookup_result_s res;
	char cc[8], sub[16];
	int mmerr;

	country[0] = '\0';
	strcpy(region, "ZZ");
	if (!g || !sa)
		return;
	if (sa->sa_family == AF_INET6) {
		/* a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d */
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			memset(&v4, 0, sizeof(v4));
			v4.sin_family = AF_INET;
			memcpy(&v4.sin_addr, &s6->sin6_addr.s6_addr[12], 4);
			sa = (const struct sockaddr *)&v4;
		}
	} else if (sa->sa_family != AF_INET) {
		return;
	}
	res = MMDB_lookup_sockaddr((MMDB_s *)&g->db, sa, &mmerr);
	if (mmerr != MMDB_SUCCESS || !res.found_entry)
		return;
	get_string(&res.entry, cc, sizeof(cc), cc_path);
	get_string(&res.entry, sub, sizeof(sub), sub_path);
	wd_region(cc, sub, region);
	if (strcmp(region, "ZZ") != 0) {
		country[0] = region[0];
		country[1] = region[1];
		country[2] = '\0';
	}
}
