/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "sessions.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "metrics.h"
#include "tiepdan/access.h"
#include "tiepdan/log.h"
#include "tiepdan/media.h"
#include "tiepdan/timeline.h"

/*
 * Live reception sessions (PROTOCOL.md §6, docs/sessions.md).
 *
 * Everything here runs on the loop. A session (struct live) holds its
 * participants by user id and one media session (media/), whose events come
 * back on the loop. Connections are known only by their ids: a participant
 * remembers the connection it joined from; offers and candidates go there,
 * the other events to every connection bound to the user.
 *
 * A participant goes invited → lobby → admitted; the host side (the host and
 * officials or leaders of the session's agency) is admitted at once, an
 * observer too (watch-only: its media leg receives and sends nothing). A
 * citizen gets media only after consenting to the recording when the session
 * records; a refusal turns the recording off (what was recorded is dropped)
 * and sends the citizen back to the lobby: the host admits again (go on
 * unrecorded) or ends. A dropped connection starts the reconnect window
 * (away); session.join within it resumes, past it the participant is gone.
 * The session ends by session.end, when the host side or (once one joined)
 * every citizen is gone, or when the media pipeline fails.
 *
 * The end: the recording is finished by media/ (EOS, remux, verification,
 * SHA-256 on its workers); a GTask here takes the file into the file store
 * (size, rename, fsync); back on the loop the hash is signed and one
 * transaction records the file, links it to the case (so file.ticket serves
 * it to whoever may see the case) and appends one `reception_session` event.
 */

#define MOD "session"
#define MAX_SDP 65536
#define MAX_CANDIDATE 1024
#define MARKER "session.json"

enum part_state {
	P_INVITED,
	P_LOBBY,
	P_ADMITTED,
	P_AWAY, /* connection lost, within the reconnect window */
	P_GONE,
};

static const char *const state_names[] = {"invited", "lobby", "admitted", "away", "gone"};

struct live;

struct part {
	struct live *l;
	char *user_id;
	bool host_side;
	bool citizen;
	bool observer;
	bool joined;   /* ever */
	enum part_state state;
	enum part_state resume; /* the state an away participant comes back to */
	uint64_t client_id;
	bool in_media;
	unsigned leg; /* numbers the participant's media legs: a new one needs a new peer connection */
	int consent; /* -1 not asked, 0 refused, 1 accepted */
	guint away_timer;
	char joined_at[STORE_TIME_SIZE];
	/* session.stats: the totals and time of the last answer, for bitrates */
	int64_t stats_us;
	uint64_t stats_rx, stats_tx;
};

struct live {
	struct sessions *ss;
	char id[23];
	char *appointment_id, *dialogue_id, *case_id, *agency_id, *host_id;
	char started_at[STORE_TIME_SIZE];
	char ended_at[STORE_TIME_SIZE];
	int64_t started_us, ended_us;
	int64_t media_us; /* when the first media reached the server (the recording starts); 0 */
	GHashTable *parts; /* user_id → struct part* */
	GPtrArray *order;  /* struct part*, in the order they were added */
	json_t *consents;  /* [{user_id, accept, at}] */
	char *dir;         /* (nullable) DATA_DIR/recordings/<id>; NULL when not recording */
	bool recording;    /* on (the default) until a citizen refuses */
	bool dropping;     /* a refused recording is being finished, to be deleted */
	bool ending;
	bool citizen_joined;
	char *summary;
	char *end_reason;
	struct media_session *media;
	GPtrArray *end_calls; /* struct rpc_call* answered when sealed */
	GPtrArray *stats_calls; /* struct stats_call* waiting for media */
	/* the sealed recording */
	bool rec_done;
	bool rec_verified;
	char *rec_path, *rec_sha256, *rec_reason, *rec_signature;
	double rec_duration_s;
	int64_t rec_bytes;
	char rec_file_id[23];
	char reception_id[23]; /* the row of the reception register, once written */
};

struct sessions {
	struct rpc *rpc;
	struct store *store;
	struct seal *seal;
	struct files *files;
	struct sessions_options opts;
	char *rec_root;
	char *stun;
	char **turn, **addrs;
	GHashTable *by_id;     /* id → struct live* */
	GHashTable *by_object; /* appointment or dialogue id → struct live* */
	unsigned sealing;      /* recordings being moved into the file store */
	uint64_t recorded_bytes;
};

static void
update_metrics(struct sessions *ss)
{
	if (ss->opts.metrics) {
		metrics_set_media(ss->opts.metrics, g_hash_table_size(ss->by_id), ss->recorded_bytes);
	}
}

struct stats_call {
	struct live *l;
	struct rpc_call *call;
};

static void live_end(struct live *l, const char *reason);
static void live_free(struct live *l);

/* ---- helpers ---------------------------------------------------------------------------- */

static struct part *
part_of(struct live *l, const char *user_id)
{
	return user_id ? g_hash_table_lookup(l->parts, user_id) : NULL;
}

static struct part *
part_add(struct live *l, const char *user_id)
{
	struct part *p = g_new0(struct part, 1);
	p->l = l;
	p->user_id = g_strdup(user_id);
	p->consent = -1;
	p->state = P_INVITED;
	g_hash_table_insert(l->parts, p->user_id, p);
	g_ptr_array_add(l->order, p);
	return p;
}

static void
part_free(gpointer data)
{
	struct part *p = data;
	if (p->away_timer) {
		g_source_remove(p->away_timer);
	}
	g_free(p->user_id);
	g_free(p);
}

struct notify_ctx {
	const char *method;
	json_t *params;
};

static void
notify_one(struct rpc *rpc, uint64_t client_id, const struct rpc_identity *id, void *data)
{
	struct notify_ctx *n = data;
	rpc_notify(rpc, client_id, n->method, json_incref(n->params));
}

/* An event to every connection bound to the user; params (transfer full). */
static void
notify_user(struct sessions *ss, const char *user_id, const char *method, json_t *params)
{
	struct notify_ctx n = {method, params};
	rpc_foreach_bound(ss->rpc, user_id, notify_one, &n);
	json_decref(params);
}

/* An event to the participants in the session (not invited, not gone) matching host_side. */
static void
notify_side(struct live *l, bool host_side_only, const char *method, json_t *params)
{
	for (guint i = 0; i < l->order->len; i++) {
		struct part *p = l->order->pdata[i];
		if ((p->state == P_LOBBY || p->state == P_ADMITTED) &&
		    (!host_side_only || p->host_side)) {
			notify_user(l->ss, p->user_id, method, json_incref(params));
		}
	}
	json_decref(params);
}

static const char *
part_role(const struct part *p)
{
	if (p->observer) {
		return "observer";
	}
	if (p->host_side) {
		return strcmp(p->user_id, p->l->host_id) == 0 ? "host" : "official";
	}
	return p->citizen ? "citizen" : "participant";
}

static json_t *
ice_servers(struct sessions *ss)
{
	json_t *a = json_array();
	if (ss->stun) {
		/* stun://host:port → stun:host:port (RTCIceServer urls). */
		char *url = g_strdup_printf("stun:%s", ss->stun + strlen("stun://"));
		json_array_append_new(a, json_pack("{s:[s]}", "urls", url));
		g_free(url);
	}
	for (char **t = ss->turn; t && *t; t++) {
		/* turn(s)://user:password@host:port → {urls: turn(s):host:port, username, credential} */
		bool tls = g_str_has_prefix(*t, "turns://");
		const char *rest = *t + strlen(tls ? "turns://" : "turn://");
		const char *at = strrchr(rest, '@');
		const char *colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
		if (!at || !colon) {
			continue;
		}
		/* Percent-encoded in the URL (webrtcbin decodes it too), plain for the browser. */
		char *user_enc = g_strndup(rest, (gsize)(colon - rest));
		char *pass_enc = g_strndup(colon + 1, (gsize)(at - colon - 1));
		char *user = g_uri_unescape_string(user_enc, NULL);
		char *pass = g_uri_unescape_string(pass_enc, NULL);
		g_free(user_enc);
		g_free(pass_enc);
		if (!user || !pass || !g_utf8_validate(user, -1, NULL) ||
		    !g_utf8_validate(pass, -1, NULL)) {
			g_free(user);
			g_free(pass);
			continue;
		}
		char *url = g_strdup_printf("%s:%s", tls ? "turns" : "turn", at + 1);
		json_array_append_new(a, json_pack("{s:[s], s:s, s:s}", "urls", url, "username", user,
						   "credential", pass));
		g_free(url);
		g_free(user);
		g_free(pass);
	}
	return a;
}

