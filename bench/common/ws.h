/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * A minimal RFC 6455 client for the load generators (bench/rpc, bench/auth,
 * bench/cases):
 * plain sockets in one epoll set, one thread. The handshake is blocking and
 * checked against Sec-WebSocket-Accept and the subprotocol; afterwards the
 * socket is non-blocking: masked frames out (one at a time per connection),
 * unmasked frames in, pings answered, fragmented messages reassembled and
 * handed to the client's on_message.
 *
 * A connection is registered in the epoll set with data.ptr = the struct
 * ws_conn; a program that needs more per connection embeds struct ws_conn in
 * its own struct and gets back to it with container_of-style arithmetic.
 * Any protocol or socket error ends the program (exit status 2): a load
 * generator has nothing to recover.
 */

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#define WS_RBUF_SIZE (64 * 1024)
#define WS_WBUF_SIZE 4096 /* a petition.submit with its text fits */

struct ws_client;
struct ws_conn;

/* A complete text or binary message (m is NUL-terminated, len excludes it). */
typedef void (*ws_message_fn)(struct ws_client *cl, struct ws_conn *c, const char *m,
			      size_t len);

struct ws_client {
	const char *host; /* IPv4 address */
	int port;
	const char *path;
	const char *subprotocol;
	ws_message_fn on_message;
	void *data; /* the program's own */
	int epfd;
	uint64_t prng;
};

struct ws_conn {
	int fd;
	unsigned idx;
	/* read side: raw bytes and the message being reassembled */
	unsigned char *rbuf;
	size_t rlen;
	GString *msg;
	/* write side: a frame that did not go out in one write() */
	unsigned char wbuf[WS_WBUF_SIZE + 128];
	size_t wlen, woff;
	bool want_out;
};

/* Host 127.0.0.1, path /ws, subprotocol tiepdan.v1, a seeded PRNG, a new epoll set. */
void ws_client_init(struct ws_client *cl, ws_message_fn on_message, void *data);

/* xorshift64*: mask keys need not be cryptographic in a load generator. */
uint32_t ws_prng_next(struct ws_client *cl);

/*
 * Blocking connect (TCP_NODELAY) and upgrade; the socket turns non-blocking
 * and joins the epoll set. Bytes that follow the 101 response stay in
 * c->rbuf: call ws_parse_frames once the program is ready for messages.
 */
void ws_conn_open(struct ws_client *cl, struct ws_conn *c, unsigned idx);

/* One masked frame (FIN set) into c->wbuf, which must be empty; payload <= WS_WBUF_SIZE. */
void ws_queue_frame(struct ws_client *cl, struct ws_conn *c, int opcode, const void *payload,
		    size_t len);

/* Writes what c->wbuf holds; what does not go out waits for EPOLLOUT. */
void ws_flush_out(struct ws_client *cl, struct ws_conn *c);

/* ws_queue_frame of a text message, then ws_flush_out. */
void ws_send_text(struct ws_client *cl, struct ws_conn *c, const char *text, size_t len);

/* Parses every complete frame in c->rbuf, calling on_message for each message. */
void ws_parse_frames(struct ws_client *cl, struct ws_conn *c);

/* Handles one event of the epoll set (data.ptr is a struct ws_conn). */
void ws_handle_event(struct ws_client *cl, const struct epoll_event *ev);

/* A close frame (1000) written blocking, the answer not awaited; frees the connection. */
void ws_conn_close(struct ws_client *cl, struct ws_conn *c);
