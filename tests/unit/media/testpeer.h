/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * A WebRTC test peer in the test process: its own pipeline with a webrtcbin
 * that answers the server's offers, sends a test pattern (vp8enc deadline=1)
 * and a sine (opusenc), and decodes and counts what it receives. ICE on
 * 127.0.0.1 only. Everything is driven from the thread-default main context
 * of the thread that created it; GStreamer threads only hand work to it.
 */

#define GST_USE_UNSTABLE_API 1
#include <gst/gst.h>
#include <gst/webrtc/webrtc.h>
#include <stdbool.h>

#define TPEER_MAX_STREAMS 6

struct tpeer;

struct tpeer_events {
	/* The answer to the last offer: hand it to the server. */
	void (*answer)(void *data, struct tpeer *p, const char *sdp);
	/* A local candidate: hand it to the server. */
	void (*candidate)(void *data, struct tpeer *p, unsigned mline, const char *candidate);
};

struct tpeer_stream {
	gint used;   /* atomic: claimed by a received stream */
	gint linked; /* atomic: the loop knows the sender */
	char *from;  /* the sender's msid (loop only, once linked) */
	GstElement *depay, *dec, *sink;
	GstPad *src;    /* the webrtcbin pad feeding it */
	gint frames;    /* decoded video frames or audio buffers */
	gint keyframes; /* video key units received */
};

struct tpeer {
	char *name;
	GMainContext *ctx;
	GstElement *pipe, *webrtc;
	unsigned keyframe_max_dist;
	bool sending;
	int caps_needed;
	GstWebRTCSessionDescription *held_offer;
	GstSDPMessage *remote;
	struct tpeer_stream streams[2][TPEER_MAX_STREAMS]; /* [0] audio, [1] video */
	GstElement *spare[4]; /* fakesinks for pads of no known kind or past the decoders */
	gint spares_used;     /* atomic */
	gint keyframes_sent;                               /* key units out of our vp8enc */
	gint pending; /* work handed to the loop, not yet run */
	gint errors;
	int offers;
	guint bus_watch;
	const struct tpeer_events *ev;
	void *data;
};

/* keyframe_max_dist: vp8enc's; a huge one means keyframes only on request. */
struct tpeer *tpeer_create(const char *name, unsigned keyframe_max_dist,
			   const struct tpeer_events *ev, void *data);
void tpeer_destroy(struct tpeer *p);

void tpeer_offer(struct tpeer *p, const char *sdp);
void tpeer_add_candidate(struct tpeer *p, unsigned mline, const char *candidate);

/* The stream of kind (0 audio, 1 video) received from the sender with that msid, or NULL. */
struct tpeer_stream *tpeer_stream_from(struct tpeer *p, int kind, const char *from);
/* Frames (video) or buffers (audio) decoded from that sender; 0 when none. */
int tpeer_frames_from(struct tpeer *p, int kind, const char *from);

/* Asks the sender of the video received from `from` for a keyframe (RTCP PLI from our webrtcbin).
 */
bool tpeer_request_keyframe(struct tpeer *p, const char *from);