/* Removes the files of a folder of DATA_DIR/recordings, but keep (nullable). */
static void
dir_clear(const char *dir, const char *keep)
{
	GDir *d = dir ? g_dir_open(dir, 0, NULL) : NULL;
	const char *name;
	while (d && (name = g_dir_read_name(d))) {
		if (g_strcmp0(name, keep) != 0) {
			char *path = g_build_filename(dir, name, NULL);
			g_unlink(path);
			g_free(path);
		}
	}
	if (d) {
		g_dir_close(d);
	}
}

/* ---- media ------------------------------------------------------------------------------ */

static void
on_offer(void *data, const char *participant, const char *sdp)
{
	struct live *l = data;
	struct part *p = part_of(l, participant);
	if (p && p->state == P_ADMITTED) {
		rpc_notify(l->ss->rpc, p->client_id, "event.session.offer",
			   json_pack("{s:s, s:s, s:i}", "session_id", l->id, "sdp", sdp, "leg",
				     (int)p->leg));
	}
}

static void
on_candidate(void *data, const char *participant, unsigned mline, const char *candidate)
{
	struct live *l = data;
	struct part *p = part_of(l, participant);
	if (p && p->state == P_ADMITTED) {
		rpc_notify(l->ss->rpc, p->client_id, "event.session.ice",
			   json_pack("{s:s, s:s, s:i, s:i}", "session_id", l->id, "candidate",
				     candidate, "sdp_mline_index", (int)mline, "leg", (int)p->leg));
	}
}

static void
on_first_media(void *data, const char *participant, enum media_kind kind)
{
	struct live *l = data;
	if (!l->media_us) {
		l->media_us = g_get_real_time();
	}
}

static void
on_failed(void *data, const char *participant, const char *reason)
{
	struct live *l = data;
	td_warn(MOD, "media leg failed", "session=%s user=%s", l->id, participant);
	struct part *p = part_of(l, participant);
	if (p && p->state == P_ADMITTED) {
		/* The client restarts its leg by joining again. */
		rpc_notify(l->ss->rpc, p->client_id, "event.session.failed",
			   json_pack("{s:s, s:s}", "session_id", l->id, "reason", reason));
	}
}

static void
on_error(void *data, int err, const char *message)
{
	struct live *l = data;
	td_error(MOD, "media failed", "session=%s err=%d", l->id, err);
	if (!l->ending) {
		live_end(l, "media_failed");
	}
}

static void seal_recording(struct live *l);

static void
on_recording(void *data, const struct media_recording *rec)
{
	struct live *l = data;
	td_info(MOD, "recording finished", "session=%s verified=%d duration=%.3f", l->id,
		rec->verified, rec->duration_s);
	if (!l->recording) {
		/* A citizen refused: nothing of it is kept, track files included. */
		l->dropping = false;
		dir_clear(l->dir, MARKER);
		if (l->ending) {
			l->rec_done = true;
			seal_recording(l);
		}
		return;
	}
	l->rec_done = true;
	l->rec_verified = rec->verified;
	l->rec_path = g_strdup(rec->path);
	l->rec_sha256 = g_strdup(rec->sha256);
	l->rec_reason = g_strdup(rec->reason);
	l->rec_duration_s = rec->duration_s;
	seal_recording(l);
}

static const struct media_session_events media_events = {
	.version = MEDIA_SESSION_EVENTS_VERSION,
	.offer = on_offer,
	.ice_candidate = on_candidate,
	.first_media = on_first_media,
	.failed = on_failed,
	.error = on_error,
	.recording_finished = on_recording,
};

/* Gives an admitted participant its media leg once nothing holds it back. */
static void
part_maybe_media(struct part *p)
{
	struct live *l = p->l;
	if (p->in_media || p->state != P_ADMITTED || l->ending || !l->media) {
		return;
	}
	if (p->citizen && l->recording && p->consent != 1) {
		return; /* consent first */
	}
	int r = p->observer ? media_session_add_observer(l->media, p->user_id)
			    : media_session_add_participant(l->media, p->user_id);
	if (r < 0) {
		td_warn(MOD, "no media leg", "session=%s user=%s err=%d", l->id, p->user_id, r);
		return;
	}
	p->in_media = true;
	p->leg++;
	p->stats_us = g_get_monotonic_time();
	p->stats_rx = p->stats_tx = 0;
}

static void
part_drop_media(struct part *p)
{
	if (p->in_media && p->l->media) {
		int r = media_session_remove_participant(p->l->media, p->user_id);
		if (r < 0) {
			td_debug(MOD, "media leg already gone", "user=%s err=%d", p->user_id, r);
		}
	}
	p->in_media = false;
}

/* ---- ending -------------------------------------------------------------------------------- */

/* Whether a side is gone: every one of it who joined is gone, and someone of it had joined. */
static bool
side_gone(struct live *l, bool host_side)
{
	bool any = false;
	for (guint i = 0; i < l->order->len; i++) {
		struct part *p = l->order->pdata[i];
		if (p->observer || p->host_side != host_side || (!host_side && !p->citizen) ||
		    !p->joined) {
			continue;
		}
		any = true;
		if (p->state != P_GONE) {
			return false;
		}
	}
	return any;
}

static void
maybe_auto_end(struct live *l)
{
	if (l->ending) {
		return;
	}
	if (side_gone(l, true)) {
		live_end(l, "host_gone");
	} else if (l->citizen_joined && side_gone(l, false)) {
		live_end(l, "citizen_gone");
	}
}

static void
part_gone(struct part *p)
{
	if (p->away_timer) {
		g_source_remove(p->away_timer);
		p->away_timer = 0;
	}
	part_drop_media(p);
	p->state = P_GONE;
}

static gboolean
away_expired(gpointer data)
{
	struct part *p = data;
	struct live *l = p->l;
	p->away_timer = 0;
	td_info(MOD, "reconnect window over", "session=%s user=%s", l->id, p->user_id);
	part_gone(p);
	maybe_auto_end(l);
	return G_SOURCE_REMOVE;
}

static json_t *
participants_json(struct live *l)
{
	json_t *a = json_array();
	for (guint i = 0; i < l->order->len; i++) {
		struct part *p = l->order->pdata[i];
		if (!p->joined) {
			continue;
		}
		json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "user_id", p->user_id, "role",
						   part_role(p), "joined_at", p->joined_at));
	}
	return a;
}

static json_t *
recording_json(struct live *l)
{
	if (!l->rec_file_id[0]) {
		return json_null();
	}
	json_t *r = json_pack("{s:s, s:I, s:s, s:f, s:s}", "file_id", l->rec_file_id, "bytes",
			      (json_int_t)l->rec_bytes, "sha256", l->rec_sha256, "duration_s",
			      l->rec_duration_s, "status", l->rec_verified ? "verified" : "failed");
	json_object_set_new(r, "signature",
			    l->rec_signature ? json_string(l->rec_signature) : json_null());
	if (l->rec_reason) {
		json_object_set_new(r, "reason", json_string(l->rec_reason));
	}
	return r;
}

