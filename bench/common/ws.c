/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

void
ws_client_init(struct ws_client *cl, ws_message_fn on_message, void *data)
{
	*cl = (struct ws_client){
		.host = "127.0.0.1",
		.path = "/ws",
		.subprotocol = "tiepdan.v1",
		.on_message = on_message,
		.data = data,
	};
	cl->prng = bench_now_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9E3779B97F4A7C15ull;
	cl->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (cl->epfd < 0) {
		bench_die("epoll_create1");
	}
}

uint32_t
ws_prng_next(struct ws_client *cl)
{
	cl->prng ^= cl->prng >> 12;
	cl->prng ^= cl->prng << 25;
	cl->prng ^= cl->prng >> 27;
	return (uint32_t)((cl->prng * 2685821657736338717ull) >> 32);
}

static void
write_all_blocking(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			bench_die("write (blocking)");
		}
		p += n;
		len -= (size_t)n;
	}
}

void
ws_conn_open(struct ws_client *cl, struct ws_conn *c, unsigned idx)
{
	c->idx = idx;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cl->port)};
	if (inet_pton(AF_INET, cl->host, &sa.sin_addr) != 1) {
		fprintf(stderr, "%s: host must be an IPv4 address: %s\n", bench_prog, cl->host);
		exit(2);
	}
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		bench_die("socket");
	}
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		bench_die("connect");
	}

	unsigned char key_raw[16];
	for (size_t i = 0; i < sizeof(key_raw); i++) {
		key_raw[i] = (unsigned char)ws_prng_next(cl);
	}
	gchar *key = g_base64_encode(key_raw, sizeof(key_raw));
	char req[512];
	int rl = snprintf(req, sizeof(req),
			  "GET %s HTTP/1.1\r\n"
			  "Host: %s:%d\r\n"
			  "Upgrade: websocket\r\n"
			  "Connection: Upgrade\r\n"
			  "Sec-WebSocket-Key: %s\r\n"
			  "Sec-WebSocket-Version: 13\r\n"
			  "Sec-WebSocket-Protocol: %s\r\n"
			  "\r\n",
			  cl->path, cl->host, cl->port, key, cl->subprotocol);
	write_all_blocking(c->fd, req, (size_t)rl);

	c->rbuf = malloc(WS_RBUF_SIZE);
	if (!c->rbuf) {
		bench_die("malloc");
	}
	c->rlen = 0;
	char *end = NULL;
	while (!end) {
		if (c->rlen == WS_RBUF_SIZE - 1) {
			fprintf(stderr, "%s: handshake response too long\n", bench_prog);
			exit(2);
		}
		ssize_t n = read(c->fd, c->rbuf + c->rlen, WS_RBUF_SIZE - 1 - c->rlen);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			fprintf(stderr, "%s: connection %u closed during handshake\n", bench_prog,
				c->idx);
			exit(2);
		}
		c->rlen += (size_t)n;
		c->rbuf[c->rlen] = '\0';
		end = strstr((char *)c->rbuf, "\r\n\r\n");
	}
	size_t hlen = (size_t)(end + 4 - (char *)c->rbuf);
	gchar *head = g_strndup((char *)c->rbuf, hlen);
	if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
		fprintf(stderr, "%s: upgrade refused:\n%s", bench_prog, head);
		exit(2);
	}

	/* Sec-WebSocket-Accept = base64(SHA-1(key + GUID)) */
	gchar *concat = g_strconcat(key, WS_GUID, NULL);
	guint8 digest[20];
	gsize dlen = sizeof(digest);
	GChecksum *sha1 = g_checksum_new(G_CHECKSUM_SHA1);
	g_checksum_update(sha1, (const guchar *)concat, (gssize)strlen(concat));
	g_checksum_get_digest(sha1, digest, &dlen);
	g_checksum_free(sha1);
	gchar *accept = g_base64_encode(digest, dlen);
	bool accept_ok = false, proto_ok = false;
	gchar **lines = g_strsplit(head, "\r\n", -1);
	for (gchar **l = lines; *l; l++) {
		gchar *colon = strchr(*l, ':');
		if (!colon) {
			continue;
		}
		*colon = '\0';
		gchar *val = g_strstrip(colon + 1);
		if (g_ascii_strcasecmp(*l, "Sec-WebSocket-Accept") == 0) {
			accept_ok = strcmp(val, accept) == 0;
		} else if (g_ascii_strcasecmp(*l, "Sec-WebSocket-Protocol") == 0) {
			proto_ok = strcmp(val, cl->subprotocol) == 0;
		}
	}
	g_strfreev(lines);
	if (!accept_ok || !proto_ok) {
		fprintf(stderr, "%s: bad handshake (accept %s, subprotocol %s)\n", bench_prog,
			accept_ok ? "ok" : "wrong", proto_ok ? "ok" : "missing");
		exit(2);
	}
	g_free(accept);
	g_free(concat);
	g_free(head);
	g_free(key);

	memmove(c->rbuf, c->rbuf + hlen, c->rlen - hlen);
	c->rlen -= hlen;
	c->msg = g_string_sized_new(256);
	c->wlen = c->woff = 0;
	c->want_out = false;

	int fl = fcntl(c->fd, F_GETFL);
	if (fl < 0 || fcntl(c->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		bench_die("fcntl");
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	if (epoll_ctl(cl->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		bench_die("epoll_ctl");
	}
}

static void
set_want_out(struct ws_client *cl, struct ws_conn *c, bool want)
{
	if (c->want_out == want) {
		return;
	}
	c->want_out = want;
	struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
	if (epoll_ctl(cl->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
		bench_die("epoll_ctl");
	}
}

void
ws_flush_out(struct ws_client *cl, struct ws_conn *c)
{
	while (c->woff < c->wlen) {
		ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				set_want_out(cl, c, true);
				return;
			}
			bench_die("write");
		}
		c->woff += (size_t)n;
	}
	c->wlen = c->woff = 0;
	set_want_out(cl, c, false);
}

void
ws_queue_frame(struct ws_client *cl, struct ws_conn *c, int opcode, const void *payload,
	       size_t len)
{
	if (c->wlen != 0 || len > WS_WBUF_SIZE) {
		fprintf(stderr, "%s: write queue busy on connection %u\n", bench_prog, c->idx);
		exit(2);
	}
	unsigned char *p = c->wbuf;
	*p++ = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		*p++ = (unsigned char)(0x80 | len);
	} else {
		*p++ = 0x80 | 126;
		*p++ = (unsigned char)(len >> 8);
		*p++ = (unsigned char)len;
	}
	uint32_t mk = ws_prng_next(cl);
	unsigned char mask[4] = {(unsigned char)mk, (unsigned char)(mk >> 8),
				 (unsigned char)(mk >> 16), (unsigned char)(mk >> 24)};
	memcpy(p, mask, 4);
	p += 4;
	const unsigned char *src = payload;
	for (size_t i = 0; i < len; i++) {
		p[i] = src[i] ^ mask[i & 3];
	}
	p += len;
	c->wlen = (size_t)(p - c->wbuf);
	c->woff = 0;
}

