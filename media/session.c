/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "session-private.h"

#include <errno.h>
#include <string.h>

#include "tiepdan/log.h"

/*
 * A session: one pipeline, one webrtcbin per participant (docs/media.md).
 *
 * Threads. webrtcbin calls back on its own threads (its task thread, ICE,
 * streaming threads). Those callbacks only copy what they got into a struct
 * msg and post() it to the session's queue; the queue is drained on the
 * owner's main context, where all session state lives. The queue is one
 * FIFO per session, so a candidate is never delivered before the offer it
 * belongs to. Events for the owner are queued too and delivered from the
 * drain, never from inside an API call, so an event handler may call the
 * API (destroy included).
 *
 * Lifetime. struct shared is what GStreamer threads may hold: a refcount,
 * the context and the queue. Signal handlers hold it through a peer_link
 * (released when the handler is disconnected, i.e. when the element is
 * finalised), promises and pad probes through their own small structs.
 * When the session is destroyed shared->s becomes NULL and whatever is
 * posted later is dropped on the loop.
 */

#define DEFAULT_LATENCY_MS 50
#define MAX_EARLY_CANDIDATES 64

/* Our receiving m-lines: the codecs and payload types the whole session uses. */
static const char *const recv_caps[2] = {
	[MEDIA_KIND_AUDIO] = "application/x-rtp,media=audio,encoding-name=OPUS,payload=111,"
			 "clock-rate=48000,encoding-params=(string)2,minptime=(string)10,"
			 "useinbandfec=(string)1",
	[MEDIA_KIND_VIDEO] = "application/x-rtp,media=video,encoding-name=VP8,payload=96,"
			 "clock-rate=90000,rtcp-fb-nack=(boolean)true,"
			 "rtcp-fb-nack-pli=(boolean)true,rtcp-fb-ccm-fir=(boolean)true",
};

static const char *const kind_names[2] = {"audio", "video"};

const char *
media_kind_name(enum media_kind k)
{
	return kind_names[k];
}

/* ---- the queue between GStreamer threads and the loop ---------------------------------- */

struct shared *
shared_ref(struct shared *sh)
{
	g_atomic_ref_count_inc(&sh->ref);
	return sh;
}

void
msg_free(struct msg *m)
{
	if (!m) {
		return;
	}
	g_free(m->str);
	if (m->desc) {
		gst_webrtc_session_description_free(m->desc);
	}
	gst_clear_object(&m->pad);
	gst_clear_caps(&m->caps);
	if (m->elements) {
		g_ptr_array_unref(m->elements);
	}
	if (m->data && m->data_free) {
		m->data_free(m->data);
	}
	g_free(m);
}

void
shared_unref(struct shared *sh)
{
	if (!g_atomic_ref_count_dec(&sh->ref)) {
		return;
	}
	struct msg *m;
	while ((m = g_queue_pop_head(&sh->msgs))) {
		msg_free(m);
	}
	g_mutex_clear(&sh->lock);
	g_main_context_unref(sh->ctx);
	g_free(sh);
}

struct msg *
msg_new(enum msg_type type, unsigned peer)
{
	struct msg *m = g_new0(struct msg, 1);
	m->type = type;
	m->peer = peer;
	return m;
}

static gboolean drain(gpointer data);

/*
 * Any thread. An idle source on the owner's context rather than
 * g_main_context_invoke(): invoke runs the function at once when called on
 * the context's own thread, which would re-enter the session from inside an
 * API call (an idle pad probe fires synchronously, for one).
 */
void
post(struct shared *sh, struct msg *m)
{
	g_mutex_lock(&sh->lock);
	g_queue_push_tail(&sh->msgs, m);
	bool schedule = !sh->scheduled;
	sh->scheduled = true;
	g_mutex_unlock(&sh->lock);
	if (schedule) {
		GSource *src = g_idle_source_new();
		g_source_set_priority(src, G_PRIORITY_DEFAULT);
		g_source_set_callback(src, drain, shared_ref(sh), (GDestroyNotify)shared_unref);
		g_source_attach(src, sh->ctx);
		g_source_unref(src);
	}
}

/* ---- events to the owner ---------------------------------------------------------------- */

static void
event_free(struct event *e)
{
	g_free(e->participant);
	g_free(e->str);
	g_free(e->str2);
	g_free(e->str3);
	if (e->ptr && e->ptr_free) {
		e->ptr_free(e->ptr);
	}
	g_free(e);
}

struct event *
queue_event(struct media_session *s, enum event_type type, const char *participant, const char *str,
	    unsigned mline, int value)
{
	struct event *e = g_new0(struct event, 1);
	e->type = type;
	e->participant = g_strdup(participant);
	e->str = g_strdup(str);
	e->mline = mline;
	e->value = value;
	g_queue_push_tail(&s->events_out, e);
	if (!s->in_drain) {
		post(s->sh, msg_new(MSG_NONE, 0));
	}
	return e;
}