static json_t *
session_json(struct live *l)
{
	double dur = (double)(l->ended_us - l->started_us) / G_USEC_PER_SEC;
	json_t *j = json_pack("{s:s, s:o, s:s, s:s, s:f, s:O, s:o}", "session_id", l->id,
			      "participants", participants_json(l), "started_at", l->started_at,
			      "ended_at", l->ended_at, "duration_s", dur, "consent", l->consents,
			      "recording", recording_json(l));
	if (l->appointment_id) {
		json_object_set_new(j, "appointment_id", json_string(l->appointment_id));
	}
	if (l->dialogue_id) {
		json_object_set_new(j, "dialogue_id", json_string(l->dialogue_id));
	}
	if (l->summary) {
		json_object_set_new(j, "summary", json_string(l->summary));
	}
	json_object_set_new(j, "ended_by", json_string(l->end_reason));
	if (l->reception_id[0]) {
		json_object_set_new(j, "reception_id", json_string(l->reception_id));
	}
	/* What a recording can cover: from the first media to the end. */
	json_object_set_new(j, "media_s",
			    l->media_us ? json_real((double)(l->ended_us - l->media_us) /
						    G_USEC_PER_SEC)
					: json_null());
	return j;
}

/* A recording's file row, and the case holding it (so file.ticket serves it). */
static int
record_file(sqlite3 *db, const char *case_id, const char *sha256, int64_t bytes,
	    char file_id[23])
{
	int e = files_record(db, sha256, bytes, "video/webm", file_id);
	if (e == 0 && case_id) {
		char now[STORE_TIME_SIZE];
		const char *vals[] = {case_id, file_id, now};
		store_time_now(now);
		e = store_exec_text(db,
				    "INSERT OR IGNORE INTO case_files (case_id, file_id, added_at) "
				    "VALUES (?1, ?2, ?3)",
				    vals, 3);
	}
	return e;
}

/*
 * The reception register (DOMAIN.md §5, the table of reception.record): one
 * row per session a citizen joined, the citizens' names sealed when the case
 * is a denunciation, as reception.record does.
 */
