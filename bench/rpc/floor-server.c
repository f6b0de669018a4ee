/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * rpc-floor-server: the CPU floor of bench/rpc on this machine. Not a server
 * anyone should run: one epoll loop, one read() and one send() per request,
 * no JSON parser, no queue, no limits, no checks beyond what the load
 * generator needs. It answers `system.ping` with the same bytes as tiepdan
 * and the reference, so what it costs per call is mostly the kernel's
 * loopback TCP path and the wake-ups: the part of the figure no server
 * design can remove.
 *
 *   rpc-floor-server PORT        (0: any free port; prints "ready port=N pid=N")
 */
#include <arpa/inet.h>
#include <errno.h>
#include <glib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define BUF_SIZE 65536

struct conn {
	int fd;
	bool upgraded;
	size_t len;
	unsigned char buf[BUF_SIZE];
};

static bool
upgrade(struct conn *c)
{
	c->buf[c->len < BUF_SIZE ? c->len : BUF_SIZE - 1] = '\0';
	char *end = strstr((char *)c->buf, "\r\n\r\n");
	if (!end) {
		return c->len < BUF_SIZE - 1;
	}
	*end = '\0';
	char *key = strcasestr((char *)c->buf, "\r\nSec-WebSocket-Key:");
	if (!key) {
		return false;
	}
	key += 20;
	while (*key == ' ') {
		key++;
	}
	char *eol = strstr(key, "\r\n");
	if (eol) {
		*eol = '\0';
	}
	gchar *concat = g_strconcat(key, WS_GUID, NULL);
	guint8 digest[20];
	gsize dlen = sizeof(digest);
	GChecksum *sha1 = g_checksum_new(G_CHECKSUM_SHA1);
	g_checksum_update(sha1, (const guchar *)concat, (gssize)strlen(concat));
	g_checksum_get_digest(sha1, digest, &dlen);
	g_checksum_free(sha1);
	gchar *accept = g_base64_encode(digest, dlen);
	char out[512];
	int n = snprintf(out, sizeof(out),
			 "HTTP/1.1 101 Switching Protocols\r\n"
			 "Upgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Accept: %s\r\n"
			 "Sec-WebSocket-Protocol: tiepdan.v1\r\n\r\n",
			 accept);
	g_free(accept);
	g_free(concat);
	c->upgraded = true;
	c->len = 0;
	return send(c->fd, out, (size_t)n, MSG_NOSIGNAL) == n;
}

/* Every complete masked frame gets its pong; partial frames wait. */
static bool
answer(struct conn *c)
{
	size_t off = 0;
	while (c->len - off >= 6) {
		unsigned char *f = c->buf + off;
		size_t plen = f[1] & 0x7f, hdr = 2;
		if (plen == 127) {
			return false;
		}
		if (plen == 126) {
			plen = ((size_t)f[2] << 8) | f[3];
			hdr = 4;
		}
		if (c->len - off < hdr + 4 + plen) {
			break;
		}
		unsigned char *mask = f + hdr, *p = f + hdr + 4;
		for (size_t i = 0; i < plen; i++) {
			p[i] ^= mask[i & 3];
		}
		if ((f[0] & 0x0f) == 0x8) {
			return false;
		}
		char *id = g_strstr_len((char *)p, (gssize)plen, "\"id\":");
		long long v = id ? strtoll(id + 5, NULL, 10) : 0;
		time_t t = time(NULL) + 7 * 3600;
		struct tm tm;
		gmtime_r(&t, &tm);
		char ts[40];
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S+07:00", &tm);
		unsigned char out[256];
		int bl = snprintf((char *)out + 2, sizeof(out) - 2,
				  "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{\"pong\":true,"
				  "\"time\":\"%s\"}}",
				  v, ts);
		out[0] = 0x81;
		out[1] = (unsigned char)bl;
		if (send(c->fd, out, (size_t)bl + 2, MSG_NOSIGNAL) != bl + 2) {
			return false;
		}
		off += hdr + 4 + plen;
	}
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	return true;
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: rpc-floor-server PORT\n");
		return 2;
	}
	int one = 1;
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	socklen_t sl = sizeof(sa);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1024) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
		fprintf(stderr, "rpc-floor-server: %s\n", strerror(errno));
		return 1;
	}
	printf("ready port=%d pid=%d\n", ntohs(sa.sin_port), (int)getpid());
	fflush(stdout);

	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	struct epoll_event evs[256];
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);
		if (n < 0 && errno != EINTR) {
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c) {
				int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0) {
					continue;
				}
				setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				c = calloc(1, sizeof(*c));
				if (!c) {
					close(fd);
					continue;
				}
				c->fd = fd;
				struct epoll_event cev = {.events = EPOLLIN, .data.ptr = c};
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
				continue;
			}
			ssize_t r = read(c->fd, c->buf + c->len, BUF_SIZE - 1 - c->len);
			bool ok = r > 0;
			if (ok) {
				c->len += (size_t)r;
				ok = c->upgraded ? answer(c) : upgrade(c);
			} else if (r < 0 && errno == EAGAIN) {
				continue;
			}
			if (!ok) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				free(c);
			}
		}
	}
}
