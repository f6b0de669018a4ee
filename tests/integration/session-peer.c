/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * tiepdan-session-peer: a live-session participant for the integration tests
 * (tests/integration/session-media.test.mjs). It speaks the real protocol over
 * WebSocket (libsoup) to a running server, and answers the server's offers
 * with its own webrtcbin (tests/unit/media/testpeer.c: videotestsrc → VP8,
 * audiotestsrc → Opus; what it receives is decoded and counted).
 *
 *   tiepdan-session-peer --url ws://127.0.0.1:PORT/ws --token ACCESS_TOKEN --name NAME
 *
 * The test drives it with one JSON object per line on stdin and reads one
 * per line on stdout:
 *
 *   {"call": METHOD, "params": {...}, "tag": T}  → {"tag": T, "result": ...} or {"tag": T, "error": ...}
 *   {"frames": FROM_USER_ID, "min": N, "tag": T} → {"tag": T, "video": V, "audio": A} once both ≥ N
 *   {"inspect": PATH, "tag": T}                  → {"tag": T, "video": V, "audio": A, "duration_s": D}
 *
 * and, unasked, {"ready": true} once authenticated, {"leg": N} when an offer
 * starts a new media leg (a new webrtcbin here), and {"event": METHOD,
 * "params": ...} for every server notification except offers and candidates,
 * which it handles itself (session.answer, session.ice). The session id of
 * those comes from the offers. Any failure prints {"fatal": "..."} and exits 1.
 */
#include <gio/gio.h>
#include <gst/pbutils/pbutils.h>
#include <jansson.h>
#include <libsoup/soup.h>
#include <stdio.h>
#include <string.h>

#include "../unit/media/testpeer.h"

struct app {
	GMainLoop *loop;
	SoupSession *http;
	SoupWebsocketConnection *ws;
	struct tpeer *peer;
	char *token;
	char *session_id; /* of the last offer */
	char *name;
	int leg;          /* of the last offer: a new leg gets a new webrtcbin */
	unsigned next_id;
	GHashTable *tags; /* request id → tag (json_t*) */
	GPtrArray *waits; /* struct frames_wait* */
};

struct frames_wait {
	char *from;
	int min;
	json_t *tag;
};