static int
register_txn(sqlite3 *db, struct live *l)
{
	json_t *citizens = json_array();
	for (guint i = 0; i < l->order->len; i++) {
		struct part *p = l->order->pdata[i];
		if (p->citizen && p->joined) {
			const char *id[] = {p->user_id};
			char *name = store_query_text(db, "SELECT full_name FROM users WHERE id = ?1",
						      id, 1);
			json_array_append_new(citizens, json_pack("{s:s?}", "full_name", name));
			g_free(name);
		}
	}
	if (json_array_size(citizens) == 0) {
		json_decref(citizens);
		return 0;
	}
	const char *cid[] = {l->case_id};
	char *kind = l->case_id ? store_query_text(db, "SELECT kind FROM cases WHERE id = ?1", cid, 1)
				: NULL;
	char *topic = NULL;
	if (l->appointment_id) {
		const char *aid[] = {l->appointment_id};
		topic = store_query_text(db, "SELECT topic FROM appointments WHERE id = ?1", aid, 1);
	}
	char now[STORE_TIME_SIZE];
	store_time_now(now);
	store_new_id(l->reception_id);
	char *text = json_dumps(citizens, JSON_COMPACT | JSON_SORT_KEYS);
	g_autoptr(StoreStmt) st = store_stmt(
		db, "INSERT INTO receptions (id, agency_id, official_id, received_at, mode, "
		    "leader_day, kind, people_count, citizens, citizens_sealed, summary, case_id, "
		    "created_at) VALUES (?1, ?2, ?3, ?4, 'online', 0, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
	int rc = SQLITE_ERROR;
	if (st) {
		sqlite3_bind_text(st, 1, l->reception_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, l->agency_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, l->host_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, l->started_at, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, kind, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 6, (sqlite3_int64)json_array_size(citizens));
		if (g_strcmp0(kind, "denunciation") == 0) {
			size_t len;
			unsigned char *box = seal_box(l->ss->seal, text, &len);
			sqlite3_bind_null(st, 7);
			sqlite3_bind_blob(st, 8, box, (int)len, g_free);
		} else {
			sqlite3_bind_text(st, 7, text, -1, SQLITE_STATIC);
			sqlite3_bind_null(st, 8);
		}
		sqlite3_bind_text(st, 9,
				  l->summary ? l->summary : topic ? topic : "Tiếp công dân trực tuyến",
				  -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 10, l->case_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 11, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	free(text);
	g_free(kind);
	g_free(topic);
	json_decref(citizens);
	if (rc != SQLITE_DONE) {
		l->reception_id[0] = '\0';
		return store_errno(rc);
	}
	return 0;
}

static int
record_txn(sqlite3 *db, void *data)
{
	struct live *l = data;
	int e = register_txn(db, l);
	if (e == 0 && l->rec_sha256 && l->rec_bytes > 0) {
		e = record_file(db, l->case_id, l->rec_sha256, l->rec_bytes, l->rec_file_id);
	}
	if (e == 0 && l->case_id) {
		json_t *ev = session_json(l);
		e = timeline_append(db, l->case_id, NULL, "reception_session", ev, NULL);
		json_decref(ev);
	}
	return e;
}

static void
record_done(int status, void *data)
{
	struct live *l = data;
	if (status < 0) {
		td_error(MOD, "session not recorded", "session=%s err=%d", l->id, status);
	} else {
		td_info(MOD, "session sealed", "session=%s file=%s verified=%d", l->id,
			l->rec_file_id[0] ? l->rec_file_id : "-", l->rec_verified);
		if (l->dir) {
			char *marker = g_build_filename(l->dir, MARKER, NULL);
			g_unlink(marker);
			g_free(marker);
			g_rmdir(l->dir); /* when empty: the track files of a failed one stay */
		}
	}
	for (guint i = 0; i < l->end_calls->len; i++) {
		struct rpc_call *call = l->end_calls->pdata[i];
		if (status < 0) {
			rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		} else {
			rpc_call_reply(call, json_pack("{s:o}", "session", session_json(l)));
		}
	}
	g_ptr_array_set_size(l->end_calls, 0);
	struct sessions *ss = l->ss;
	if (status == 0 && l->rec_file_id[0]) {
		ss->recorded_bytes += (uint64_t)l->rec_bytes;
	}
	g_hash_table_remove(ss->by_id, l->id); /* frees l */
	update_metrics(ss);
}

static void
write_record(struct live *l)
{
	if (l->rec_sha256 && l->rec_verified) {
		l->rec_signature = seal_sign(l->ss->seal, l->rec_sha256);
	}
	if (store_write(l->ss->store, record_txn, record_done, l) < 0) {
		record_done(-EIO, l);
	}
}

/* A worker: the recording's size, and the file moved into the store. */
static void
adopt_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
	struct live *l = data;
	GStatBuf st;
	if (g_stat(l->rec_path, &st) < 0 || st.st_size <= 0) {
		g_task_return_int(task, -ENOENT);
		return;
	}
	l->rec_bytes = (int64_t)st.st_size;
	g_task_return_int(task, files_adopt(l->ss->files, l->rec_path, l->rec_sha256));
}

static void
adopt_done(GObject *source, GAsyncResult *res, gpointer data)
{
	struct live *l = data;
	GError *err = NULL;
	gssize r = g_task_propagate_int(G_TASK(res), &err);
	l->ss->sealing--;
	g_clear_error(&err);
	if (r < 0) {
		td_error(MOD, "recording not stored", "session=%s err=%d", l->id, (int)r);
		l->rec_bytes = 0;
		g_free(l->rec_sha256);
		l->rec_sha256 = NULL;
		l->rec_verified = false;
	}
	write_record(l);
}

/* After the end and the recording (if any): store the file, then the record. */
static void
seal_recording(struct live *l)
{
	if (!l->ending || !l->rec_done) {
		return;
	}
	media_session_destroy(l->media);
	l->media = NULL;
	if (l->rec_path && l->rec_sha256) {
		l->ss->sealing++;
		GTask *t = g_task_new(NULL, NULL, adopt_done, l);
		g_task_set_task_data(t, l, NULL);
		g_task_run_in_thread(t, adopt_thread);
		g_object_unref(t);
		return;
	}
	write_record(l);
}

static void
live_end(struct live *l, const char *reason)
{
	if (l->ending) {
		return;
	}
	l->ending = true;
	l->ended_us = g_get_real_time();
	store_time_now(l->ended_at);
	g_free(l->end_reason);
	l->end_reason = g_strdup(reason);
	td_info(MOD, "session ends", "session=%s reason=%s", l->id, reason);
	g_hash_table_remove(l->ss->by_object,
			    l->appointment_id ? l->appointment_id : l->dialogue_id);
	json_t *ev = json_pack("{s:s, s:s}", "session_id", l->id, "reason", reason);
	for (guint i = 0; i < l->order->len; i++) {
		struct part *p = l->order->pdata[i];
		if (p->state != P_INVITED) {
			notify_user(l->ss, p->user_id, "event.session.ended", json_incref(ev));
		}
		if (p->away_timer) {
			g_source_remove(p->away_timer);
			p->away_timer = 0;
		}
	}
	json_decref(ev);
	if (l->dropping) {
		return; /* on_recording deletes the refused recording, then seals */
	}
	if (l->media && l->recording && media_session_finish_recording(l->media) == 0) {
		return; /* on_recording goes on */
	}
	l->rec_done = true;
	seal_recording(l);
}

static void
live_free(struct live *l)
{
	if (!l) {
		return;
	}
	media_session_destroy(l->media);
	for (guint i = 0; i < l->end_calls->len; i++) {
		rpc_call_error(l->end_calls->pdata[i], TD_ERR_INTERNAL, NULL, NULL);
	}
	g_ptr_array_unref(l->end_calls);
	while (l->stats_calls->len > 0) {
		struct stats_call *sc = g_ptr_array_steal_index(l->stats_calls, 0);
		rpc_call_error(sc->call, TD_ERR_CONFLICT, "the session ended", NULL);
		g_free(sc);
	}
	g_ptr_array_unref(l->stats_calls);
	g_ptr_array_unref(l->order);
	g_hash_table_destroy(l->parts);
	json_decref(l->consents);
	g_free(l->appointment_id);
	g_free(l->dialogue_id);
	g_free(l->case_id);
	g_free(l->agency_id);
	g_free(l->host_id);
	g_free(l->dir);
	g_free(l->summary);
	g_free(l->end_reason);
	g_free(l->rec_path);
	g_free(l->rec_sha256);
	g_free(l->rec_reason);
	g_free(l->rec_signature);
	g_free(l);
}

/* ---- methods --------------------------------------------------------------------------------- */

static struct live *
live_of(struct sessions *ss, json_t *params)
{
	struct live *l = g_hash_table_lookup(ss->by_id,
					     json_string_value(json_object_get(params, "session_id")));
	return l && !l->ending ? l : NULL;
}

/* The caller's participant in a live session, in one of the states of mask; else answered. */
static struct part *
caller_part(struct rpc_call *call, struct sessions *ss, json_t *params, unsigned mask,
	    struct live **out)
{
	struct live *l = live_of(ss, params);
	const struct rpc_identity *id = rpc_call_identity(call);
	struct part *p = l ? part_of(l, id->user_id) : NULL;
	if (!p) {
		rpc_call_error(call, TD_ERR_NOT_FOUND, NULL, NULL);
		return NULL;
	}
	if (!(mask & (1u << p->state))) {
		rpc_call_error(call, TD_ERR_CONFLICT, "not in a state for this",
			       json_pack("{s:s}", "state", state_names[p->state]));
		return NULL;
	}
	*out = l;
	return p;
}

/* The caller as an admitted participant of the host side (admit, end, stats); else answered. */
static struct part *
host_part(struct rpc_call *call, struct sessions *ss, json_t *params, struct live **out)
{
	struct part *p = caller_part(call, ss, params, 1u << P_ADMITTED, out);
	if (p && (!p->host_side || p->observer)) {
		rpc_call_error(call, TD_ERR_FORBIDDEN, NULL, NULL);
		return NULL;
	}
	return p;
}

/* What session.start needs to know of an appointment or a dialogue; the invited added. */
static int
load_object(struct sessions *ss, struct live *l, const struct rpc_identity *id, const char *aid,
	    const char *did)
{
	sqlite3 *db = store_reader(ss->store);
	if (aid) {
		g_autoptr(StoreStmt) st = store_stmt(
			db, "SELECT s.host_id, s.agency_id, a.citizen_id, a.case_id, s.mode, a.status "
			    "FROM appointments a JOIN slots s ON s.id = a.slot_id WHERE a.id = ?1");
		if (!st) {
			return TD_ERR_INTERNAL;
		}
		sqlite3_bind_text(st, 1, aid, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW) {
			return TD_ERR_NOT_FOUND;
		}
		const char *host = (const char *)sqlite3_column_text(st, 0);
		const char *agency = (const char *)sqlite3_column_text(st, 1);
		if (strcmp(host, id->user_id) != 0 && !access_holds(id, RPC_LEADER, agency)) {
			return TD_ERR_NOT_FOUND;
		}
		if (strcmp((const char *)sqlite3_column_text(st, 4), "online") != 0 ||
		    strcmp((const char *)sqlite3_column_text(st, 5), "active") != 0) {
			return TD_ERR_CONFLICT;
		}
		l->appointment_id = g_strdup(aid);
		l->host_id = g_strdup(host);
		l->agency_id = g_strdup(agency);
		l->case_id = g_strdup((const char *)sqlite3_column_text(st, 3));
		part_add(l, (const char *)sqlite3_column_text(st, 2))->citizen = true;
		return 0;
	}
	g_autoptr(StoreStmt) st =
		store_stmt(db, "SELECT agency_id, case_id, mode FROM dialogues WHERE id = ?1");
	if (!st) {
		return TD_ERR_INTERNAL;
	}
	sqlite3_bind_text(st, 1, did, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		return TD_ERR_NOT_FOUND;
	}
	const char *agency = (const char *)sqlite3_column_text(st, 0);
	if (!access_holds(id, RPC_OFFICIAL | RPC_LEADER, agency)) {
		return TD_ERR_NOT_FOUND;
	}
	if (strcmp((const char *)sqlite3_column_text(st, 2), "online") != 0) {
		return TD_ERR_CONFLICT;
	}
	l->dialogue_id = g_strdup(did);
	l->host_id = g_strdup(id->user_id);
	l->agency_id = g_strdup(agency);
	l->case_id = g_strdup((const char *)sqlite3_column_text(st, 1));
	g_autoptr(StoreStmt) ps = store_stmt(
		db, "SELECT user_id, role FROM dialogue_participants WHERE dialogue_id = ?1");
	if (!ps) {
		return TD_ERR_INTERNAL;
	}
	sqlite3_bind_text(ps, 1, did, -1, SQLITE_STATIC);
	while (sqlite3_step(ps) == SQLITE_ROW) {
		const char *user = (const char *)sqlite3_column_text(ps, 0);
		const char *role = (const char *)sqlite3_column_text(ps, 1);
		if (strcmp(user, id->user_id) == 0) {
			continue;
		}
		struct part *p = part_add(l, user);
		p->host_side = strcmp(role, "resolver") == 0 || strcmp(role, "official") == 0;
		p->citizen = strcmp(role, "complainant") == 0 ||
			     strcmp(role, "representative") == 0 ||
			     strcmp(role, "interested_party") == 0 || strcmp(role, "respondent") == 0;
	}
	return 0;
}

/* The marker that lets the next start find a recording a crash left unfinished. */
static int
live_open_dir(struct live *l)
{
	l->dir = g_build_filename(l->ss->rec_root, l->id, NULL);
	if (g_mkdir_with_parents(l->dir, 0700) < 0) {
		return -errno;
	}
	json_t *m = json_pack("{s:s, s:s, s:s*, s:s*, s:s*, s:s}", "session_id", l->id,
			      "started_at", l->started_at, "case_id", l->case_id, "appointment_id",
			      l->appointment_id, "dialogue_id", l->dialogue_id, "agency_id",
			      l->agency_id);
	char *path = g_build_filename(l->dir, MARKER, NULL);
	int r = json_dump_file(m, path, JSON_COMPACT) == 0 ? 0 : -EIO;
	g_free(path);
	json_decref(m);
	return r;
}

static void
session_start(struct rpc_call *call, json_t *params, void *data)
{
	struct sessions *ss = data;
	const struct rpc_identity *id = rpc_call_identity(call);
	const char *aid = json_string_value(json_object_get(params, "appointment_id"));
	const char *did = json_string_value(json_object_get(params, "dialogue_id"));
	if (!aid == !did) {
		rpc_call_invalid(call, aid ? "/dialogue_id" : "/appointment_id",
				 aid ? "unknown" : "required");
		return;
	}
	struct live *l = g_new0(struct live, 1);
	l->ss = ss;
	l->parts = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, part_free);
	l->order = g_ptr_array_new();
	l->end_calls = g_ptr_array_new();
	l->stats_calls = g_ptr_array_new();
	l->consents = json_array();
	l->recording = true;
	store_new_id(l->id);
	int code = load_object(ss, l, id, aid, did);
	if (code == 0 && g_hash_table_contains(ss->by_object, aid ? aid : did)) {
		code = TD_ERR_CONFLICT;
	}
	if (code == 0 && g_hash_table_size(ss->by_id) >= ss->opts.max_sessions) {
		code = TD_ERR_CONFLICT;
	}
	if (code) {
		rpc_call_error(call, code, code == TD_ERR_CONFLICT && g_hash_table_size(ss->by_id) >=
							      ss->opts.max_sessions
						   ? "too many live sessions"
						   : NULL,
			       NULL);
		live_free(l);
		return;
	}
	l->started_us = g_get_real_time();
	store_time_now(l->started_at);
	struct part *host = part_of(l, id->user_id);
	if (!host) {
		host = part_add(l, id->user_id);
	}
	host->host_side = true;
	host->citizen = false;
	struct media_options mo = {
		.stun_server = ss->stun,
		.turn_servers = (const char *const *)ss->turn,
		.local_addresses = (const char *const *)ss->addrs,
	};
	if (live_open_dir(l) < 0) {
		td_error(MOD, "cannot prepare the recording", "session=%s", l->id);
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		live_free(l);
		return;
	}
	mo.recording_dir = l->dir;
	l->media = media_session_create(&mo, &media_events, l);
	if (!l->media) {
		td_error(MOD, "cannot start media", "session=%s err=%d", l->id, errno);
		g_rmdir(l->dir);
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		live_free(l);
		return;
	}
	g_hash_table_insert(ss->by_id, l->id, l);
	g_hash_table_insert(ss->by_object, aid ? l->appointment_id : l->dialogue_id, l);
	td_info(MOD, "session started", "session=%s host=%s", l->id, id->user_id);
	update_metrics(ss);
	for (guint i = 0; i < l->order->len; i++) {
		struct part *p = l->order->pdata[i];
		if (p != host) {
			notify_user(ss, p->user_id, "event.session.ready",
				    json_pack("{s:s}", "session_id", l->id));
		}
	}
	rpc_call_reply(call, json_pack("{s:s}", "session_id", l->id));
}

static void
session_join(struct rpc_call *call, json_t *params, void *data)
{
	struct sessions *ss = data;
	const struct rpc_identity *id = rpc_call_identity(call);
	struct live *l = live_of(ss, params);
	bool observe = json_is_true(json_object_get(params, "observe"));
	struct part *p = l ? part_of(l, id->user_id) : NULL;
	if (l && observe) {
		/* Inspectors and leaders above who may see the agency's objects; not a party. */
		bool may = (id->roles & (RPC_INSPECTOR | RPC_LEADER)) &&
			   !access_acts_in_agency(id, RPC_LEADER, l->agency_id) &&
			   access_sees_agency(store_reader(ss->store), id, l->agency_id);
		if (!may || (p && !p->observer)) {
			rpc_call_error(call, TD_ERR_NOT_FOUND, NULL, NULL);
			return;
		}
		if (!p) {
			p = part_add(l, id->user_id);
			p->observer = true;
		}
	} else if (l && !p && access_acts_in_agency(id, RPC_OFFICIAL | RPC_LEADER, l->agency_id)) {
		p = part_add(l, id->user_id);
		p->host_side = true;
	}
	if (!p || (p->observer && !observe)) {
		rpc_call_error(call, TD_ERR_NOT_FOUND, NULL, NULL);
		return;
	}
	/* Joining again (another connection, or the same one after its peer connection failed)
	 * restarts the media leg: a new offer follows. */
	part_drop_media(p);
	if (p->away_timer) {
		g_source_remove(p->away_timer);
		p->away_timer = 0;
	}
	p->client_id = rpc_call_client_id(call);
	if (!p->joined) {
		store_time_now(p->joined_at);
	}
	p->joined = true;
	l->citizen_joined = l->citizen_joined || p->citizen;
	enum part_state before = p->state;
	if (p->state == P_AWAY) {
		p->state = p->resume;
	} else if (p->host_side || p->observer) {
		p->state = P_ADMITTED;
	} else if (p->state != P_ADMITTED) {
		p->state = P_LOBBY;
	}
	td_info(MOD, "joined", "session=%s user=%s role=%s state=%s", l->id, p->user_id,
		part_role(p), state_names[p->state]);
	if (p->state == P_LOBBY && before != P_LOBBY) {
		notify_side(l, true, "event.session.lobby",
			    json_pack("{s:s, s:s}", "session_id", l->id, "user_id", p->user_id));
	}
	rpc_call_reply(call, json_pack("{s:s, s:b, s:o, s:b}", "state",
				       p->state == P_ADMITTED ? "admitted" : "lobby", "recording",
				       l->recording, "ice_servers", ice_servers(ss), "consent_needed",
				       p->citizen && l->recording && p->consent != 1));
	part_maybe_media(p);
}

static void
session_admit(struct rpc_call *call, json_t *params, void *data)
{
	struct sessions *ss = data;
	struct live *l;
	struct part *host = host_part(call, ss, params, &l);
	if (!host) {
		return;
	}
	struct part *p = part_of(l, json_string_value(json_object_get(params, "user_id")));
	if (!p) {
		rpc_call_error(call, TD_ERR_NOT_FOUND, NULL, NULL);
		return;
	}
	if (p->state != P_LOBBY) {
		rpc_call_error(call, TD_ERR_CONFLICT, "not in the lobby",
			       json_pack("{s:s}", "state", state_names[p->state]));
		return;
	}
	p->state = P_ADMITTED;
	td_info(MOD, "admitted", "session=%s user=%s by=%s", l->id, p->user_id, host->user_id);
	notify_user(ss, p->user_id, "event.session.admitted",
		    json_pack("{s:s, s:s, s:b}", "session_id", l->id, "user_id", p->user_id,
			      "recording", l->recording));
	notify_side(l, true, "event.session.admitted",
		    json_pack("{s:s, s:s, s:b}", "session_id", l->id, "user_id", p->user_id,
			      "recording", l->recording));
	rpc_call_reply(call, json_object());
	part_maybe_media(p);
}

struct consent_job {
	struct sessions *ss;
	struct rpc_call *call;
	char session_id[23];
	char *user_id;
	char *case_id;
	bool accept;
};

static int
consent_txn(sqlite3 *db, void *data)
{
	struct consent_job *j = data;
	json_t *ev = json_pack("{s:s, s:b}", "session_id", j->session_id, "accept", j->accept);
	int e = timeline_append(db, j->case_id, j->user_id, "session_consent", ev, NULL);
	json_decref(ev);
	return e;
}

static void
consent_apply(struct consent_job *j)
{
	struct live *l = g_hash_table_lookup(j->ss->by_id, j->session_id);
	struct part *p = l && !l->ending ? part_of(l, j->user_id) : NULL;
	if (!p) {
		rpc_call_error(j->call, TD_ERR_NOT_FOUND, NULL, NULL);
		return;
	}
	char at[STORE_TIME_SIZE];
	store_time_now(at);
	json_array_append_new(l->consents, json_pack("{s:s, s:b, s:s}", "user_id", p->user_id,
						     "accept", j->accept, "at", at));
	p->consent = j->accept ? 1 : 0;
	td_info(MOD, "consent", "session=%s user=%s accept=%d", l->id, p->user_id, j->accept);
	if (!j->accept && l->recording) {
		/* Nothing recorded is kept; the host decides: admit again (unrecorded) or end. */
		l->recording = false;
		if (l->media && media_session_finish_recording(l->media) == 0) {
			l->dropping = true;
		} else {
			td_debug(MOD, "no recording to drop", "session=%s", l->id);
		}
		part_drop_media(p);
		if (p->state == P_ADMITTED) {
			p->state = P_LOBBY;
		}
	}
	notify_side(l, true, "event.session.consent",
		    json_pack("{s:s, s:s, s:b, s:b}", "session_id", l->id, "user_id", p->user_id,
			      "accept", j->accept, "recording", l->recording));
	rpc_call_reply(j->call, json_object());
	part_maybe_media(p);
}

static void
consent_done(int status, void *data)
{
	struct consent_job *j = data;
	if (status < 0) {
		rpc_call_error(j->call, TD_ERR_INTERNAL, NULL, NULL);
	} else {
		consent_apply(j);
	}
	g_free(j->user_id);
	g_free(j->case_id);
	g_free(j);
}

static void
session_consent(struct rpc_call *call, json_t *params, void *data)
{
	struct sessions *ss = data;
	struct live *l;
	struct part *p = caller_part(call, ss, params, 1u << P_LOBBY | 1u << P_ADMITTED, &l);
	if (!p) {
		return;
	}
	if (!p->citizen) {
		rpc_call_error(call, TD_ERR_FORBIDDEN, NULL, NULL);
		return;
	}
	if (p->consent != -1) {
		rpc_call_error(call, TD_ERR_CONFLICT, "already answered", NULL);
		return;
	}
	struct consent_job *j = g_new0(struct consent_job, 1);
	j->ss = ss;
	j->call = call;
	g_strlcpy(j->session_id, l->id, sizeof(j->session_id));
	j->user_id = g_strdup(p->user_id);
	j->case_id = g_strdup(l->case_id);
	j->accept = json_is_true(json_object_get(params, "accept"));
	if (!l->case_id) {
		consent_done(0, j);
	} else if (store_write(ss->store, consent_txn, consent_done, j) < 0) {
		consent_done(-EIO, j);
	}
}

static void
media_refusal(struct rpc_call *call, int r, const char *field)
{
	if (r == -EINVAL) {
		rpc_call_invalid(call, field, "format");
	} else if (r == -ENOSPC) {
		rpc_call_error(call, TD_ERR_RATE_LIMITED, NULL, NULL);
	} else {
		rpc_call_error(call, TD_ERR_CONFLICT, "no offer waiting for this", NULL);
	}
}

/* An answer or candidate for a leg that was replaced meanwhile: refused, changing nothing. */
static bool
stale_leg(struct rpc_call *call, struct part *p, json_t *params)
{
	json_t *leg = json_object_get(params, "leg");
	if (leg && (!p->in_media || json_integer_value(leg) != (json_int_t)p->leg)) {
		rpc_call_error(call, TD_ERR_CONFLICT, "that media leg was replaced",
			       json_pack("{s:i}", "leg", (int)p->leg));
		return true;
	}
	return false;
}

static void
session_answer(struct rpc_call *call, json_t *params, void *data)
{
	struct sessions *ss = data;
	struct live *l;
	struct part *p = caller_part(call, ss, params, 1u << P_ADMITTED, &l);
	if (!p || stale_leg(call, p, params)) {
		return;
	}
	int r = p->in_media ? media_session_set_answer(
				      l->media, p->user_id,
				      json_string_value(json_object_get(params, "sdp")))
			    : -EPROTO;
	if (r < 0) {
		media_refusal(call, r, "/sdp");
		return;
	}
	rpc_call_reply(call, json_object());
}

static void
session_ice(struct rpc_call *call, json_t *params, void *data)
{
	struct sessions *ss = data;
	struct live *l;
	struct part *p = caller_part(call, ss, params, 1u << P_ADMITTED, &l);
	if (!p || stale_leg(call, p, params)) {
		return;
	}
	const char *cand = json_string_value(json_object_get(params, "candidate"));
	/* Browsers send "candidate:..." and, in SDP style, "a=candidate:...". */
	if (g_str_has_prefix(cand, "a=")) {
		cand += 2;
	}
	int r = p->in_media ? media_session_add_ice_candidate(
				      l->media, p->user_id,
				      (unsigned)json_integer_value(
					      json_object_get(params, "sdp_mline_index")),
				      cand)
			    : -EPROTO;
	if (r < 0) {
		media_refusal(call, r, r == -EINVAL ? "/candidate" : "");
		return;
	}
	rpc_call_reply(call, json_object());
}

static void
session_leave(struct rpc_call *call, json_t *params, void *data)
{
	struct sessions *ss = data;
	struct live *l;
	struct part *p = caller_part(call, ss, params,
				     1u << P_LOBBY | 1u << P_ADMITTED | 1u << P_AWAY, &l);
	if (!p) {
		return;
	}
	td_info(MOD, "left", "session=%s user=%s", l->id, p->user_id);
	part_gone(p);
	rpc_call_reply(call, json_object());
	maybe_auto_end(l);
}

static void
session_end(struct rpc_call *call, json_t *params, void *data)
{
	struct sessions *ss = data;
	struct live *l;
	struct part *p = host_part(call, ss, params, &l);
	if (!p) {
		return;
	}
	const char *summary = json_string_value(json_object_get(params, "summary"));
	l->summary = g_strdup(summary);
	g_ptr_array_add(l->end_calls, call);
	live_end(l, "ended");
}

/*
 * Bitrates are over the time since the previous session.stats (or since the
 * leg was made); packet loss and round-trip time are webrtcbin's.
 */
static void
stats_done(void *data, const struct media_stats *st, unsigned n)
{
	struct stats_call *sc = data;
	struct live *l = sc->l;
	g_ptr_array_remove_fast(l->stats_calls, sc);
	int64_t now = g_get_monotonic_time();
	json_t *items = json_array();
	for (unsigned i = 0; i < n; i++) {
		struct part *p = part_of(l, st[i].participant);
		if (!p) {
			continue;
		}
		double dt = (double)(now - p->stats_us) / G_USEC_PER_SEC;
		double in = dt > 0 && st[i].bytes_received >= p->stats_rx
				    ? (double)(st[i].bytes_received - p->stats_rx) * 8 / dt
				    : 0;
		double out = dt > 0 && st[i].bytes_sent >= p->stats_tx
				     ? (double)(st[i].bytes_sent - p->stats_tx) * 8 / dt
				     : 0;
		p->stats_us = now;
		p->stats_rx = st[i].bytes_received;
		p->stats_tx = st[i].bytes_sent;
		uint64_t expected = st[i].packets_received + (uint64_t)MAX(st[i].packets_lost, 0);
		json_t *it = json_pack(
			"{s:s, s:s, s:f, s:f, s:I, s:I, s:I, s:I, s:f}", "user_id", p->user_id, "role",
			part_role(p), "bitrate_in_bps", in, "bitrate_out_bps", out, "bytes_received",
			(json_int_t)st[i].bytes_received, "bytes_sent", (json_int_t)st[i].bytes_sent,
			"packets_received", (json_int_t)st[i].packets_received, "packets_lost",
			(json_int_t)st[i].packets_lost, "packet_loss",
			expected ? (double)MAX(st[i].packets_lost, 0) / (double)expected : 0.0);
		json_object_set_new(it, "round_trip_s",
				    st[i].round_trip_s >= 0 ? json_real(st[i].round_trip_s)
							    : json_null());
		json_array_append_new(items, it);
	}
	rpc_call_reply(sc->call, json_pack("{s:s, s:o}", "session_id", l->id, "participants", items));
	g_free(sc);
}

static void
session_stats(struct rpc_call *call, json_t *params, void *data)
{
	struct sessions *ss = data;
	struct live *l;
	struct part *p = host_part(call, ss, params, &l);
	if (!p) {
		return;
	}
	struct stats_call *sc = g_new0(struct stats_call, 1);
	sc->l = l;
	sc->call = call;
	g_ptr_array_add(l->stats_calls, sc);
	if (media_session_get_stats(l->media, stats_done, sc) < 0) {
		g_ptr_array_remove_fast(l->stats_calls, sc);
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		g_free(sc);
	}
}

/* The live sessions the caller is invited to or hosts: how a client that connects late learns
 * the session_id that event.session.ready carried. */
static void
session_list(struct rpc_call *call, json_t *params, void *data)
{
	struct sessions *ss = data;
	const struct rpc_identity *id = rpc_call_identity(call);
	json_t *items = json_array();
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, ss->by_id);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct live *l = v;
		struct part *p = part_of(l, id->user_id);
		bool host_side = access_acts_in_agency(id, RPC_OFFICIAL | RPC_LEADER, l->agency_id);
		if (l->ending || ((!p || p->observer) && !host_side)) {
			continue;
		}
		json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "session_id", l->id, "started_at",
				      l->started_at, "state", p ? state_names[p->state] : "invited",
				      "recording", l->recording);
		json_object_set_new(o, l->appointment_id ? "appointment_id" : "dialogue_id",
				    json_string(l->appointment_id ? l->appointment_id
								  : l->dialogue_id));
		json_array_append_new(items, o);
	}
	rpc_call_reply(call, json_pack("{s:o}", "items", items));
}