/* Delivers one event; the session may be gone afterwards. */
static void
deliver(struct media_session *s, struct event *e)
{
	const struct media_session_events *ev = s->events;
	void *d = s->data;
	switch (e->type) {
	case EV_OFFER:
		if (ev->offer) {
			ev->offer(d, e->participant, e->str);
		}
		break;
	case EV_CANDIDATE:
		if (ev->ice_candidate) {
			ev->ice_candidate(d, e->participant, e->mline, e->str);
		}
		break;
	case EV_CONNECTED:
		if (ev->connected) {
			ev->connected(d, e->participant);
		}
		break;
	case EV_FAILED:
		if (ev->failed) {
			ev->failed(d, e->participant, e->str);
		}
		break;
	case EV_FIRST_MEDIA:
		if (ev->first_media) {
			ev->first_media(d, e->participant, (enum media_kind)e->value);
		}
		break;
	case EV_ERROR:
		if (ev->error) {
			ev->error(d, e->value, e->str);
		}
		break;
	case EV_STATS:
		stats_deliver(s, e);
		break;
	case EV_RECORDING:
		if (ev->recording_finished) {
			struct media_recording rec = {
				.path = e->str,
				.sha256 = e->str2,
				.verified = e->value != 0,
				.duration_s = e->num,
				.reason = e->str3,
			};
			ev->recording_finished(d, &rec);
		}
		break;
	}
}

static gboolean
drain(gpointer data)
{
	struct shared *sh = data;
	for (;;) {
		g_mutex_lock(&sh->lock);
		struct msg *m = g_queue_pop_head(&sh->msgs);
		if (!m) {
			sh->scheduled = false;
		}
		g_mutex_unlock(&sh->lock);
		if (!m) {
			break;
		}
		if (sh->s) {
			sh->s->in_drain = true;
			session_handle(sh->s, m);
			sh->s->in_drain = false;
		}
		msg_free(m);
		struct event *e;
		while (sh->s && (e = g_queue_pop_head(&sh->s->events_out))) {
			deliver(sh->s, e);
			event_free(e);
		}
	}
	return G_SOURCE_REMOVE;
}

/* ---- peers ---------------------------------------------------------------------------- */

static void
link_clear(gpointer data)
{
	struct peer_link *l = data;
	for (int k = 0; k < 2; k++) {
		gst_clear_object(&l->tee_sink[k]);
		gst_clear_object(&l->recv[k]);
	}
	shared_unref(l->sh);
}

struct peer_link *
link_acquire(struct peer_link *l)
{
	return g_atomic_rc_box_acquire(l);
}

void
link_release(struct peer_link *l)
{
	g_atomic_rc_box_release_full(l, link_clear);
}

static void
link_closure_notify(gpointer data, GClosure *closure)
{
	link_release(data);
}

struct peer *
peer_by_serial(struct media_session *s, unsigned serial)
{
	struct peer *p = g_hash_table_lookup(s->by_serial, GUINT_TO_POINTER(serial));
	return p && !p->removing ? p : NULL;
}

static void
on_ice_candidate(GstElement *webrtc, guint mline, gchar *candidate, struct peer_link *l)
{
	struct msg *m = msg_new(MSG_CANDIDATE, l->serial);
	m->n = mline;
	m->str = g_strdup(candidate);
	post(l->sh, m);
}

static void
on_connection_state(GObject *webrtc, GParamSpec *pspec, struct peer_link *l)
{
	GstWebRTCPeerConnectionState st;
	g_object_get(webrtc, "connection-state", &st, NULL);
	struct msg *m = msg_new(MSG_CONN_STATE, l->serial);
	m->value = (int)st;
	post(l->sh, m);
}

static void
probe_ctx_free(gpointer data)
{
	struct probe_ctx *c = data;
	shared_unref(c->sh);
	g_free(c);
}

struct probe_ctx *
probe_ctx_new(struct shared *sh, unsigned peer, unsigned n, int value)
{
	struct probe_ctx *c = g_new0(struct probe_ctx, 1);
	c->sh = shared_ref(sh);
	c->peer = peer;
	c->n = n;
	c->value = value;
	return c;
}

void
probe_ctx_destroy(gpointer data)
{
	probe_ctx_free(data);
}

static GstPadProbeReturn
on_first_buffer(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	struct probe_ctx *c = data;
	struct msg *m = msg_new(MSG_FIRST_MEDIA, c->peer);
	m->value = c->value;
	post(c->sh, m);
	return GST_PAD_PROBE_REMOVE;
}

static GstPadProbeReturn
drop_all(GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
	return GST_PAD_PROBE_DROP;
}

/*
 * A streaming thread: webrtcbin exposes a received stream. It must be linked
 * before this returns (an unlinked pad fails the pipeline), and no state may
 * change here: the tee was made and started on the loop when the
 * participant was added, so only a link is made. The loop hears of it next.
 */
