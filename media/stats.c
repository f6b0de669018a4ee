/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "session-private.h"

#include <errno.h>
#include <string.h>

#include "tiepdan/log.h"

/*
 * Statistics of every leg from webrtcbin's get-stats. The promise answers on
 * webrtcbin's thread, which only copies the reply and posts it; the loop sums
 * what each leg's webrtcbin says (inbound-rtp: what the participant sends us;
 * outbound-rtp: what we send it; remote-inbound-rtp: its receiver reports,
 * with the round-trip time) and, when every leg answered, delivers the
 * result as an event (never from inside the API call).
 */

struct stats_req {
	unsigned id;
	unsigned pending;
	GArray *items; /* struct media_stats, participant g_strdup'd */
	media_stats_fn fn;
	void *data;
};

void
stats_req_free(gpointer data)
{
	struct stats_req *r = data;
	for (guint i = 0; i < r->items->len; i++) {
		g_free((char *)g_array_index(r->items, struct media_stats, i).participant);
	}
	g_array_unref(r->items);
	g_free(r);
}

/* webrtcbin's thread. */
static void
on_stats(GstPromise *promise, gpointer data)
{
	struct probe_ctx *c = data; /* n: the request */
	struct msg *m = msg_new(MSG_STATS, c->peer);
	m->n = c->n;
	if (gst_promise_wait(promise) == GST_PROMISE_RESULT_REPLIED &&
	    gst_promise_get_reply(promise)) {
		m->data = gst_structure_copy(gst_promise_get_reply(promise));
		m->data_free = (void (*)(void *))gst_structure_free;
	}
	post(c->sh, m);
}

/* A number field of any numeric type; false when absent. */
static bool
number(const GstStructure *st, const char *field, double *out)
{
	const GValue *v = gst_structure_get_value(st, field);
	GValue d = G_VALUE_INIT;
	g_value_init(&d, G_TYPE_DOUBLE);
	bool ok = v && g_value_type_transformable(G_VALUE_TYPE(v), G_TYPE_DOUBLE) &&
		  g_value_transform(v, &d);
	*out = ok ? g_value_get_double(&d) : 0;
	g_value_unset(&d);
	return ok;
}

static gboolean
add_stat(GQuark field, const GValue *v, gpointer data)
{
	struct media_stats *it = data;
	if (!GST_VALUE_HOLDS_STRUCTURE(v)) {
		return TRUE;
	}
	const GstStructure *st = gst_value_get_structure(v);
	GstWebRTCStatsType type;
	if (!gst_structure_get(st, "type", GST_TYPE_WEBRTC_STATS_TYPE, &type, NULL)) {
		return TRUE;
	}
	double x;
	switch (type) {
	case GST_WEBRTC_STATS_INBOUND_RTP:
		it->bytes_received += number(st, "bytes-received", &x) ? (uint64_t)x : 0;
		it->packets_received += number(st, "packets-received", &x) ? (uint64_t)x : 0;
		it->packets_lost += number(st, "packets-lost", &x) ? (int64_t)x : 0;
		break;
	case GST_WEBRTC_STATS_OUTBOUND_RTP:
		it->bytes_sent += number(st, "bytes-sent", &x) ? (uint64_t)x : 0;
		break;
	case GST_WEBRTC_STATS_REMOTE_INBOUND_RTP:
		if (number(st, "round-trip-time", &x) && x > it->round_trip_s) {
			it->round_trip_s = x;
		}
		break;
	default:
		break;
	}
	return TRUE;
}

void
stats_handle(struct media_session *s, struct msg *m)
{
	struct stats_req *r = g_hash_table_lookup(s->stats, GUINT_TO_POINTER(m->n));
	if (!r) {
		return;
	}
	struct peer *p = peer_by_serial(s, m->peer);
	if (p && m->data) {
		struct media_stats it = {.participant = g_strdup(p->id), .round_trip_s = -1};
		gst_structure_foreach(m->data, add_stat, &it);
		g_array_append_val(r->items, it);
	}
	if (--r->pending == 0) {
		g_hash_table_steal(s->stats, GUINT_TO_POINTER(r->id));
		struct event *e = queue_event(s, EV_STATS, NULL, NULL, 0, 0);
		e->ptr = r;
		e->ptr_free = stats_req_free;
	}
}

void
stats_deliver(struct media_session *s, struct event *e)
{
	struct stats_req *r = e->ptr;
	r->fn(r->data, (const struct media_stats *)(void *)r->items->data, r->items->len);
}

int
media_session_get_stats(struct media_session *s, media_stats_fn fn, void *data)
{
	if (!fn) {
		return -EINVAL;
	}
	struct stats_req *r = g_new0(struct stats_req, 1);
	r->id = ++s->next_stats;
	r->items = g_array_new(FALSE, TRUE, sizeof(struct media_stats));
	r->fn = fn;
	r->data = data;
	r->pending = 1; /* held by this call until every leg was asked */
	g_hash_table_insert(s->stats, GUINT_TO_POINTER(r->id), r);
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->peers);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct peer *p = v;
		GstPromise *promise = gst_promise_new_with_change_func(
			on_stats, probe_ctx_new(s->sh, p->serial, r->id, 0), probe_ctx_destroy);
		r->pending++;
		g_signal_emit_by_name(p->webrtc, "get-stats", NULL, promise);
		gst_promise_unref(promise);
	}
	struct msg m = {.type = MSG_STATS, .n = r->id};
	stats_handle(s, &m); /* the call's own hold */
	return 0;
}