/* ---- connections ---------------------------------------------------------------------------- */

/* A connection closed: its participants get the reconnect window. */
static void
on_client_closed(void *data, uint64_t client_id)
{
	struct sessions *ss = data;
	GList *lives = g_hash_table_get_values(ss->by_id);
	for (GList *it = lives; it; it = it->next) {
		struct live *l = it->data;
		for (guint i = 0; !l->ending && i < l->order->len; i++) {
			struct part *p = l->order->pdata[i];
			if (p->client_id != client_id ||
			    (p->state != P_LOBBY && p->state != P_ADMITTED)) {
				continue;
			}
			td_info(MOD, "connection lost", "session=%s user=%s window=%u", l->id,
				p->user_id, ss->opts.reconnect_window_s);
			part_drop_media(p);
			p->resume = p->state;
			p->state = P_AWAY;
			/* Not g_timeout_add_seconds(): it may round the window down. */
			p->away_timer =
				g_timeout_add(ss->opts.reconnect_window_s * 1000u, away_expired, p);
		}
	}
	g_list_free(lives);
}

/* ---- the table ------------------------------------------------------------------------------ */

#define SESSION_ID {.name = "session_id", .type = RPC_T_ID, .required = true}

static const struct rpc_param start_params[] = {
	{.name = "appointment_id", .type = RPC_T_ID, .description = "or dialogue_id"},
	{.name = "dialogue_id", .type = RPC_T_ID, .description = "or appointment_id"},
	{0}};
