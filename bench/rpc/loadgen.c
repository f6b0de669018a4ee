/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * rpc-loadgen: closed-loop `system.ping` load over JSON-RPC/WebSocket.
 *
 * N connections to ws://HOST:PORT/PATH (subprotocol tiepdan.v1), each with
 * exactly one request outstanding: send, wait for the answer, send the next.
 * One thread, one epoll set, plain sockets and the minimal RFC 6455 client of
 * bench/common/ws.c (handshake checked against Sec-WebSocket-Accept, masked
 * text frames out, unmasked frames in, pings answered, fragmented messages
 * reassembled), shared with bench/auth.
 *
 * After a warm-up the measured window starts: every call completed inside it
 * counts, its latency (send to last byte of the answer) is kept, and the
 * server's CPU time (utime + stime of /proc/PID/stat, every thread of the
 * process) is read at both ends of the window, so the load generator's own
 * CPU on the shared cores is not charged to the server.
 *
 * Output: a human line on stderr and one `key=value` line on stdout for the
 * driver script (bench/rpc/run.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glib.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../common/bench.h"
#include "../common/ws.h"

struct conn {
	struct ws_conn ws;    /* first: the epoll data.ptr is &conn.ws */
	uint64_t next_id;     /* id of the request in flight */
	uint64_t sent_ns;     /* when it was written */
	bool in_flight;
};

enum phase { PHASE_WARMUP, PHASE_MEASURE, PHASE_DONE };

struct gen {
	struct ws_client cl;
	unsigned nconn;
	double warmup_s, duration_s;
	long server_pid;
	struct conn *conns;
	enum phase phase;
	uint64_t id_seq;
	uint64_t calls;     /* completed in the measured window */
	uint64_t errors;    /* answers that were not a pong for the id sent */
	struct lat_vec lat; /* ns */
};

static struct conn *
conn_of(struct ws_conn *w)
{
	return (struct conn *)((char *)w - offsetof(struct conn, ws));
}

static void
send_ping_call(struct gen *g, struct conn *c)
{
	char body[WS_WBUF_SIZE];
	c->next_id = ++g->id_seq;
	int n = snprintf(body, sizeof(body),
			 "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64 ",\"method\":\"system.ping\"}",
			 c->next_id);
	ws_queue_frame(&g->cl, &c->ws, 0x1, body, (size_t)n);
	c->sent_ns = bench_now_ns();
	c->in_flight = true;
	ws_flush_out(&g->cl, &c->ws);
}

/*
 * A complete text message. The answer to `system.ping` is checked without a
 * JSON parser (it would cost the load generator more than the server): it
 * must carry the id in flight and `"pong":true`, and no "error".
 */
static void
on_message(struct ws_client *cl, struct ws_conn *w, const char *m, size_t len)
{
	struct gen *g = cl->data;
	struct conn *c = conn_of(w);
	const char *idp = g_strstr_len(m, (gssize)len, "\"id\":");
	if (!idp) {
		return; /* a notification: not ours */
	}
	idp += 5;
	while (*idp == ' ') {
		idp++;
	}
	uint64_t id = strtoull(idp, NULL, 10);
	if (!c->in_flight || id != c->next_id) {
		g->errors++;
		return;
	}
	uint64_t t = bench_now_ns();
	bool ok = g_strstr_len(m, (gssize)len, "\"pong\":true") != NULL &&
		  g_strstr_len(m, (gssize)len, "\"error\"") == NULL;
	c->in_flight = false;
	if (!ok) {
		g->errors++;
		if (g->errors <= 3) {
			fprintf(stderr, "rpc-loadgen: unexpected answer: %.*s\n", (int)len, m);
		}
	} else if (g->phase == PHASE_MEASURE) {
		g->calls++;
		lat_push(&g->lat, t - c->sent_ns);
	}
	if (g->phase != PHASE_DONE) {
		send_ping_call(g, c);
	}
}

static void
run_until(struct gen *g, uint64_t deadline)
{
	struct epoll_event evs[256];
	for (;;) {
		uint64_t t = bench_now_ns();
		if (t >= deadline) {
			return;
		}
		int timeout_ms = (int)((deadline - t) / 1000000u) + 1;
		int n = epoll_wait(g->cl.epfd, evs, 256, timeout_ms);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			bench_die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			ws_handle_event(&g->cl, &evs[i]);
		}
	}
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: rpc-loadgen --port PORT --pid SERVER_PID [--connections N]\n"
		   "                   [--duration SECONDS] [--warmup SECONDS] [--host IPV4]\n"
		   "                   [--path /ws] [--subprotocol tiepdan.v1] [--label NAME]\n");
}