static void
on_pad_added(GstElement *webrtc, GstPad *pad, struct peer_link *l)
{
	if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) {
		return;
	}
	GstWebRTCRTPTransceiver *t = NULL;
	g_object_get(pad, "transceiver", &t, NULL);
	int k = t == l->recv[MEDIA_KIND_VIDEO]   ? MEDIA_KIND_VIDEO
	        : t == l->recv[MEDIA_KIND_AUDIO] ? MEDIA_KIND_AUDIO
	                                         : -1;
	gst_clear_object(&t);
	if (k < 0 || l->watch_only || g_atomic_int_get(&l->removing)) {
		/* Not ours to forward (or the participant is leaving): swallow it. */
		gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_DATA_DOWNSTREAM, drop_all, NULL, NULL);
		return;
	}
	GstPad *old = gst_pad_get_peer(l->tee_sink[k]);
	if (old) {
		/* A new SSRC replaced the stream: the old pad goes quiet. */
		gst_pad_add_probe(old, GST_PAD_PROBE_TYPE_DATA_DOWNSTREAM, drop_all, NULL, NULL);
		gst_pad_unlink(old, l->tee_sink[k]);
		gst_object_unref(old);
	}
	struct msg *m = msg_new(MSG_STREAM, l->serial);
	m->value = k;
	if (gst_pad_link(pad, l->tee_sink[k]) != GST_PAD_LINK_OK) {
		gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_DATA_DOWNSTREAM, drop_all, NULL, NULL);
		m->type = MSG_ERROR;
		m->str = g_strdup("cannot link a received stream");
		post(l->sh, m);
		return;
	}
	gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST,
	                  on_first_buffer, probe_ctx_new(l->sh, l->serial, 0, k),
	                  probe_ctx_destroy);
	m->pad = gst_object_ref(pad);
	post(l->sh, m);
}

static bool
valid_id(const char *id)
{
	size_t n = id ? strnlen(id, MEDIA_ID_MAX + 1) : 0;
	if (n == 0 || n > MEDIA_ID_MAX) {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		if (!g_ascii_isalnum(id[i]) && id[i] != '-' && id[i] != '_' && id[i] != '.') {
			return false;
		}
	}
	return true;
}

void
peer_free(struct peer *p)
{
	if (!p) {
		return;
	}
	if (p->link) {
		link_release(p->link);
	}
	gst_clear_object(&p->webrtc);
	for (int k = 0; k < 2; k++) {
		gst_clear_object(&p->tee[k]);
		gst_clear_object(&p->stream[k]);
	}
	if (p->offer) {
		gst_sdp_message_free(p->offer);
	}
	if (p->early) {
		g_ptr_array_unref(p->early);
	}
	g_free(p->id);
	g_free(p);
}

static GstElement *
make_webrtc(struct media_session *s, struct peer *p)
{
	char name[32];
	g_snprintf(name, sizeof(name), "webrtc-%u", p->serial);
	GstElement *w = gst_element_factory_make("webrtcbin", name);
	if (!w) {
		return NULL;
	}
	g_object_set(w, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, "latency",
	             s->latency_ms, NULL);
	if (s->stun) {
		g_object_set(w, "stun-server", s->stun, NULL);
	}
	for (char **t = s->turn; t && *t; t++) {
		gboolean ok = FALSE;
		g_signal_emit_by_name(w, "add-turn-server", *t, &ok);
		if (!ok) {
			td_warn(MOD, "TURN server refused", "peer=%s", p->id);
		}
	}
	if (s->addrs && *s->addrs) {
		GstWebRTCICE *ice = NULL;
		g_object_get(w, "ice-agent", &ice, NULL);
		for (char **a = s->addrs; ice && *a; a++) {
			gboolean ok = FALSE;
			/* nice_agent_add_local_address(), through the ICE agent webrtcbin wraps. */
			g_signal_emit_by_name(ice, "add-local-ip-address", *a, &ok);
			if (!ok) {
				td_warn(MOD, "ICE local address refused", "peer=%s addr=%s", p->id,
				        *a);
			}
		}
		gst_clear_object(&ice);
	}
	return w;
}

/*
 * An observer's leg is the same with both receiving transceivers inactive:
 * the offer asks for nothing from it, so it sends none (and what it might send
 * is not ours to forward: on_pad_added only takes recvonly transceivers' pads).
 */
static int add_peer(struct media_session *s, const char *id, bool watch_only);

int
media_session_add_participant(struct media_session *s, const char *id)
{
	return add_peer(s, id, false);
}

int
media_session_add_observer(struct media_session *s, const char *id)
{
	return add_peer(s, id, true);
}