static const struct rpc_param join_params[] = {
	SESSION_ID,
	{.name = "observe", .type = RPC_T_BOOLEAN,
	 .description = "watch only: an inspector or a leader of a parent agency"},
	{0}};
static const struct rpc_param consent_params[] = {
	SESSION_ID, {.name = "accept", .type = RPC_T_BOOLEAN, .required = true}, {0}};
static const struct rpc_param admit_params[] = {
	SESSION_ID, {.name = "user_id", .type = RPC_T_ID, .required = true}, {0}};
#define LEG {.name = "leg", .type = RPC_T_INTEGER, .min = 1, \
	     .description = "the leg of the offer answered (event.session.offer's)"}

static const struct rpc_param answer_params[] = {
	SESSION_ID,
	LEG,
	{.name = "sdp", .type = RPC_T_STRING, .required = true, .min = 1, .max = MAX_SDP},
	{0}};
static const struct rpc_param ice_params[] = {
	SESSION_ID,
	LEG,
	{.name = "candidate", .type = RPC_T_STRING, .required = true, .max = MAX_CANDIDATE,
	 .description = "candidate:... (empty: end of candidates)"},
	{.name = "sdp_mline_index", .type = RPC_T_INTEGER, .required = true, .min = 0, .max = 255},
	{0}};