int
main(int argc, char **argv)
{
	struct gen g = {
		.nconn = 1,
		.warmup_s = 1.0,
		.duration_s = 5.0,
		.server_pid = -1,
	};
	const char *label = "server";
	bench_prog = "rpc-loadgen";
	ws_client_init(&g.cl, on_message, &g);
	static const struct option opts[] = {
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"path", required_argument, NULL, 'P'},
		{"subprotocol", required_argument, NULL, 's'},
		{"connections", required_argument, NULL, 'c'},
		{"duration", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},
		{"pid", required_argument, NULL, 'i'},
		{"label", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'H'},
		{0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			g.cl.host = optarg;
			break;
		case 'p':
			g.cl.port = atoi(optarg);
			break;
		case 'P':
			g.cl.path = optarg;
			break;
		case 's':
			g.cl.subprotocol = optarg;
			break;
		case 'c':
			g.nconn = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			g.duration_s = strtod(optarg, NULL);
			break;
		case 'w':
			g.warmup_s = strtod(optarg, NULL);
			break;
		case 'i':
			g.server_pid = strtol(optarg, NULL, 10);
			break;
		case 'l':
			label = optarg;
			break;
		case 'H':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (g.cl.port <= 0 || g.cl.port > 65535 || g.server_pid <= 0 || g.nconn == 0 ||
	    g.nconn > 10000 || g.duration_s <= 0 || g.warmup_s < 0) {
		usage(stderr);
		return 2;
	}
	uint64_t ut0, st0, ut1, st1;
	if (bench_proc_cpu(g.server_pid, &ut0, &st0) < 0) {
		fprintf(stderr, "rpc-loadgen: cannot read /proc/%ld/stat\n", g.server_pid);
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < g.nconn + 64) {
		rl.rlim_cur = rl.rlim_max < g.nconn + 64 ? rl.rlim_max : g.nconn + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	g.conns = calloc(g.nconn, sizeof(*g.conns));
	if (!g.conns) {
		bench_die("calloc");
	}
	for (unsigned i = 0; i < g.nconn; i++) {
		ws_conn_open(&g.cl, &g.conns[i].ws, i);
	}

	long hz = sysconf(_SC_CLK_TCK);
	g.phase = PHASE_WARMUP;
	for (unsigned i = 0; i < g.nconn; i++) {
		send_ping_call(&g, &g.conns[i]);
		if (g.conns[i].ws.rlen > 0) {
			ws_parse_frames(&g.cl, &g.conns[i].ws);
		}
	}
	run_until(&g, bench_now_ns() + (uint64_t)(g.warmup_s * 1e9));

	if (bench_proc_cpu(g.server_pid, &ut0, &st0) < 0) {
		fprintf(stderr, "rpc-loadgen: server %ld is gone\n", g.server_pid);
		return 1;
	}
	double self0 = bench_self_cpu_s();
	uint64_t t0 = bench_now_ns();
	g.phase = PHASE_MEASURE;
	run_until(&g, t0 + (uint64_t)(g.duration_s * 1e9));
	uint64_t t1 = bench_now_ns();
	g.phase = PHASE_DONE;
	if (bench_proc_cpu(g.server_pid, &ut1, &st1) < 0) {
		fprintf(stderr, "rpc-loadgen: server %ld is gone\n", g.server_pid);
		return 1;
	}
	double self1 = bench_self_cpu_s();

	/* A close frame each (1000, normal closure); the answers are not awaited. */
	for (unsigned i = 0; i < g.nconn; i++) {
		ws_conn_close(&g.cl, &g.conns[i].ws);
	}
	free(g.conns);
	close(g.cl.epfd);

	double secs = (double)(t1 - t0) / 1e9;
	double user_s = (double)(ut1 - ut0) / (double)hz;
	double sys_s = (double)(st1 - st0) / (double)hz;
	double cpu_s = user_s + sys_s;
	lat_sort(&g.lat);
	double rate = (double)g.calls / secs;
	double p50_us = (double)lat_percentile(&g.lat, 50) / 1e3;
	double p99_us = (double)lat_percentile(&g.lat, 99) / 1e3;
	double max_us = g.lat.len ? (double)g.lat.v[g.lat.len - 1] / 1e3 : 0;
	double cpu_us_call = g.calls ? cpu_s * 1e6 / (double)g.calls : 0;
	double self_us_call = g.calls ? (self1 - self0) * 1e6 / (double)g.calls : 0;
	double user_us_call = g.calls ? user_s * 1e6 / (double)g.calls : 0;
	double sys_us_call = g.calls ? sys_s * 1e6 / (double)g.calls : 0;

	fprintf(stderr,
		"%-9s conns=%-4u %9.0f calls/s  p50 %7.1f us  p99 %7.1f us  max %8.1f us  "
		"server CPU %6.2f us/call (%.2f s)  loadgen CPU %.2f us/call  errors %" PRIu64
		"\n",
		label, g.nconn, rate, p50_us, p99_us, max_us, cpu_us_call, cpu_s, self_us_call,
		g.errors);
	printf("label=%s connections=%u seconds=%.3f calls=%" PRIu64 " calls_per_s=%.1f "
	       "p50_us=%.1f p99_us=%.1f max_us=%.1f server_cpu_s=%.2f clk_tck=%ld "
	       "server_cpu_us_per_call=%.2f server_user_us_per_call=%.2f "
	       "server_sys_us_per_call=%.2f loadgen_cpu_us_per_call=%.2f errors=%" PRIu64 "\n",
	       label, g.nconn, secs, g.calls, rate, p50_us, p99_us, max_us, cpu_s, hz, cpu_us_call,
	       user_us_call, sys_us_call, self_us_call, g.errors);
	free(g.lat.v);
	return g.errors ? 1 : 0;
}
