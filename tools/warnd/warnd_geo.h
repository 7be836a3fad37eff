/*
 * warnd_geo.h — the client's country and region from a MaxMind DB.
 *
 * Reads the GeoIP2/GeoLite2 City or Country layout (country.iso_code,
 * subdivisions.0.iso_code), which tools/mkgeo/redsink-mkgeo also writes. The
 * address is used for the lookup only: it is never kept, logged or written
 * anywhere. Without a database every client is "ZZ".
 *
 * A struct wd_geo is opened once (before privileges are dropped, and again on
 * SIGHUP) and used by the HTTP thread only.
 */
#ifndef WD_GEO_H
#define WD_GEO_H

#include <stddef.h>
#include <sys/socket.h>

#include "warnd_text.h"

struct wd_geo;

/* Open the database at path. 0, or RS_ECONF with a message in err. */
int wd_geo_open(const char *path, struct wd_geo **out, char *err, size_t errlen);
void wd_geo_close(struct wd_geo *g);

/*
 * Look up sa (IPv4, IPv6, or IPv4-mapped IPv6). country: "KR" or "" when
 * unknown (3 octets); region: as wd_region ("KR", "IT-25", "ZZ"). g may be
 * NULL (no database).
 */
void wd_geo_lookup(const struct wd_geo *g, const struct sockaddr *sa, char country[3], char region[WD_REGION_MAX]);

#endif