static const struct rpc_param id_params[] = {SESSION_ID, {0}};
static const struct rpc_param end_params[] = {
	SESSION_ID, {.name = "summary", .type = RPC_T_STRING, .max = 4000}, {0}};

#define STAFFISH (RPC_OFFICIAL | RPC_LEADER)

static const struct rpc_method methods[] = {
	{.name = "session.start", .handler = session_start, .who = STAFFISH,
	 .summary = "Starts the live session of an online appointment or dialogue (its host).",
	 .params = start_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"session_id\"]}"},
	{.name = "session.join", .handler = session_join, .who = RPC_BOUND,
	 .summary = "Joins a live session: the lobby, or admitted (host side, observers).",
	 .params = join_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"state\",\"recording\","
			  "\"ice_servers\"]}"},
	{.name = "session.list", .handler = session_list, .who = RPC_BOUND,
	 .summary = "The live sessions the caller is invited to or hosts.",
	 .result_schema = "{\"type\":\"object\",\"required\":[\"items\"]}"},
	{.name = "session.consent", .handler = session_consent, .who = RPC_CITIZEN,
	 .summary = "A citizen accepts or refuses the recording (written to the case timeline).",
	 .params = consent_params, .result_schema = "{\"type\":\"object\"}"},
	{.name = "session.admit", .handler = session_admit, .who = STAFFISH,
	 .summary = "Admits a participant waiting in the lobby.", .params = admit_params,
	 .result_schema = "{\"type\":\"object\"}"},
	{.name = "session.answer", .handler = session_answer, .who = RPC_BOUND,
	 .summary = "The participant's SDP answer to the server's offer.",
	 .params = answer_params, .result_schema = "{\"type\":\"object\"}"},
	{.name = "session.ice", .handler = session_ice, .who = RPC_BOUND,
	 .summary = "A trickled ICE candidate of the participant.", .params = ice_params,
	 .result_schema = "{\"type\":\"object\"}"},
	{.name = "session.leave", .handler = session_leave, .who = RPC_BOUND,
	 .summary = "Leaves a live session.", .params = id_params,
	 .result_schema = "{\"type\":\"object\"}"},
	{.name = "session.stats", .handler = session_stats, .who = STAFFISH,
	 .summary = "Per participant: bitrates, packet loss and round-trip time (webrtcbin's).",
	 .params = id_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"participants\"]}"},
	{.name = "session.end", .handler = session_end, .who = STAFFISH,
	 .summary = "Ends the session; answers once the recording is sealed.",
	 .params = end_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"session\"]}"},
};

/* ---- recordings a crash left ------------------------------------------------------------------ */

/* One folder of DATA_DIR/recordings whose session never ended. */
struct orphan {
	struct sessions *ss;
	char *dir;
	json_t *marker;
	struct media_recovered rec;
	int64_t bytes;
	bool stored;
	char file_id[23];
	char *signature;
};

