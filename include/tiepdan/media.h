/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Live sessions (media/): one GStreamer pipeline per reception session, one
 * webrtcbin per participant, RTP forwarded between participants without
 * decoding (docs/media.md, ../shared/MEDIA.md).
 *
 * The server offers on every leg: VP8 (payload 96) and Opus (111) only,
 * bundle-policy max-bundle, trickle ICE both ways. Each participant sends one
 * audio and one video stream and receives every other participant's.
 *
 * Threads: every function here is called on the GLib main context that was
 * the thread-default one when the session was created, and every event is
 * delivered there, never from a GStreamer thread and never from inside a
 * call into this API (events are queued and delivered from the loop). An
 * event handler may call any function of this API, media_session_destroy()
 * included.
 *
 * Participants are named by the caller's ids (NUL-terminated, 1 to 64 bytes
 * of [A-Za-z0-9_.-]); the id is also the msid the other participants see.
 */

#include <stdbool.h>
#include <stdint.h>

#ifndef TD_WUR
#define TD_WUR __attribute__((warn_unused_result))
#endif

#define MEDIA_ID_MAX 64
#define MEDIA_MAX_PARTICIPANTS 6

enum media_kind {
	MEDIA_KIND_AUDIO = 0,
	MEDIA_KIND_VIDEO = 1,
};

struct media_options {
	/* (nullable) "stun://host:port". */
	const char *stun_server;
	/* (nullable) NULL-terminated "turn(s)://user:password@host:port". */
	const char *const *turn_servers;
	/*
	 * (nullable) NULL-terminated IP literals that ICE gathers on, instead of
	 * every interface. libnice skips 127.0.0.1 unless it is listed here:
	 * tests and benchmarks pass {"127.0.0.1", NULL}.
	 */
	const char *const *local_addresses;
	/* Jitter buffer of each leg in ms; 0 means 50. */
	unsigned latency_ms;
	/*
	 * (nullable) An existing writable directory: every received stream is
	 * recorded there (one file per track), and media_session_finish_recording()
	 * makes one WebM of them. NULL: no recording.
	 */
	const char *recording_dir;
};

/** A finished recording: one WebM with every participant's audio and video tracks. */
struct media_recording {
	const char *path;   /* <recording_dir>/session-<uuid>.webm */
	const char *sha256; /* (nullable) 64 lowercase hex digits of the file; NULL if unreadable */
	/* Decoded to the end, every track gave frames, duration within 1 s of the recording's. */
	bool verified;
	double duration_s;  /* as decoded */
	const char *reason; /* (nullable) why it failed verification */
};

#define MEDIA_SESSION_EVENTS_VERSION 0

/*
 * What a session tells its owner, on the owner's main context. Every member
 * may be NULL. Strings are (transfer none), valid during the call.
 */
struct media_session_events {
	uint32_t version; /* MEDIA_SESSION_EVENTS_VERSION */
	/* A local offer for the participant: send it, answer with media_session_set_answer(). */
	void (*offer)(void *data, const char *participant, const char *sdp);
	/* A local ICE candidate ("candidate:..." of the m-line mline) to trickle to the
	 * participant. */
	void (*ice_candidate)(void *data, const char *participant, unsigned mline,
	                      const char *candidate);
	/* ICE and DTLS are up on the participant's leg (again, after a failure). */
	void (*connected)(void *data, const char *participant);
	/* The leg failed (ICE or DTLS), or the participant's answer was refused by webrtcbin. */
	void (*failed)(void *data, const char *participant, const char *reason);
	/* The first packet of the participant's audio or video reached the server. */
	void (*first_media)(void *data, const char *participant, enum media_kind kind);
	/* The pipeline failed: the session cannot go on; destroy it. err is a negative errno. */
	void (*error)(void *data, int err, const char *message);
	/* After media_session_finish_recording(): the file was closed and checked (verified or not). */
	void (*recording_finished)(void *data, const struct media_recording *rec);
};

/**
 * Initialises GStreamer (when the caller has not), checks that every element
 * the sessions need is installed and starts making the DTLS certificate on
 * a worker thread (the first offer of a process otherwise waits for it:
 * 85-400 ms). Idempotent. 0, or -ENOENT when an element is missing (logged).
 */
int media_init(void) TD_WUR;

/** Blocks until the DTLS certificate is made: tests and benchmarks that measure time call it. */
void media_wait_ready(void);

/**
 * Waits until every destroyed session's pipeline is down and frees what
 * media_init() made. Call at exit, after the last media_session_destroy().
 */
void media_deinit(void);

struct media_session;

/**
 * A session with no participant; its pipeline plays at once.
 * opts (transfer none) is copied; events (transfer none) must outlive the session.
 * NULL with errno: EINVAL for bad options, ENOMEM, EIO when the pipeline does not start.
 */