static int
add_peer(struct media_session *s, const char *id, bool watch_only)
{
	if (!valid_id(id)) {
		return -EINVAL;
	}
	if (g_hash_table_contains(s->peers, id)) {
		return -EEXIST;
	}
	if (g_hash_table_size(s->peers) >= MEDIA_MAX_PARTICIPANTS) {
		return -E2BIG;
	}
	struct peer *p = g_new0(struct peer, 1);
	p->s = s;
	p->id = g_strdup(id);
	p->serial = ++s->next_serial;
	p->dirty = true;
	p->webrtc = make_webrtc(s, p);
	if (!p->webrtc) {
		goto fail;
	}
	gst_object_ref_sink(p->webrtc);

	struct peer_link *l = g_atomic_rc_box_new0(struct peer_link);
	l->sh = shared_ref(s->sh);
	l->serial = p->serial;
	l->watch_only = watch_only;
	p->link = l;
	for (int k = 0; k < 2; k++) {
		GstCaps *caps = gst_caps_from_string(recv_caps[k]);
		g_signal_emit_by_name(p->webrtc, "add-transceiver",
		                      watch_only ? GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_INACTIVE
		                                 : GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY,
		                      caps, &l->recv[k]);
		gst_caps_unref(caps);
		char name[32];
		g_snprintf(name, sizeof(name), "recv-%u-%s", p->serial, kind_names[k]);
		p->tee[k] = gst_element_factory_make("tee", name);
		if (!l->recv[k] || !p->tee[k]) {
			goto fail;
		}
		gst_object_ref_sink(p->tee[k]);
		g_object_set(p->tee[k], "allow-not-linked", TRUE, NULL);
		l->tee_sink[k] = gst_element_get_static_pad(p->tee[k], "sink");
	}
	/* The link is complete: only now may GStreamer threads see it. */
	g_signal_connect_data(p->webrtc, "on-ice-candidate", G_CALLBACK(on_ice_candidate),
	                      link_acquire(l), link_closure_notify, 0);
	g_signal_connect_data(p->webrtc, "notify::connection-state",
	                      G_CALLBACK(on_connection_state), link_acquire(l), link_closure_notify,
	                      0);
	g_signal_connect_data(p->webrtc, "pad-added", G_CALLBACK(on_pad_added), link_acquire(l),
	                      link_closure_notify, 0);

	for (int k = 0; k < 2; k++) {
		if (!gst_bin_add(GST_BIN(s->pipeline), p->tee[k]) ||
		    !gst_element_sync_state_with_parent(p->tee[k])) {
			goto fail_in_bin;
		}
	}
	if (!gst_bin_add(GST_BIN(s->pipeline), p->webrtc) ||
	    !gst_element_sync_state_with_parent(p->webrtc)) {
		goto fail_in_bin;
	}
	g_hash_table_insert(s->peers, p->id, p);
	g_hash_table_insert(s->by_serial, GUINT_TO_POINTER(p->serial), p);
	td_info(MOD, "participant added", "session=%u peer=%s watch_only=%d", s->serial, p->id,
	        watch_only);

	/* Every stream already flowing is offered to the newcomer. */
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->peers);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct peer *from = v;
		for (int k = 0; from != p && k < 2; k++) {
			if (from->stream[k]) {
				forward_create(s, from, p, (enum media_kind)k);
			}
		}
	}
	peer_negotiate(p);
	return 0;

fail_in_bin:
	/* Elements already in the bin are stopped and taken out again. */
	for (int k = 0; k < 2; k++) {
		if (p->tee[k] && GST_OBJECT_PARENT(p->tee[k])) {
			gst_element_set_state(p->tee[k], GST_STATE_NULL);
			gst_bin_remove(GST_BIN(s->pipeline), p->tee[k]);
		}
	}
	if (GST_OBJECT_PARENT(p->webrtc)) {
		gst_element_set_state(p->webrtc, GST_STATE_NULL);
		gst_bin_remove(GST_BIN(s->pipeline), p->webrtc);
	}
fail:
	td_error(MOD, "cannot add participant", "session=%u peer=%s", s->serial, id);
	if (p->webrtc) {
		gst_element_set_state(p->webrtc, GST_STATE_NULL);
	}
	peer_free(p);
	return -EIO;
}

/* ---- negotiation ------------------------------------------------------------------------ */

struct promise_ctx {
	struct shared *sh;
	unsigned peer;
	unsigned gen;
	enum msg_type type;
};

static void
promise_ctx_free(gpointer data)
{
	struct promise_ctx *c = data;
	shared_unref(c->sh);
	g_free(c);
}

/* webrtcbin's thread: a promise was answered. Never wait here (MEDIA.md). */
static void
on_promise(GstPromise *promise, gpointer data)
{
	struct promise_ctx *c = data;
	struct msg *m = msg_new(c->type, c->peer);
	m->n = c->gen;
	const GstStructure *reply = NULL;
	if (gst_promise_wait(promise) == GST_PROMISE_RESULT_REPLIED) {
		reply = gst_promise_get_reply(promise);
	} else {
		m->str = g_strdup("interrupted");
	}
	if (reply && gst_structure_has_field(reply, "error")) {
		GError *err = NULL;
		gst_structure_get(reply, "error", G_TYPE_ERROR, &err, NULL);
		m->str = g_strdup(err ? err->message : "error");
		g_clear_error(&err);
	} else if (reply && c->type == MSG_OFFER_CREATED) {
		gst_structure_get(reply, "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &m->desc,
		                  NULL);
		if (!m->desc) {
			m->str = g_strdup("no offer");
		}
	}
	post(c->sh, m);
}

static GstPromise *
promise_for(struct peer *p, enum msg_type type)
{
	struct promise_ctx *c = g_new0(struct promise_ctx, 1);
	c->sh = shared_ref(p->s->sh);
	c->peer = p->serial;
	c->gen = p->gen;
	c->type = type;
	return gst_promise_new_with_change_func(on_promise, c, promise_ctx_free);
}

/* Emits a webrtcbin action that answers through a promise; webrtcbin holds its own reference. */
static void
ask(struct peer *p, const char *action, gpointer arg, enum msg_type type)
{
	GstPromise *promise = promise_for(p, type);
	g_signal_emit_by_name(p->webrtc, action, arg, promise);
	gst_promise_unref(promise);
}