static void
orphan_free(gpointer data)
{
	struct orphan *o = data;
	g_free(o->dir);
	json_decref(o->marker);
	media_recovered_clear(&o->rec);
	g_free(o->signature);
	g_free(o);
}

/* A worker: every orphan's tracks remuxed, hashed and the result moved into the file store. */
static void
recover_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancel)
{
	GPtrArray *orphans = data;
	for (guint i = 0; i < orphans->len; i++) {
		struct orphan *o = orphans->pdata[i];
		GPtrArray *paths = g_ptr_array_new_with_free_func(g_free);
		GDir *d = g_dir_open(o->dir, 0, NULL);
		const char *name;
		while (d && (name = g_dir_read_name(d))) {
			if (g_str_has_suffix(name, "-audio.webm") || g_str_has_suffix(name, "-video.webm")) {
				g_ptr_array_add(paths, g_build_filename(o->dir, name, NULL));
			}
		}
		if (d) {
			g_dir_close(d);
		}
		g_ptr_array_add(paths, NULL);
		char *out = g_build_filename(o->dir, "recovered.webm", NULL);
		GStatBuf st;
		if (paths->len > 1 &&
		    media_recover_tracks((const char *const *)paths->pdata, out, &o->rec) == 0 &&
		    g_stat(out, &st) == 0 && st.st_size > 0) {
			o->bytes = (int64_t)st.st_size;
			o->stored = files_adopt(o->ss->files, out, o->rec.sha256) == 0;
		}
		g_free(out);
		g_ptr_array_unref(paths);
	}
	g_task_return_boolean(task, TRUE);
}

static int
orphan_txn(sqlite3 *db, void *data)
{
	struct orphan *o = data;
	const char *case_id = json_string_value(json_object_get(o->marker, "case_id"));
	json_t *rec = json_null();
	int e = 0;
	if (o->stored) {
		e = record_file(db, case_id, o->rec.sha256, o->bytes, o->file_id);
		rec = json_pack("{s:s, s:I, s:s, s:f, s:s, s:s?, s:s?}", "file_id", o->file_id, "bytes",
				(json_int_t)o->bytes, "sha256", o->rec.sha256, "duration_s",
				o->rec.duration_s, "status", "interrupted", "signature",
				o->signature, "reason", o->rec.reason);
	}
	if (e == 0 && case_id) {
		json_t *ev = json_pack("{s:O, s:[], s:O, s:n, s:n, s:[], s:o, s:s}", "session_id",
				       json_object_get(o->marker, "session_id"), "participants",
				       "started_at", json_object_get(o->marker, "started_at"),
				       "ended_at", "duration_s", "consent", "recording", rec,
				       "ended_by", "interrupted");
		e = timeline_append(db, case_id, NULL, "reception_session", ev, NULL);
		json_decref(ev);
	} else {
		json_decref(rec);
	}
	return e;
}

static void
orphan_done(int status, void *data)
{
	struct orphan *o = data;
	char *why = g_strescape(o->rec.reason ? o->rec.reason : "-", NULL);
	td_info(MOD, "interrupted session recorded",
		"session=%s stored=%d readable=%d status=%d reason=\"%s\"",
		json_string_value(json_object_get(o->marker, "session_id")), o->stored,
		o->rec.readable, status, why);
	g_free(why);
	if (status == 0) {
		/* Recorded: the folder goes (the recording itself is in the file store). */
		dir_clear(o->dir, NULL);
		g_rmdir(o->dir);
	}
	orphan_free(o);
}

static void
recover_done(GObject *source, GAsyncResult *res, gpointer data)
{
	GPtrArray *orphans = data;
	struct sessions *ss = NULL;
	while (orphans->len > 0) {
		struct orphan *o = g_ptr_array_steal_index(orphans, 0);
		ss = o->ss;
		if (o->stored && o->rec.readable) {
			o->signature = seal_sign(ss->seal, o->rec.sha256);
		}
		if (store_write(ss->store, orphan_txn, orphan_done, o) < 0) {
			orphan_free(o);
		}
	}
	if (ss) {
		ss->sealing--;
	}
	g_ptr_array_unref(orphans);
}

/* Folders of DATA_DIR/recordings still holding their marker: sessions a crash cut short. */
static void
recover_orphans(struct sessions *ss)
{
	GPtrArray *orphans = g_ptr_array_new_with_free_func(orphan_free);
	GDir *d = g_dir_open(ss->rec_root, 0, NULL);
	const char *name;
	while (d && (name = g_dir_read_name(d))) {
		char *dir = g_build_filename(ss->rec_root, name, NULL);
		char *marker = g_build_filename(dir, MARKER, NULL);
		json_t *m = json_load_file(marker, 0, NULL);
		if (json_is_object(m) && json_is_string(json_object_get(m, "session_id"))) {
			struct orphan *o = g_new0(struct orphan, 1);
			o->ss = ss;
			o->dir = g_steal_pointer(&dir);
			o->marker = m;
			g_ptr_array_add(orphans, o);
			td_warn(MOD, "unfinished recording found", "session=%s",
				json_string_value(json_object_get(m, "session_id")));
		} else {
			json_decref(m);
		}
		g_free(marker);
		g_free(dir);
	}
	if (d) {
		g_dir_close(d);
	}
	if (orphans->len == 0) {
		g_ptr_array_unref(orphans);
		return;
	}
	ss->sealing++;
	GTask *t = g_task_new(NULL, NULL, recover_done, orphans);
	g_task_set_task_data(t, orphans, NULL);
	g_task_run_in_thread(t, recover_thread);
	g_object_unref(t);
}

/* ---- create / destroy ------------------------------------------------------------------------ */

struct sessions *
sessions_create(struct rpc *rpc, struct store *store, struct seal *seal, struct files *files,
		const struct sessions_options *opts, GError **error)
{
	struct sessions *ss = g_new0(struct sessions, 1);
	ss->rpc = rpc;
	ss->store = store;
	ss->seal = seal;
	ss->files = files;
	ss->opts = *opts;
	if (!ss->opts.reconnect_window_s) {
		ss->opts.reconnect_window_s = 30;
	}
	if (!ss->opts.max_sessions) {
		ss->opts.max_sessions = 20;
	}
	ss->stun = g_strdup(opts->stun_server);
	ss->turn = opts->turn_servers ? g_strdupv((char **)opts->turn_servers) : NULL;
	ss->addrs = opts->ice_addresses && opts->ice_addresses[0]
			    ? g_strdupv((char **)opts->ice_addresses)
			    : NULL;
	ss->rec_root = g_build_filename(opts->data_dir, "recordings", NULL);
	ss->by_id = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)live_free);
	ss->by_object = g_hash_table_new(g_str_hash, g_str_equal);
	if (g_mkdir_with_parents(ss->rec_root, 0700) < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot create %s: %s", ss->rec_root, g_strerror(errno));
		sessions_destroy(ss);
		return NULL;
	}
	if (media_init() < 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
			    "GStreamer elements for live sessions are missing");
		sessions_destroy(ss);
		return NULL;
	}
	if (rpc_register(rpc, methods, G_N_ELEMENTS(methods), ss) < 0 ||
	    rpc_add_close_hook(rpc, on_client_closed, ss) < 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST, "session.* registered twice");
		sessions_destroy(ss);
		return NULL;
	}
	recover_orphans(ss);
	return ss;
}

void
sessions_destroy(struct sessions *ss)
{
	if (!ss) {
		return;
	}
	/* At exit, after the loop: a recording being moved is let finish (a rename). */
	while (ss->sealing > 0) {
		g_main_context_iteration(NULL, TRUE);
	}
	g_hash_table_destroy(ss->by_object);
	g_hash_table_destroy(ss->by_id);
	/* Every destroyed session's pipeline goes down before the process does. */
	media_deinit();
	g_free(ss->rec_root);
	g_free(ss->stun);
	g_strfreev(ss->turn);
	g_strfreev(ss->addrs);
	g_free(ss);
}
