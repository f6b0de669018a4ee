/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

#include "media-private.h"

#include <gst/video/video.h>

/*
 * The parts of a session shared by session.c (lifecycle, negotiation) and
 * forward.c (streams between participants, removal). Everything here is
 * touched on the owner's main context only, except struct shared and
 * struct peer_link, which GStreamer threads hold.
 */

enum msg_type {
	MSG_NONE,          /* only wakes the drain (queued events) */
	MSG_OFFER_CREATED, /* n: generation; desc or str (error) */
	MSG_LOCAL_SET,     /* n: generation; str: error */
	MSG_REMOTE_SET,    /* n: generation; str: error */
	MSG_CANDIDATE,     /* n: m-line; str */
	MSG_CONN_STATE,    /* value: GstWebRTCPeerConnectionState */
	MSG_STREAM,        /* value: kind; pad: webrtcbin's src pad, now linked to the tee */
	MSG_FIRST_MEDIA,   /* value: kind */
	MSG_CAPS,          /* n: forward serial; caps */
	MSG_ERROR,         /* str */
	MSG_STATS,         /* n: request; data: webrtcbin's stats (GstStructure), NULL if none */
	MSG_BLOCKED,       /* removal: one pad of the leaving participant is blocked */
	MSG_PEER_DOWN,     /* removal: elements (already NULL) to take out of the bin */
	MSG_REC_BLOCKED,   /* recording: n: a track's tee pad is blocked (0: the guard) */
	MSG_REC_EOS,       /* recording: n: EOS reached the track's filesink */
	MSG_REC_DOWN,      /* recording: n: the track's elements (NULL) to take out */
	MSG_REC_DONE,      /* recording: data: the remux and its verification */
};

struct msg {
	enum msg_type type;
	unsigned peer; /* serial of the participant */
	unsigned n;
	int value;
	char *str;
	GstWebRTCSessionDescription *desc;
	GstPad *pad;
	GstCaps *caps;
	GPtrArray *elements;
	void *data;
	GDestroyNotify data_free;
};

/* What GStreamer threads may hold. */
struct shared {
	gatomicrefcount ref;
	GMainContext *ctx;
	GMutex lock;
	GQueue msgs; /* of struct msg*, under lock */
	bool scheduled;
	struct media_session *s; /* loop only; NULL once destroyed */
};

/* What a participant's signal handlers see: set before they are connected, then read-only. */
struct peer_link {
	struct shared *sh;
	unsigned serial;
	GstPad *tee_sink[2];              /* where the received streams go */
	GstWebRTCRTPTransceiver *recv[2]; /* our receiving transceivers */
	gint removing;                    /* atomic */
	bool watch_only;                  /* set before any thread sees the link */
};

enum neg_state {
	NEG_IDLE,
	NEG_CREATING,    /* create-offer in flight */
	NEG_WAIT_ANSWER, /* offer sent */
	NEG_APPLYING,    /* set-remote-description in flight */
};

struct early_candidate {
	unsigned mline;
	char *candidate;
};

struct peer {
	struct media_session *s;
	char *id;
	unsigned serial;
	struct peer_link *link;
	GstElement *webrtc;
	GstElement *tee[2]; /* one per received stream */
	GstPad *stream[2];  /* webrtcbin's src pad of the received stream (NULL before media) */
	bool removing;
	unsigned blocks_pending;
	enum neg_state neg;
	bool dirty; /* something changed since the last offer */
	unsigned gen;
	unsigned retries;
	GstSDPMessage *offer; /* the last offer */
	bool answered;
	GPtrArray *early; /* struct early_candidate*, before the first answer */
	bool connected;
	bool failed;
	bool upnp_off;
};