struct media_session *media_session_create(const struct media_options *opts,
					   const struct media_session_events *events,
					   void *data) TD_WUR;

/**
 * Tears the session down as a whole: no event is delivered after this call;
 * the pipeline is stopped on a worker thread (the loop never waits for it).
 * Accepts NULL.
 */
void media_session_destroy(struct media_session *s);

/**
 * Adds a participant: makes its webrtcbin and, as soon as the streams of the
 * others it will receive are known, an offer (the offer event). The others
 * are offered this participant's streams once its media arrives.
 * 0, -EINVAL (bad id), -EEXIST, -E2BIG (MEDIA_MAX_PARTICIPANTS), -EIO.
 */
int media_session_add_participant(struct media_session *s, const char *id) TD_WUR;

/**
 * Adds a watch-only participant: it receives every other participant's streams and is
 * offered nothing to send (its receiving m-lines are inactive). Same results as
 * media_session_add_participant().
 */
int media_session_add_observer(struct media_session *s, const char *id) TD_WUR;

/**
 * Removes a participant while the others go on (they get a new offer
 * without its streams). Never blocks the loop. 0, -ENOENT.
 */
int media_session_remove_participant(struct media_session *s, const char *id) TD_WUR;

/**
 * The participant's answer to the last offer. Refused, changing nothing,
 * when the text is not an SDP answer to that offer (-EINVAL), or when no
 * offer is waiting for an answer (-EPROTO). -ENOENT for an unknown id.
 * Whatever webrtcbin refuses later is reported by the failed event.
 */
int media_session_set_answer(struct media_session *s, const char *id, const char *sdp) TD_WUR;

/**
 * A remote ICE candidate ("candidate:..." as in an SDP a= line, without the
 * "a="), for the m-line mline of the last offer. An empty or NULL candidate
 * ends the participant's candidates. -EINVAL (malformed, or mline out of
 * range), -ENOENT, -EPROTO (no offer made yet).
 */
int media_session_add_ice_candidate(struct media_session *s, const char *id, unsigned mline,
				    const char *candidate) TD_WUR;

/**
 * Asks the participant's sender for a keyframe (RTCP PLI). The server asks by
 * itself when a leg starts receiving a video stream. 0, -ENOENT, -EAGAIN
 * (no video from that participant yet).
 */
int media_session_request_keyframe(struct media_session *s, const char *id) TD_WUR;

/**
 * Ends the recording: every track gets EOS, then (on worker threads) the
 * tracks are remuxed into one WebM, decoded to check it, and hashed; the
 * recording_finished event follows. Media keeps flowing; streams that start
 * later are not recorded. The session must not be destroyed before the
 * event (the files would be left unfinished). 0, -ENOENT (not recording),
 * -EALREADY.
 */
int media_session_finish_recording(struct media_session *s) TD_WUR;

/** One participant's leg, as its webrtcbin counts it (totals since the leg was made). */
struct media_stats {
	const char *participant;
	uint64_t bytes_received;   /* RTP from the participant (inbound-rtp) */
	uint64_t packets_received;
	int64_t packets_lost;      /* of what the participant sent us */
	uint64_t bytes_sent;       /* RTP to the participant (outbound-rtp) */
	double round_trip_s;       /* from its receiver reports; -1 before the first */
};

/* n legs; stats (transfer none) valid during the call. */
typedef void (*media_stats_fn)(void *data, const struct media_stats *stats, unsigned n);

/**
 * Asks every leg's webrtcbin for its statistics; fn is called once, on the owner's context,
 * when all answered (never from inside this call, never after media_session_destroy()).
 * 0, -EINVAL.
 */
int media_session_get_stats(struct media_session *s, media_stats_fn fn, void *data) TD_WUR;

/** How many participants the session has (removed ones no more). */
unsigned media_session_participants(const struct media_session *s);

/** What media_recover_tracks() made of a crashed recording's tracks. */
struct media_recovered {
	bool readable;     /* the remuxed file decodes, every track gave frames */
	char *sha256;      /* (nullable) 64 lowercase hex digits of the remuxed file */
	double duration_s; /* as decoded */
	char *reason;      /* (nullable) why it is not readable */
};

/**
 * Blocking, for a worker thread (at start, after a crash): remuxes the track files of a
 * recording that was never finished (paths, NULL-terminated, named ...-audio.webm or
 * ...-video.webm as the recorder writes them) into one WebM at out, decodes and hashes it.
 * 0 when out was written (res says whether it reads), else a negative errno (res->reason).
 * Release res with media_recovered_clear().
 */
int media_recover_tracks(const char *const *paths, const char *out,
			 struct media_recovered *res) TD_WUR;
void media_recovered_clear(struct media_recovered *res);