void
ws_send_text(struct ws_client *cl, struct ws_conn *c, const char *text, size_t len)
{
	ws_queue_frame(cl, c, 0x1, text, len);
	ws_flush_out(cl, c);
}

void
ws_parse_frames(struct ws_client *cl, struct ws_conn *c)
{
	size_t off = 0;
	for (;;) {
		size_t avail = c->rlen - off;
		const unsigned char *f = c->rbuf + off;
		if (avail < 2) {
			break;
		}
		bool fin = f[0] & 0x80;
		int opcode = f[0] & 0x0f;
		bool masked = f[1] & 0x80;
		uint64_t plen = f[1] & 0x7f;
		size_t hdr = 2;
		if (plen == 126) {
			if (avail < 4) {
				break;
			}
			plen = ((uint64_t)f[2] << 8) | f[3];
			hdr = 4;
		} else if (plen == 127) {
			if (avail < 10) {
				break;
			}
			plen = 0;
			for (int i = 0; i < 8; i++) {
				plen = (plen << 8) | f[2 + i];
			}
			hdr = 10;
		}
		if (masked) {
			fprintf(stderr, "%s: server sent a masked frame\n", bench_prog);
			exit(2);
		}
		if (plen > WS_RBUF_SIZE - 16) {
			fprintf(stderr, "%s: frame of %" PRIu64 " bytes is too large\n", bench_prog,
				plen);
			exit(2);
		}
		if (avail < hdr + plen) {
			break;
		}
		const char *payload = (const char *)f + hdr;
		switch (opcode) {
		case 0x0: /* continuation */
		case 0x1: /* text */
		case 0x2: /* binary */
			g_string_append_len(c->msg, payload, (gssize)plen);
			if (fin) {
				cl->on_message(cl, c, c->msg->str, c->msg->len);
				g_string_truncate(c->msg, 0);
			}
			break;
		case 0x8:
			fprintf(stderr, "%s: server closed connection %u (%.*s)\n", bench_prog, c->idx,
				plen > 2 ? (int)plen - 2 : 0, plen > 2 ? payload + 2 : "");
			exit(2);
		case 0x9: /* ping: answer with a pong when nothing else is queued */
			if (c->wlen == 0 && plen <= 125) {
				ws_queue_frame(cl, c, 0xA, payload, (size_t)plen);
				ws_flush_out(cl, c);
			}
			break;
		default: /* pong and reserved opcodes */
			break;
		}
		off += hdr + (size_t)plen;
	}
	if (off > 0) {
		memmove(c->rbuf, c->rbuf + off, c->rlen - off);
		c->rlen -= off;
	}
}

static void
on_readable(struct ws_client *cl, struct ws_conn *c)
{
	for (;;) {
		ssize_t n = read(c->fd, c->rbuf + c->rlen, WS_RBUF_SIZE - c->rlen);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				return;
			}
			bench_die("read");
		}
		if (n == 0) {
			fprintf(stderr, "%s: server closed connection %u\n", bench_prog, c->idx);
			exit(2);
		}
		c->rlen += (size_t)n;
		ws_parse_frames(cl, c);
		if ((size_t)n < WS_RBUF_SIZE) {
			return; /* short read: the socket is drained */
		}
	}
}

void
ws_handle_event(struct ws_client *cl, const struct epoll_event *ev)
{
	struct ws_conn *c = ev->data.ptr;
	if (ev->events & (EPOLLERR | EPOLLHUP)) {
		fprintf(stderr, "%s: socket error on connection %u\n", bench_prog, c->idx);
		exit(2);
	}
	if (ev->events & EPOLLOUT) {
		ws_flush_out(cl, c);
	}
	if (ev->events & EPOLLIN) {
		on_readable(cl, c);
	}
}

void
ws_conn_close(struct ws_client *cl, struct ws_conn *c)
{
	static const unsigned char code[2] = {0x03, 0xe8};
	int fl = fcntl(c->fd, F_GETFL);
	if (fl >= 0) {
		fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	c->wlen = c->woff = 0;
	ws_queue_frame(cl, c, 0x8, code, sizeof(code));
	write_all_blocking(c->fd, c->wbuf, c->wlen);
	close(c->fd);
	c->fd = -1;
	free(c->rbuf);
	c->rbuf = NULL;
	g_string_free(c->msg, TRUE);
	c->msg = NULL;
}