/*
 * Makes a new offer for p when something changed and p is not in the middle
 * of a negotiation (then it is done after the answer), and only once every
 * stream forwarded to p has its caps: they carry the SSRC the offer must
 * announce (MEDIA.md: an offer made earlier announced a random SSRC and the
 * receiver never exposed the stream).
 */
void
peer_negotiate(struct peer *p)
{
	struct media_session *s = p->s;
	if (p->removing || !p->dirty || p->neg != NEG_IDLE) {
		return;
	}
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->fwds);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct fwd *f = v;
		if (f->to == p && !f->closed && !f->have_caps) {
			return; /* MSG_CAPS calls again */
		}
	}
	p->dirty = false;
	p->gen++;
	p->neg = NEG_CREATING;
	g_hash_table_iter_init(&it, s->fwds);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct fwd *f = v;
		if (f->to == p && !f->closed && f->offered_gen == 0) {
			f->offered_gen = p->gen;
		}
	}
	td_debug(MOD, "creating offer", "session=%u peer=%s gen=%u", s->serial, p->id, p->gen);
	ask(p, "create-offer", NULL, MSG_OFFER_CREATED);
}

/*
 * The forwarded streams' SSRCs must be in the offer. MSG_CAPS comes once
 * webrtcbin's sink pad has stored the caps, so this holds; should it not,
 * the offer is thrown away and made again rather than sent wrong.
 */
static bool
offer_announces_ssrcs(struct media_session *s, struct peer *p, const GstSDPMessage *sdp)
{
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->fwds);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct fwd *f = v;
		if (f->to != p || f->closed || !f->has_ssrc || f->offered_gen == 0) {
			continue;
		}
		bool found = false;
		for (guint i = 0; i < gst_sdp_message_medias_len(sdp) && !found; i++) {
			found =
			    media_sdp_media_has_ssrc(gst_sdp_message_get_media(sdp, i), f->ssrc);
		}
		if (!found) {
			td_debug(MOD, "offer without a forwarded SSRC", "peer=%s from=%s ssrc=%u",
			         p->id, f->from->id, f->ssrc);
			return false;
		}
	}
	return true;
}

/*
 * libnice asks the router for port mappings (UPnP-IGD) by default: a server
 * has no business doing that, and gupnp binds ports of its own on every
 * interface (seen failing with "Address already in use" under load). webrtcbin
 * does not expose its NiceAgent but its nicesrc does, once the transport
 * exists (after create-offer); gathering starts only with
 * set-local-description. True when done.
 */
static bool
no_upnp(GstElement *webrtc)
{
	bool done = false;
	GstIterator *it = gst_bin_iterate_recurse(GST_BIN(webrtc));
	GValue v = G_VALUE_INIT;
	while (!done && gst_iterator_next(it, &v) == GST_ITERATOR_OK) {
		GstElement *e = g_value_get_object(&v);
		GstElementFactory *f = gst_element_get_factory(e);
		if (f && strcmp(GST_OBJECT_NAME(f), "nicesrc") == 0) {
			GObject *agent = NULL;
			g_object_get(e, "agent", &agent, NULL);
			if (agent &&
			    g_object_class_find_property(G_OBJECT_GET_CLASS(agent), "upnp")) {
				g_object_set(agent, "upnp", FALSE, NULL);
				done = true;
			}
			g_clear_object(&agent);
		}
		g_value_reset(&v);
	}
	g_value_unset(&v);
	gst_iterator_free(it);
	return done;
}

static void
on_offer_created(struct media_session *s, struct peer *p, struct msg *m)
{
	if (m->n != p->gen || p->neg != NEG_CREATING) {
		return;
	}
	if (m->str) {
		p->neg = NEG_IDLE;
		td_error(MOD, "offer failed", "session=%u peer=%s reason=%s", s->serial, p->id,
		         m->str);
		queue_event(s, EV_FAILED, p->id, m->str, 0, 0);
		return;
	}
	if (!offer_announces_ssrcs(s, p, m->desc->sdp)) {
		p->neg = NEG_IDLE;
		p->dirty = true;
		if (++p->retries > 50) {
			queue_event(s, EV_FAILED, p->id, "offer without the forwarded SSRCs", 0, 0);
			return;
		}
		peer_negotiate(p);
		return;
	}
	p->retries = 0;
	if (!p->upnp_off) {
		p->upnp_off = no_upnp(p->webrtc);
	}
	if (p->offer) {
		gst_sdp_message_free(p->offer);
	}
	gst_sdp_message_copy(m->desc->sdp, &p->offer);
	ask(p, "set-local-description", m->desc, MSG_LOCAL_SET);
	p->neg = NEG_WAIT_ANSWER;
	char *text = gst_sdp_message_as_text(p->offer);
	td_info(MOD, "offer", "session=%u peer=%s gen=%u mlines=%u", s->serial, p->id, p->gen,
	        gst_sdp_message_medias_len(p->offer));
	queue_event(s, EV_OFFER, p->id, text, 0, 0);
	g_free(text);
}

/* Asks the sender of every newly received video stream of p for a keyframe. */
static void
peer_kick_keyframes(struct media_session *s, struct peer *p)
{
	if (!p->connected) {
		return;
	}
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->fwds);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct fwd *f = v;
		if (f->to == p && f->kind == MEDIA_KIND_VIDEO && f->negotiated && !f->closed &&
		    !f->keyframe_asked) {
			f->keyframe_asked = true;
			peer_request_keyframe(f->from);
		}
	}
}