static void
out(json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	fprintf(stdout, "%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(j);
}

static void G_GNUC_NORETURN
fatal(const char *what)
{
	out(json_pack("{s:s}", "fatal", what));
	exit(1);
}

/* A request; tag (transfer full, nullable) comes back with its answer. */
static void
call(struct app *a, const char *method, json_t *params, json_t *tag)
{
	char id[16];
	g_snprintf(id, sizeof(id), "p%u", ++a->next_id);
	json_t *req = json_pack("{s:s, s:s, s:s, s:o}", "jsonrpc", "2.0", "id", id, "method", method,
				"params", params ? params : json_object());
	char *text = json_dumps(req, JSON_COMPACT);
	soup_websocket_connection_send_text(a->ws, text);
	free(text);
	json_decref(req);
	g_hash_table_insert(a->tags, g_strdup(id), tag ? tag : json_null());
}

static void
tp_answer(void *data, struct tpeer *p, const char *sdp)
{
	struct app *a = data;
	call(a, "session.answer",
	     json_pack("{s:s, s:s, s:i}", "session_id", a->session_id, "sdp", sdp, "leg", a->leg),
	     json_string("answer"));
}

static void
tp_candidate(void *data, struct tpeer *p, unsigned mline, const char *candidate)
{
	struct app *a = data;
	call(a, "session.ice",
	     json_pack("{s:s, s:s, s:i, s:i}", "session_id", a->session_id, "candidate", candidate,
		       "sdp_mline_index", (int)mline, "leg", a->leg),
	     json_string("ice"));
}

static const struct tpeer_events tp_events = {
	.answer = tp_answer,
	.candidate = tp_candidate,
};

static void
on_message(SoupWebsocketConnection *ws, gint type, GBytes *message, gpointer data)
{
	struct app *a = data;
	gsize n;
	const char *text = g_bytes_get_data(message, &n);
	json_t *m = json_loadb(text, n, 0, NULL);
	if (!m) {
		fatal("unparsable message");
	}
	const char *method = json_string_value(json_object_get(m, "method"));
	json_t *params = json_object_get(m, "params");
	int leg = (int)json_integer_value(json_object_get(params, "leg"));
	if (method && strcmp(method, "event.session.offer") == 0) {
		g_free(a->session_id);
		a->session_id = g_strdup(json_string_value(json_object_get(params, "session_id")));
		struct tpeer *old = NULL;
		if (a->leg && leg != a->leg) {
			/* The server replaced our leg (we joined again): a new peer connection. */
			old = a->peer;
			a->peer = tpeer_create(a->name, 60, &tp_events, a);
		}
		if (leg != a->leg) {
			out(json_pack("{s:i}", "leg", leg));
		}
		a->leg = leg;
		tpeer_offer(a->peer, json_string_value(json_object_get(params, "sdp")));
		/* Last: destroying iterates the loop, where the new leg's candidates may come. */
		tpeer_destroy(old);
	} else if (method && strcmp(method, "event.session.ice") == 0) {
		if (leg != a->leg) {
			json_decref(m);
			return; /* a candidate of a replaced leg */
		}
		tpeer_add_candidate(
			a->peer,
			(unsigned)json_integer_value(json_object_get(params, "sdp_mline_index")),
			json_string_value(json_object_get(params, "candidate")));
	} else if (method) {
		out(json_pack("{s:s, s:O}", "event", method, "params", params));
	} else {
		const char *id = json_string_value(json_object_get(m, "id"));
		json_t *tag = id ? g_hash_table_lookup(a->tags, id) : NULL;
		if (!tag) {
			fatal("an answer to no request");
		}
		json_t *err = json_object_get(m, "error");
		const char *t = json_string_value(tag);
		if (t && strcmp(t, "auth") == 0) {
			if (err) {
				fatal("auth.authenticate refused");
			}
			out(json_pack("{s:b}", "ready", 1));
		} else if (t && (strcmp(t, "answer") == 0 || strcmp(t, "ice") == 0)) {
			if (err) {
				out(json_pack("{s:s, s:O}", "refused", t, "error", err));
			}
		} else {
			out(json_pack("{s:O, s:O}", "tag", tag, err ? "error" : "result",
				      err ? err : json_object_get(m, "result")));
		}
		g_hash_table_remove(a->tags, id);
	}
	json_decref(m);
}

static void
on_closed(SoupWebsocketConnection *ws, gpointer data)
{
	struct app *a = data;
	out(json_pack("{s:b}", "closed", 1));
	g_main_loop_quit(a->loop);
}

static void
on_connected(GObject *src, GAsyncResult *res, gpointer data)
{
	struct app *a = data;
	GError *err = NULL;
	a->ws = soup_session_websocket_connect_finish(SOUP_SESSION(src), res, &err);
	if (!a->ws) {
		fatal(err->message);
	}
	soup_websocket_connection_set_max_incoming_payload_size(a->ws, 1 << 20);
	g_signal_connect(a->ws, "message", G_CALLBACK(on_message), a);
	g_signal_connect(a->ws, "closed", G_CALLBACK(on_closed), a);
	call(a, "auth.authenticate", json_pack("{s:s}", "access_token", a->token),
	     json_string("auth"));
}

/* ---- commands ---- */

static void
inspect(const char *path, json_t *tag)
{
	GError *err = NULL;
	GstDiscoverer *d = gst_discoverer_new(60 * GST_SECOND, &err);
	char *uri = gst_filename_to_uri(path, &err);
	GstDiscovererInfo *info = uri ? gst_discoverer_discover_uri(d, uri, &err) : NULL;
	if (!info) {
		out(json_pack("{s:O, s:s}", "tag", tag, "error", err ? err->message : "?"));
	} else {
		GList *v = gst_discoverer_info_get_video_streams(info);
		GList *au = gst_discoverer_info_get_audio_streams(info);
		out(json_pack("{s:O, s:i, s:i, s:f, s:b}", "tag", tag, "video",
			      (int)g_list_length(v), "audio", (int)g_list_length(au), "duration_s",
			      (double)gst_discoverer_info_get_duration(info) / GST_SECOND,
			      "seekable", gst_discoverer_info_get_seekable(info)));
		gst_discoverer_stream_info_list_free(v);
		gst_discoverer_stream_info_list_free(au);
		g_object_unref(info);
	}
	g_clear_error(&err);
	g_free(uri);
	g_object_unref(d);
}

static void
wait_free(gpointer data)
{
	struct frames_wait *w = data;
	g_free(w->from);
	json_decref(w->tag);
	g_free(w);
}

/* Counters are bumped on streaming threads; the loop looks at them every 50 ms. */
static gboolean
check_waits(gpointer data)
{
	struct app *a = data;
	for (guint i = 0; i < a->waits->len;) {
		struct frames_wait *w = a->waits->pdata[i];
		int v = tpeer_frames_from(a->peer, 1, w->from);
		int au = tpeer_frames_from(a->peer, 0, w->from);
		if (v >= w->min && au >= w->min) {
			out(json_pack("{s:O, s:i, s:i}", "tag", w->tag, "video", v, "audio", au));
			g_ptr_array_remove_index(a->waits, i);
		} else {
			i++;
		}
	}
	return G_SOURCE_CONTINUE;
}

static gboolean
on_stdin(GIOChannel *ch, GIOCondition cond, gpointer data)
{
	struct app *a = data;
	char *line = NULL;
	gsize len = 0;
	GIOStatus st = g_io_channel_read_line(ch, &line, &len, NULL, NULL);
	if (st == G_IO_STATUS_EOF || st == G_IO_STATUS_ERROR) {
		g_main_loop_quit(a->loop);
		return G_SOURCE_REMOVE;
	}
	if (st != G_IO_STATUS_NORMAL || !line) {
		return G_SOURCE_CONTINUE;
	}
	json_t *cmd = json_loads(line, 0, NULL);
	g_free(line);
	if (!json_is_object(cmd)) {
		fatal("a command is one JSON object a line");
	}
	json_t *tag = json_object_get(cmd, "tag");
	if (json_object_get(cmd, "call")) {
		call(a, json_string_value(json_object_get(cmd, "call")),
		     json_incref(json_object_get(cmd, "params")), json_incref(tag));
	} else if (json_object_get(cmd, "frames")) {
		struct frames_wait *w = g_new0(struct frames_wait, 1);
		w->from = g_strdup(json_string_value(json_object_get(cmd, "frames")));
		w->min = (int)json_integer_value(json_object_get(cmd, "min"));
		w->tag = json_incref(tag);
		g_ptr_array_add(a->waits, w);
	} else if (json_object_get(cmd, "inspect")) {
		inspect(json_string_value(json_object_get(cmd, "inspect")), tag);
	} else {
		fatal("unknown command");
	}
	json_decref(cmd);
	return G_SOURCE_CONTINUE;
}

int
main(int argc, char **argv)
{
	struct app a = {0};
	char *url = NULL, *name = NULL;
	GOptionEntry entries[] = {
		{"url", 0, 0, G_OPTION_ARG_STRING, &url, "ws://host:port/ws", "URL"},
		{"token", 0, 0, G_OPTION_ARG_STRING, &a.token, "access token", "TOKEN"},
		{"name", 0, 0, G_OPTION_ARG_STRING, &name, "name in logs", "NAME"},
		{NULL},
	};
	GOptionContext *oc = g_option_context_new("- a live-session test peer");
	g_option_context_add_main_entries(oc, entries, NULL);
	g_option_context_add_group(oc, gst_init_get_option_group());
	GError *err = NULL;
	if (!g_option_context_parse(oc, &argc, &argv, &err) || !url || !a.token) {
		fprintf(stderr, "%s\n", err ? err->message : "--url and --token are needed");
		return 2;
	}
	g_option_context_free(oc);
	gst_init(NULL, NULL);
	a.loop = g_main_loop_new(NULL, FALSE);
	a.tags = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)json_decref);
	a.waits = g_ptr_array_new_with_free_func(wait_free);
	a.name = name ? name : "peer";
	a.peer = tpeer_create(a.name, 60, &tp_events, &a);
	a.http = soup_session_new();
	SoupMessage *msg = soup_message_new("GET", url);
	if (!msg) {
		fatal("bad --url");
	}
	soup_session_websocket_connect_async(a.http, msg, NULL, (char *[]){"tiepdan.v1", NULL},
					     G_PRIORITY_DEFAULT, NULL, on_connected, &a);
	g_object_unref(msg);
	GIOChannel *in = g_io_channel_unix_new(0);
	g_io_add_watch(in, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, &a);
	g_timeout_add(50, check_waits, &a);
	g_main_loop_run(a.loop);
	if (a.ws && soup_websocket_connection_get_state(a.ws) == SOUP_WEBSOCKET_STATE_OPEN) {
		soup_websocket_connection_close(a.ws, SOUP_WEBSOCKET_CLOSE_NORMAL, NULL);
	}
	tpeer_destroy(a.peer);
	g_io_channel_unref(in);
	g_clear_object(&a.ws);
	g_object_unref(a.http);
	g_ptr_array_unref(a.waits);
	g_hash_table_destroy(a.tags);
	g_main_loop_unref(a.loop);
	g_free(a.session_id);
	g_free(url);
	g_free(name);
	g_free(a.token);
	return 0;
}