/* One stream of one participant forwarded to another: tee ! queue ! webrtcbin. */
struct fwd {
	unsigned serial;
	struct peer *from, *to;
	enum media_kind kind;
	GstPad *tee_pad; /* request pad of from->tee[kind] */
	GstElement *queue;
	GstPad *sink; /* request pad of to->webrtc */
	GstWebRTCRTPTransceiver *trans;
	gulong caps_handler; /* notify::caps on sink */
	bool have_caps;
	bool has_ssrc;
	guint32 ssrc;
	unsigned offered_gen; /* to's offer generation that first carried it; 0: none yet */
	bool negotiated;
	bool keyframe_asked;
	bool closed; /* from left: the transceiver is inactive */
	bool torn;   /* its queue is being stopped */
};

enum event_type {
	EV_OFFER,
	EV_CANDIDATE,
	EV_CONNECTED,
	EV_FAILED,
	EV_FIRST_MEDIA,
	EV_ERROR,
	EV_RECORDING, /* str: path, str2: sha256, str3: reason, value: verified, num: duration */
	EV_STATS,     /* ptr: the struct stats_req, complete */
};

struct event {
	enum event_type type;
	char *participant;
	char *str;
	char *str2;
	char *str3;
	unsigned mline;
	int value;
	double num;
	void *ptr;
	void (*ptr_free)(void *ptr);
};

struct media_session {
	unsigned serial; /* for logs */
	struct shared *sh;
	const struct media_session_events *events;
	void *data;
	unsigned latency_ms;
	char *stun;
	char **turn;
	char **addrs;
	GstElement *pipeline;
	GSource *bus_watch;
	GHashTable *peers;     /* id → struct peer*, participants not leaving */
	GHashTable *by_serial; /* serial → struct peer* (owns them), leaving ones too */
	GHashTable *fwds;      /* serial → struct fwd* (owns them) */
	unsigned next_serial;
	GQueue events_out; /* struct event* */
	struct recorder *rec; /* NULL: not recording */
	bool in_drain;
	GHashTable *stats; /* request id → struct stats_req* (stats.c) */
	unsigned next_stats;
};

const char *media_kind_name(enum media_kind k);

struct shared *shared_ref(struct shared *sh);
void shared_unref(struct shared *sh);
struct msg *msg_new(enum msg_type type, unsigned peer);
void msg_free(struct msg *m);
void post(struct shared *sh, struct msg *m);

struct peer_link *link_acquire(struct peer_link *l);
void link_release(struct peer_link *l);

/* What a pad probe knows. */
struct probe_ctx {
	struct shared *sh;
	unsigned peer;
	unsigned n;
	int value;
	gint fired; /* atomic */
};

struct probe_ctx *probe_ctx_new(struct shared *sh, unsigned peer, unsigned n, int value);
void probe_ctx_destroy(gpointer data);

struct event *queue_event(struct media_session *s, enum event_type type, const char *participant,
		 const char *str, unsigned mline, int value);
void session_handle(struct media_session *s, struct msg *m);

struct peer *peer_by_serial(struct media_session *s, unsigned serial);
void peer_free(struct peer *p);
void peer_negotiate(struct peer *p);
void peer_request_keyframe(struct peer *p);

/* forward.c */
struct fwd *forward_find(struct media_session *s, struct peer *from, struct peer *to,
			 enum media_kind k);
void forward_create(struct media_session *s, struct peer *from, struct peer *to, enum media_kind k);
void forward_free(struct fwd *f);
void forward_caps(struct media_session *s, struct peer *to, struct msg *m);
void removal_handle(struct media_session *s, struct msg *m);

/* stats.c */
void stats_req_free(gpointer req);
void stats_handle(struct media_session *s, struct msg *m);
void stats_deliver(struct media_session *s, struct event *e);

/* recorder.c */
int recorder_create(struct media_session *s, const char *dir);
void recorder_free(struct recorder *r);
void recorder_add(struct media_session *s, struct peer *p, enum media_kind k);
void recorder_detach_participant(struct media_session *s, struct peer *p);
void recorder_handle(struct media_session *s, struct msg *m);