static void
on_remote_set(struct media_session *s, struct peer *p, struct msg *m)
{
	if (m->n != p->gen || p->neg != NEG_APPLYING) {
		return;
	}
	if (m->str) {
		/* webrtcbin stays in have-local-offer: a corrected answer may follow. */
		p->neg = NEG_WAIT_ANSWER;
		td_warn(MOD, "answer refused", "session=%u peer=%s", s->serial, p->id);
		queue_event(s, EV_FAILED, p->id, m->str, 0, 0);
		return;
	}
	p->neg = NEG_IDLE;
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->fwds);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct fwd *f = v;
		if (f->to == p && f->offered_gen != 0 && f->offered_gen <= p->gen) {
			f->negotiated = true;
		}
	}
	peer_kick_keyframes(s, p);
	peer_negotiate(p);
}

static void
on_conn_state(struct media_session *s, struct peer *p, GstWebRTCPeerConnectionState st)
{
	if (st == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED && !p->connected) {
		p->connected = true;
		td_info(MOD, "connected", "session=%u peer=%s", s->serial, p->id);
		queue_event(s, EV_CONNECTED, p->id, NULL, 0, 0);
		peer_kick_keyframes(s, p);
	} else if (st == GST_WEBRTC_PEER_CONNECTION_STATE_FAILED && !p->failed) {
		p->connected = false;
		p->failed = true;
		td_warn(MOD, "connection failed", "session=%u peer=%s", s->serial, p->id);
		queue_event(s, EV_FAILED, p->id, "ICE or DTLS failed", 0, 0);
	}
	if (st == GST_WEBRTC_PEER_CONNECTION_STATE_CONNECTED) {
		p->failed = false;
	}
}

static void
on_stream(struct media_session *s, struct peer *p, struct msg *m)
{
	int k = m->value;
	gst_object_replace((GstObject **)&p->stream[k], GST_OBJECT(m->pad));
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->peers);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct peer *to = v;
		if (to != p && !forward_find(s, p, to, (enum media_kind)k)) {
			forward_create(s, p, to, (enum media_kind)k);
		}
	}
	recorder_add(s, p, (enum media_kind)k);
}

void
session_handle(struct media_session *s, struct msg *m)
{
	if (m->type == MSG_NONE) {
		return;
	}
	if (m->type == MSG_BLOCKED || m->type == MSG_PEER_DOWN) {
		removal_handle(s, m);
		return;
	}
	if (m->type == MSG_STATS) {
		stats_handle(s, m);
		return;
	}
	if (m->type >= MSG_REC_BLOCKED) {
		recorder_handle(s, m);
		return;
	}
	struct peer *p = peer_by_serial(s, m->peer);
	if (!p) {
		return; /* removed meanwhile */
	}
	switch (m->type) {
	case MSG_OFFER_CREATED:
		on_offer_created(s, p, m);
		break;
	case MSG_LOCAL_SET:
		if (m->str && m->n == p->gen) {
			td_error(MOD, "local description refused", "session=%u peer=%s", s->serial,
			         p->id);
			queue_event(s, EV_FAILED, p->id, m->str, 0, 0);
		}
		break;
	case MSG_REMOTE_SET:
		on_remote_set(s, p, m);
		break;
	case MSG_CANDIDATE:
		queue_event(s, EV_CANDIDATE, p->id, m->str, m->n, 0);
		break;
	case MSG_CONN_STATE:
		on_conn_state(s, p, (GstWebRTCPeerConnectionState)m->value);
		break;
	case MSG_STREAM:
		on_stream(s, p, m);
		break;
	case MSG_FIRST_MEDIA:
		td_info(MOD, "first media", "session=%u peer=%s kind=%s", s->serial, p->id,
		        kind_names[m->value]);
		queue_event(s, EV_FIRST_MEDIA, p->id, NULL, 0, m->value);
		break;
	case MSG_CAPS:
		forward_caps(s, p, m);
		break;
	case MSG_ERROR:
		queue_event(s, EV_FAILED, p->id, m->str, 0, 0);
		break;
	default:
		break;
	}
}

/* ---- API ------------------------------------------------------------------------------ */

int
media_session_set_answer(struct media_session *s, const char *id, const char *sdp)
{
	struct peer *p = id ? g_hash_table_lookup(s->peers, id) : NULL;
	if (!p || p->removing) {
		return -ENOENT;
	}
	if (p->neg != NEG_WAIT_ANSWER || !p->offer) {
		return -EPROTO;
	}
	GstSDPMessage *msg = NULL;
	const char *why = NULL;
	int rc = media_sdp_check_answer(p->offer, sdp, &msg, &why);
	if (rc < 0) {
		td_info(MOD, "answer refused", "session=%u peer=%s reason=\"%s\"", s->serial, p->id,
		        why ? why : "-");
		return rc;
	}
	GstWebRTCSessionDescription *desc =
	    gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, msg);
	p->neg = NEG_APPLYING;
	ask(p, "set-remote-description", desc, MSG_REMOTE_SET);
	gst_webrtc_session_description_free(desc);
	p->answered = true;
	/* Candidates that came before the first answer go in after it (same task queue). */
	if (p->early) {
		for (guint i = 0; i < p->early->len; i++) {
			struct early_candidate *c = g_ptr_array_index(p->early, i);
			g_signal_emit_by_name(p->webrtc, "add-ice-candidate", c->mline,
			                      c->candidate);
		}
		g_clear_pointer(&p->early, g_ptr_array_unref);
	}
	return 0;
}

