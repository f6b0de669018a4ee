/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * calendar.ticket and the iCalendar feed it points to (PROTOCOL.md §6).
 *
 * Calendar applications subscribe to a feed and fetch it again and again,
 * without the portal's session, so the URL itself is the credential: it
 * names the user and an expiry (one year) and carries a keyed hash of both
 * made with the portal's identity key. Nothing is stored; rotating the key
 * revokes every feed.
 */
#include "portal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "tiepdan/schedule.h"
#include "tiepdan/seal.h"

#define FEED_TTL_S (366 * 86400)

struct calendar_feed {
	struct store *store;
	struct seal *seal;
};

static void
feed_mac(struct calendar_feed *f, const char *user_id, const char *exp, char out[SEAL_MAC_HEX])
{
	char *msg = g_strdup_printf("calendar-feed:%s:%s", user_id, exp);
	seal_mac(f->seal, msg, out);
	g_free(msg);
}

static void
calendar_ticket(struct rpc_call *call, json_t *params, void *data)
{
	struct calendar_feed *f = data;
	const char *user = rpc_call_identity(call)->user_id;
	char exp[32], mac[SEAL_MAC_HEX];
	g_snprintf(exp, sizeof(exp), "%" G_GINT64_FORMAT,
		   g_get_real_time() / G_USEC_PER_SEC + FEED_TTL_S);
	feed_mac(f, user, exp, mac);
	char *url = g_strdup_printf("/api/calendar/%s.%s.%.32s.ics", user, exp, mac);
	rpc_call_reply(call, json_pack("{s:s, s:i}", "url", url, "expires_in", FEED_TTL_S));
	g_free(url);
}

char *
calendar_feed_render(struct calendar_feed *f, const char *name)
{
	/* USER.EXPIRY.MAC.ics; the user id is URL-safe base64, without dots. */
	char **parts = g_strsplit(name, ".", -1);
	char *ics = NULL;
	if (g_strv_length(parts) == 4 && strcmp(parts[3], "ics") == 0 && strlen(parts[2]) == 32) {
		char mac[SEAL_MAC_HEX];
		int64_t now = g_get_real_time() / G_USEC_PER_SEC;
		feed_mac(f, parts[0], parts[1], mac);
		if (sodium_memcmp(mac, parts[2], 32) == 0 &&
		    g_ascii_strtoll(parts[1], NULL, 10) > now) {
			ics = schedule_ics(store_reader(f->store), parts[0], now);
		}
	}
	g_strfreev(parts);
	return ics;
}

static const struct rpc_method feed_methods[] = {
	{.name = "calendar.ticket", .handler = calendar_ticket, .who = RPC_BOUND,
	 .summary = "A private iCalendar (RFC 5545) feed URL of the caller's appointments and "
		    "dialogues, valid a year.",
	 .result_schema = "{\"type\":\"object\",\"required\":[\"url\"]}"},
};

struct calendar_feed *
calendar_feed_create(struct rpc *rpc, struct store *store, struct seal *seal)
{
	struct calendar_feed *f = g_new0(struct calendar_feed, 1);
	f->store = store;
	f->seal = seal;
	if (rpc_register(rpc, feed_methods, G_N_ELEMENTS(feed_methods), f) < 0) {
		g_free(f);
		return NULL;
	}
	return f;
}

void
calendar_feed_destroy(struct calendar_feed *f)
{
	g_free(f);
}