static void
early_free(gpointer data)
{
	struct early_candidate *c = data;
	g_free(c->candidate);
	g_free(c);
}

int
media_session_add_ice_candidate(struct media_session *s, const char *id, unsigned mline,
				const char *candidate)
{
	struct peer *p = id ? g_hash_table_lookup(s->peers, id) : NULL;
	if (!p || p->removing) {
		return -ENOENT;
	}
	if (!p->offer) {
		return -EPROTO;
	}
	if (!candidate || !*candidate) {
		return 0; /* end of candidates: libnice needs no word of it */
	}
	if (mline >= gst_sdp_message_medias_len(p->offer) || media_check_candidate(candidate) < 0) {
		return -EINVAL;
	}
	if (!p->answered) {
		if (!p->early) {
			p->early = g_ptr_array_new_with_free_func(early_free);
		}
		if (p->early->len >= MAX_EARLY_CANDIDATES) {
			return -ENOSPC;
		}
		struct early_candidate *c = g_new0(struct early_candidate, 1);
		c->mline = mline;
		c->candidate = g_strdup(candidate);
		g_ptr_array_add(p->early, c);
		return 0;
	}
	g_signal_emit_by_name(p->webrtc, "add-ice-candidate", mline, candidate);
	return 0;
}

/* Sends an upstream force-key-unit into p's video source pad: rtpsession turns it into PLI. */
void
peer_request_keyframe(struct peer *p)
{
	if (!p->stream[MEDIA_KIND_VIDEO]) {
		return;
	}
	GstEvent *ev = gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0);
	if (!gst_pad_send_event(p->stream[MEDIA_KIND_VIDEO], ev)) {
		td_debug(MOD, "keyframe request not handled", "peer=%s", p->id);
	}
}

int
media_session_request_keyframe(struct media_session *s, const char *id)
{
	struct peer *p = id ? g_hash_table_lookup(s->peers, id) : NULL;
	if (!p || p->removing) {
		return -ENOENT;
	}
	if (!p->stream[MEDIA_KIND_VIDEO]) {
		return -EAGAIN;
	}
	peer_request_keyframe(p);
	return 0;
}

unsigned
media_session_participants(const struct media_session *s)
{
	return g_hash_table_size(s->peers);
}

/* ---- the bus ------------------------------------------------------------------------------ */

static struct peer *
peer_of_object(struct media_session *s, GstObject *o)
{
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, s->by_serial);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct peer *p = v;
		if (o == GST_OBJECT(p->webrtc) ||
		    gst_object_has_as_ancestor(o, GST_OBJECT(p->webrtc))) {
			return p;
		}
	}
	return NULL;
}

static gboolean
on_bus(GstBus *bus, GstMessage *msg, gpointer data)
{
	struct media_session *s = data;
	if (GST_MESSAGE_TYPE(msg) != GST_MESSAGE_ERROR &&
	    GST_MESSAGE_TYPE(msg) != GST_MESSAGE_WARNING) {
		return G_SOURCE_CONTINUE;
	}
	GError *err = NULL;
	char *dbg = NULL;
	bool error = GST_MESSAGE_TYPE(msg) == GST_MESSAGE_ERROR;
	if (error) {
		gst_message_parse_error(msg, &err, &dbg);
	} else {
		gst_message_parse_warning(msg, &err, &dbg);
	}
	struct peer *p = peer_of_object(s, GST_MESSAGE_SRC(msg));
	char *where = gst_object_get_path_string(GST_MESSAGE_SRC(msg));
	char *quoted = g_strescape(err->message, NULL);
	if (error) {
		td_error(MOD, "pipeline error", "session=%u peer=%s element=%s error=\"%s\"",
		         s->serial, p ? p->id : "-", where, quoted);
	} else {
		td_warn(MOD, "pipeline warning", "session=%u peer=%s element=%s warning=\"%s\"",
		        s->serial, p ? p->id : "-", where, quoted);
	}
	if (error && p && !p->removing) {
		/* One participant's leg broke: the others go on. */
		queue_event(s, EV_FAILED, p->id, err->message, 0, 0);
	} else if (error && !p) {
		queue_event(s, EV_ERROR, NULL, err->message, 0, -EIO);
	}
	g_free(quoted);
	g_free(where);
	g_free(dbg);
	g_clear_error(&err);
	return G_SOURCE_CONTINUE;
}

/* ---- create / destroy ------------------------------------------------------------------ */

static char **
strv_copy(const char *const *v)
{
	return v ? g_strdupv((char **)v) : NULL;
}

struct media_session *
media_session_create(const struct media_options *opts, const struct media_session_events *events,
		     void *data)
{
	static gint serials;
	if (!opts || !events) {
		errno = EINVAL;
		return NULL;
	}
	for (const char *const *a = opts->local_addresses; a && *a; a++) {
		if (!media_check_address(*a)) {
			errno = EINVAL;
			return NULL;
		}
	}
	if (media_init() < 0) {
		errno = ENOENT;
		return NULL;
	}
	struct media_session *s = g_new0(struct media_session, 1);
	s->serial = (unsigned)g_atomic_int_add(&serials, 1) + 1;
	s->events = events;
	s->data = data;
	s->latency_ms = opts->latency_ms ? opts->latency_ms : DEFAULT_LATENCY_MS;
	s->stun = g_strdup(opts->stun_server);
	s->turn = strv_copy(opts->turn_servers);
	s->addrs = strv_copy(opts->local_addresses);
	s->peers = g_hash_table_new(g_str_hash, g_str_equal);
	s->by_serial = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)peer_free);
	s->fwds = g_hash_table_new_full(NULL, NULL, NULL, (GDestroyNotify)forward_free);
	g_queue_init(&s->events_out);
	s->stats = g_hash_table_new_full(NULL, NULL, NULL, stats_req_free);
	if (opts->recording_dir && recorder_create(s, opts->recording_dir) < 0) {
		g_free(s->stun);
		g_strfreev(s->turn);
		g_strfreev(s->addrs);
		g_hash_table_destroy(s->peers);
		g_hash_table_destroy(s->by_serial);
		g_hash_table_destroy(s->fwds);
		g_hash_table_destroy(s->stats);
		g_free(s);
		errno = EINVAL;
		return NULL;
	}

	struct shared *sh = g_new0(struct shared, 1);
	g_atomic_ref_count_init(&sh->ref);
	sh->ctx = g_main_context_ref_thread_default();
	g_mutex_init(&sh->lock);
	g_queue_init(&sh->msgs);
	sh->s = s;
	s->sh = sh;

	char name[32];
	g_snprintf(name, sizeof(name), "session-%u", s->serial);
	s->pipeline = gst_pipeline_new(name);
	gst_object_ref_sink(s->pipeline);
	GstBus *bus = gst_pipeline_get_bus(GST_PIPELINE(s->pipeline));
	s->bus_watch = gst_bus_create_watch(bus);
	gst_object_unref(bus);
	g_source_set_callback(s->bus_watch, (GSourceFunc)(void (*)(void))on_bus, s, NULL);
	g_source_attach(s->bus_watch, sh->ctx);
	if (gst_element_set_state(s->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
		media_session_destroy(s);
		errno = EIO;
		return NULL;
	}
	td_info(MOD, "session created", "session=%u", s->serial);
	return s;
}

static bool
is_webrtcbin(GstElement *e)
{
	GstElementFactory *f = gst_element_get_factory(e);
	return f && strcmp(GST_OBJECT_NAME(f), "webrtcbin") == 0;
}

/*
 * A worker thread. Forwarding makes the graph a cycle (A's webrtcbin feeds
 * B's, which feeds A's), and a bin cannot order a cycle for a state change
 * ("loop detected in the graph"): the children are stopped one by one
 * instead, the webrtcbins (network) first, then taken out, and only then
 * does the empty pipeline go to NULL.
 */
static void
pipeline_down(void *data)
{
	GstElement *pipeline = data;
	GList *children = NULL;
	GST_OBJECT_LOCK(pipeline);
	for (GList *l = GST_BIN_CHILDREN(pipeline); l; l = l->next) {
		children = g_list_prepend(children, gst_object_ref(l->data));
	}
	GST_OBJECT_UNLOCK(pipeline);
	for (int pass = 0; pass < 2; pass++) {
		for (GList *l = children; l; l = l->next) {
			if (is_webrtcbin(l->data) == (pass == 0)) {
				gst_element_set_locked_state(l->data, TRUE);
				gst_element_set_state(l->data, GST_STATE_NULL);
			}
		}
	}
	for (GList *l = children; l; l = l->next) {
		if (GST_OBJECT_PARENT(l->data) == GST_OBJECT(pipeline)) {
			gst_bin_remove(GST_BIN(pipeline), l->data);
		}
	}
	g_list_free_full(children, gst_object_unref);
	gst_element_set_state(pipeline, GST_STATE_NULL);
	gst_object_unref(pipeline);
}

void
media_session_destroy(struct media_session *s)
{
	if (!s) {
		return;
	}
	td_info(MOD, "session destroyed", "session=%u participants=%u", s->serial,
	        g_hash_table_size(s->peers));
	s->sh->s = NULL;
	g_source_destroy(s->bus_watch);
	g_source_unref(s->bus_watch);
	/* Our references go first; the pipeline keeps its elements until it is down. */
	g_hash_table_destroy(s->fwds);
	g_hash_table_destroy(s->peers);
	g_hash_table_destroy(s->by_serial);
	struct event *e;
	while ((e = g_queue_pop_head(&s->events_out))) {
		event_free(e);
	}
	recorder_free(s->rec);
	g_hash_table_destroy(s->stats);
	media_worker_run(pipeline_down, s->pipeline);
	shared_unref(s->sh);
	g_free(s->stun);
	g_strfreev(s->turn);
	g_strfreev(s->addrs);
	g_free(s);
}
