/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * auth-bench: does the loop stay responsive while logins hash passwords?
 *
 * P ping connections each send one `system.ping` every INTERVAL (paced by
 * the epoll timeout, staggered across the connections; a ping whose tick
 * comes while the previous one is still unanswered goes out as soon as that
 * answer arrives, and one sent half an interval or more after its tick is
 * counted as late; ticks missed entirely are skipped). The server is far from
 * saturated, so the latency measures the loop's responsiveness, not its
 * throughput.
 *
 *   phase 1 (idle): the pings alone, WARMUP then DURATION seconds measured;
 *   phase 2 (load): the same pings plus L login connections in closed loop,
 *     each with exactly one `auth.login` outstanding (the next one is sent
 *     when the answer arrives, whatever it is: a login, or -32029 when the
 *     password worker's queue was full, counted apart as a rejection);
 *     WARMUP then DURATION seconds measured;
 *   drain: no new calls; the logins still in flight are awaited (up to
 *     --drain-timeout seconds), which tells how long the queue takes to
 *     empty. Logins still unanswered then are reported, not counted as
 *     errors: bench/auth/run.sh starts a fresh server for every run.
 *
 * For each window: pings/s, ping p50/p99/max (send to last byte of the
 * answer), logins/s and rejections/s, the server's CPU (utime + stime of
 * /proc/PID/stat; per thread from /proc/PID/task) and its thread count
 * (/proc/PID/status Threads), and the CPU of every other process ("others":
 * another process on the shared cores spoils the figures). One thread, one
 * epoll set, the WebSocket client of bench/common/ws.c.
 *
 * Output: a table on stdout, then one `result key=value ...` line for the
 * driver script (bench/auth/run.sh). Exit status 1 when an answer was not
 * what the call asked for, 2 on a usage or connection error.
 */
#include <dirent.h>
#include <errno.h>
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../common/bench.h"
#include "../common/ws.h"

#define MAX_THREADS 64
#define RPC_RATE_LIMITED "-32029"

enum kind { KIND_PING, KIND_LOGIN };

struct conn {
	struct ws_conn ws; /* the epoll data.ptr is &conn.ws */
	enum kind kind;
	uint64_t id;      /* of the call in flight */
	uint64_t sent_ns; /* when it was written */
	uint64_t due_ns;  /* ping connections: the next tick */
	bool in_flight;
};

enum phase { PH_IDLE_WARMUP, PH_IDLE, PH_LOAD_WARMUP, PH_LOAD, PH_DRAIN };

/* What one measured window collected. */
struct window {
	struct lat_vec ping;  /* ns */
	struct lat_vec login; /* ns, successful logins only */
	uint64_t late;        /* pings sent >= half an interval after their tick */
	uint64_t logins, rejected;
	double seconds;
	/* server */
	double cpu_s, user_s, sys_s;
	unsigned threads;
	double self_cpu_s;
	double helper_s;      /* the server's child processes (tiepdan-pwhash) */
	double others_s;      /* every other process's CPU, from /proc/[pid]/stat */
	char thread_cpu[512];  /* "name pct, ..." */
};

struct thread_ticks {
	int tid;
	char comm[32];
	uint64_t ticks;
};

struct bench {
	struct ws_client cl;
	long server_pid;
	unsigned nping, nlogin;
	uint64_t interval_ns;
	double warmup_s, duration_s, drain_timeout_s;
	char *login_body_fmt; /* printf format with one PRIu64: the id */
	struct conn *conns;   /* nping ping connections, then nlogin login connections */
	enum phase phase;
	struct window *win;   /* collecting, or NULL outside the measured windows */
	uint64_t id_seq;
	uint64_t errors;
	unsigned logins_in_flight;
	unsigned pings_in_flight;
	long hz;
	uint64_t trace_slow_ns; /* --trace-slow-us: print measured pings slower than this */
};

static struct conn *
conn_of(struct ws_conn *w)
{
	return (struct conn *)((char *)w - offsetof(struct conn, ws));
}

/* A JSON string literal (quotes included) for s. */
static char *
json_quote(const char *s)
{
	GString *out = g_string_new("\"");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\') {
			g_string_append_c(out, '\\');
			g_string_append_c(out, (char)*p);
		} else if (*p < 0x20) {
			g_string_append_printf(out, "\\u%04x", *p);
		} else {
			g_string_append_c(out, (char)*p);
		}
	}
	g_string_append_c(out, '"');
	return g_string_free(out, FALSE);
}

static void
send_ping(struct bench *b, struct conn *c, uint64_t now)
{
	char body[WS_WBUF_SIZE];
	c->id = ++b->id_seq;
	int n = snprintf(body, sizeof(body),
			 "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64 ",\"method\":\"system.ping\"}", c->id);
	c->sent_ns = now;
	c->in_flight = true;
	b->pings_in_flight++;
	ws_send_text(&b->cl, &c->ws, body, (size_t)n);
}

static void
send_login(struct bench *b, struct conn *c)
{
	char body[WS_WBUF_SIZE];
	c->id = ++b->id_seq;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	int n = snprintf(body, sizeof(body), b->login_body_fmt, c->id);
#pragma GCC diagnostic pop
	if (n < 0 || (size_t)n >= sizeof(body)) {
		fprintf(stderr, "auth-bench: login request too long\n");
		exit(2);
	}
	c->sent_ns = bench_now_ns();
	c->in_flight = true;
	b->logins_in_flight++;
	ws_send_text(&b->cl, &c->ws, body, (size_t)n);
}

static void
unexpected(struct bench *b, const char *what, const char *m, size_t len)
{
	b->errors++;
	if (b->errors <= 5) {
		fprintf(stderr, "auth-bench: unexpected answer to %s: %.*s\n", what,
			(int)(len > 400 ? 400 : len), m);
	}
}

/*
 * A complete message. Answers are checked without a JSON parser: the id in
 * flight, then `"pong":true` for a ping; `"access_token"` (a login) or the
 * code -32029 (queue full: a rejection) for a login.
 */
static void
on_message(struct ws_client *cl, struct ws_conn *w, const char *m, size_t len)
{
	struct bench *b = cl->data;
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
	if (!c->in_flight || id != c->id) {
		unexpected(b, "a call not in flight", m, len);
		return;
	}
	uint64_t t = bench_now_ns();
	c->in_flight = false;
	bool has_error = g_strstr_len(m, (gssize)len, "\"error\"") != NULL;
	if (c->kind == KIND_PING) {
		b->pings_in_flight--;
		if (has_error || !g_strstr_len(m, (gssize)len, "\"pong\":true")) {
			unexpected(b, "system.ping", m, len);
		} else if (b->win) {
			lat_push(&b->win->ping, t - c->sent_ns);
			if (b->trace_slow_ns && t - c->sent_ns >= b->trace_slow_ns) {
				fprintf(stderr, "slow ping: conn %u sent %.6f answered %.6f (%.0f us)\n",
					c->ws.idx, (double)c->sent_ns / 1e9, (double)t / 1e9,
					(double)(t - c->sent_ns) / 1e3);
			}
		}
		/* the next ping goes out at its tick (pump_pings) */
		return;
	}
	b->logins_in_flight--;
	if (!has_error && g_strstr_len(m, (gssize)len, "\"access_token\"")) {
		if (b->win) {
			b->win->logins++;
			lat_push(&b->win->login, t - c->sent_ns);
		}
	} else if (has_error && g_strstr_len(m, (gssize)len, RPC_RATE_LIMITED)) {
		if (b->win) {
			b->win->rejected++;
		}
	} else {
		unexpected(b, "auth.login", m, len);
	}
	if (b->phase == PH_LOAD_WARMUP || b->phase == PH_LOAD) {
		send_login(b, c);
	}
}

/*
 * Sends the pings whose tick has come and returns the earliest tick still
 * ahead (UINT64_MAX when every ping connection waits for an answer). Ticks
 * missed entirely (the answer took longer than one interval) are skipped, so
 * a slow answer is followed by one late ping, not by a burst.
 */
static uint64_t
pump_pings(struct bench *b)
{
	uint64_t now = bench_now_ns();
	uint64_t next = UINT64_MAX;
	for (unsigned i = 0; i < b->nping; i++) {
		struct conn *c = &b->conns[i];
		if (c->in_flight) {
			continue;
		}
		if (b->phase != PH_DRAIN && c->due_ns <= now) {
			if (b->win && now - c->due_ns >= b->interval_ns / 2) {
				b->win->late++;
			}
			send_ping(b, c, now);
			c->due_ns += b->interval_ns;
			while (c->due_ns <= now) {
				c->due_ns += b->interval_ns;
			}
			continue; /* in flight now */
		}
		if (c->due_ns < next) {
			next = c->due_ns;
		}
	}
	return next;
}

static void
run_until(struct bench *b, uint64_t deadline, bool until_drained)
{
	struct epoll_event evs[128];
	for (;;) {
		uint64_t next = pump_pings(b);
		uint64_t now = bench_now_ns();
		if (now >= deadline) {
			return;
		}
		if (until_drained && b->logins_in_flight == 0 && b->pings_in_flight == 0) {
			return;
		}
		uint64_t wake = next < deadline ? next : deadline;
		uint64_t wait = wake > now ? wake - now : 0;
		struct timespec ts = {.tv_sec = (time_t)(wait / 1000000000u),
				      .tv_nsec = (long)(wait % 1000000000u)};
		int n = epoll_pwait2(b->cl.epfd, evs, (int)G_N_ELEMENTS(evs), &ts, NULL);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			bench_die("epoll_pwait2");
		}
		for (int i = 0; i < n; i++) {
			ws_handle_event(&b->cl, &evs[i]);
		}
	}
}

/* Every thread of the server: tid, name, utime + stime. */
static size_t
read_threads(long pid, struct thread_ticks *out, size_t max)
{
	char dir_path[64];
	snprintf(dir_path, sizeof(dir_path), "/proc/%ld/task", pid);
	DIR *d = opendir(dir_path);
	if (!d) {
		return 0;
	}
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) && n < max) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9') {
			continue;
		}
		char path[64 + sizeof(e->d_name) + 8];
		uint64_t ut, st;
		snprintf(path, sizeof(path), "%s/%s/stat", dir_path, e->d_name);
		if (bench_stat_cpu(path, out[n].comm, sizeof(out[n].comm), &ut, &st) == 0) {
			out[n].tid = atoi(e->d_name);
			out[n].ticks = ut + st;
			n++;
		}
	}
	closedir(d);
	return n;
}

static unsigned
read_thread_count(long pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	FILE *f = fopen(path, "r");
	unsigned n = 0;
	if (!f) {
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Threads: %u", &n) == 1) {
			break;
		}
	}
	fclose(f);
	return n;
}

struct proc_ticks {
	int pid;
	bool server_child; /* the server's password helper */
	uint64_t ticks;
};

/* The parent of a process (field 4 of /proc/PID/stat), or -1. */
static long
proc_ppid(int pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f) {
		return -1;
	}
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	long ppid = -1;
	if (!p || sscanf(p + 1, " %*c %ld", &ppid) != 1) {
		return -1;
	}
	return ppid;
}

static int
cmp_pid(const void *a, const void *b)
{
	const struct proc_ticks *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/*
 * utime + stime of every process but the server and this one (kernel threads
 * included), sorted by pid; the server's children (its password helper) are
 * marked. Processes that end within a window are missed: "others" is a lower
 * bound, there to flag a run that shared the cores.
 */
static size_t
read_others(long server_pid, struct proc_ticks **out)
{
	size_t n = 0, cap = 256;
	struct proc_ticks *v = g_new(struct proc_ticks, cap);
	DIR *d = opendir("/proc");
	struct dirent *e;
	int self = (int)getpid();
	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9') {
			continue;
		}
		int pid = atoi(e->d_name);
		uint64_t ut, st;
		if (pid == self || pid == server_pid || bench_proc_cpu(pid, &ut, &st) < 0) {
			continue;
		}
		if (n == cap) {
			cap *= 2;
			v = g_renew(struct proc_ticks, v, cap);
		}
		v[n].pid = pid;
		v[n].server_child = proc_ppid(pid) == server_pid;
		v[n].ticks = ut + st;
		n++;
	}
	if (d) {
		closedir(d);
	}
	qsort(v, n, sizeof(*v), cmp_pid);
	*out = v;
	return n;
}

/*
 * CPU ticks the processes of `after` spent since `before` (all of it for a new one): the
 * server's children when children, else the others.
 */
static uint64_t
others_delta(const struct proc_ticks *before, size_t nb, const struct proc_ticks *after,
	     size_t na, bool children)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < na; i++) {
		if (after[i].server_child != children) {
			continue;
		}
		struct proc_ticks key = {.pid = after[i].pid};
		const struct proc_ticks *b = bsearch(&key, before, nb, sizeof(*before), cmp_pid);
		uint64_t base = b && b->ticks <= after[i].ticks ? b->ticks : 0;
		sum += after[i].ticks - base;
	}
	return sum;
}

/* Runs one measured window of the current phase, with the CPU read at both ends. */
static void
measure(struct bench *b, struct window *w)
{
	struct thread_ticks th0[MAX_THREADS], th1[MAX_THREADS];
	uint64_t ut0, st0, ut1, st1;
	if (bench_proc_cpu(b->server_pid, &ut0, &st0) < 0) {
		fprintf(stderr, "auth-bench: server %ld is gone\n", b->server_pid);
		exit(2);
	}
	size_t n0 = read_threads(b->server_pid, th0, MAX_THREADS);
	struct proc_ticks *others0, *others1;
	size_t no0 = read_others(b->server_pid, &others0);
	double self0 = bench_self_cpu_s();
	uint64_t t0 = bench_now_ns();
	b->win = w;
	run_until(b, t0 + (uint64_t)(b->duration_s * 1e9), false);
	b->win = NULL;
	uint64_t t1 = bench_now_ns();
	if (bench_proc_cpu(b->server_pid, &ut1, &st1) < 0) {
		fprintf(stderr, "auth-bench: server %ld is gone\n", b->server_pid);
		exit(2);
	}
	size_t no1 = read_others(b->server_pid, &others1);
	size_t n1 = read_threads(b->server_pid, th1, MAX_THREADS);
	w->others_s = (double)others_delta(others0, no0, others1, no1, false) / (double)b->hz;
	w->helper_s = (double)others_delta(others0, no0, others1, no1, true) / (double)b->hz;
	g_free(others0);
	g_free(others1);
	w->threads = read_thread_count(b->server_pid);
	w->self_cpu_s = bench_self_cpu_s() - self0;
	w->seconds = (double)(t1 - t0) / 1e9;
	w->user_s = (double)(ut1 - ut0) / (double)b->hz;
	w->sys_s = (double)(st1 - st0) / (double)b->hz;
	w->cpu_s = w->user_s + w->sys_s;

	/* Per thread, busiest first; a thread born in the window counts from zero. */
	struct {
		const char *comm;
		int tid;
		double pct;
	} rows[MAX_THREADS];
	size_t nr = 0;
	for (size_t i = 0; i < n1; i++) {
		uint64_t before = 0;
		for (size_t j = 0; j < n0; j++) {
			if (th0[j].tid == th1[i].tid) {
				before = th0[j].ticks;
				break;
			}
		}
		rows[nr].comm = th1[i].comm;
		rows[nr].tid = th1[i].tid;
		rows[nr].pct = (double)(th1[i].ticks - before) / (double)b->hz / w->seconds * 100.0;
		nr++;
	}
	for (size_t i = 1; i < nr; i++) {
		for (size_t j = i; j > 0 && rows[j].pct > rows[j - 1].pct; j--) {
			__typeof__(rows[0]) t = rows[j];
			rows[j] = rows[j - 1];
			rows[j - 1] = t;
		}
	}
	size_t off = 0;
	w->thread_cpu[0] = '\0';
	for (size_t i = 0; i < nr && off < sizeof(w->thread_cpu); i++) {
		int k = snprintf(w->thread_cpu + off, sizeof(w->thread_cpu) - off, "%s%s %.0f%%",
				 i ? ", " : "", rows[i].comm, rows[i].pct);
		if (k < 0) {
			break;
		}
		off += (size_t)k;
	}
	lat_sort(&w->ping);
	lat_sort(&w->login);
}

static double
us(uint64_t ns)
{
	return (double)ns / 1e3;
}

/* CPU of the machine that was neither the server's nor auth-bench's, % of one core. */
static double
others_pct(const struct window *w)
{
	return w->others_s / w->seconds * 100;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: auth-bench --port PORT --pid SERVER_PID [--ping-connections 10]\n"
		"                  [--ping-interval-us 2000] [--login-connections 50]\n"
		"                  [--duration 10] [--warmup 2] [--drain-timeout 60]\n"
		"                  [--login 0912345678] [--password demo-citizen-2026]\n"
		"                  [--host 127.0.0.1] [--path /ws] [--subprotocol tiepdan.v1]\n"
		"                  [--trace-slow-us US]  (stderr: every measured ping slower than US,\n"
		"                   CLOCK_MONOTONIC seconds, to line up with perf record -k mono)\n");
}

int
main(int argc, char **argv)
{
	struct bench b = {
		.server_pid = -1,
		.nping = 10,
		.nlogin = 50,
		.interval_ns = 2000000,
		.warmup_s = 2.0,
		.duration_s = 10.0,
		.drain_timeout_s = 60.0,
	};
	const char *login = "0912345678", *password = "demo-citizen-2026";
	bench_prog = "auth-bench";
	ws_client_init(&b.cl, on_message, &b);
	static const struct option opts[] = {
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"path", required_argument, NULL, 'P'},
		{"subprotocol", required_argument, NULL, 's'},
		{"pid", required_argument, NULL, 'i'},
		{"ping-connections", required_argument, NULL, 'n'},
		{"ping-interval-us", required_argument, NULL, 'I'},
		{"login-connections", required_argument, NULL, 'L'},
		{"duration", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},
		{"drain-timeout", required_argument, NULL, 'D'},
		{"login", required_argument, NULL, 'u'},
		{"password", required_argument, NULL, 'x'},
		{"trace-slow-us", required_argument, NULL, 'T'},
		{"help", no_argument, NULL, 'H'},
		{0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			b.cl.host = optarg;
			break;
		case 'p':
			b.cl.port = atoi(optarg);
			break;
		case 'P':
			b.cl.path = optarg;
			break;
		case 's':
			b.cl.subprotocol = optarg;
			break;
		case 'i':
			b.server_pid = strtol(optarg, NULL, 10);
			break;
		case 'n':
			b.nping = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'I':
			b.interval_ns = strtoull(optarg, NULL, 10) * 1000u;
			break;
		case 'L':
			b.nlogin = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			b.duration_s = strtod(optarg, NULL);
			break;
		case 'w':
			b.warmup_s = strtod(optarg, NULL);
			break;
		case 'D':
			b.drain_timeout_s = strtod(optarg, NULL);
			break;
		case 'u':
			login = optarg;
			break;
		case 'x':
			password = optarg;
			break;
		case 'T':
			b.trace_slow_ns = strtoull(optarg, NULL, 10) * 1000u;
			break;
		case 'H':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (b.cl.port <= 0 || b.cl.port > 65535 || b.server_pid <= 0 || b.nping == 0 ||
	    b.nping > 1000 || b.nlogin > 1000 || b.interval_ns == 0 || b.duration_s <= 0 ||
	    b.warmup_s < 0 || b.drain_timeout_s <= 0) {
		usage(stderr);
		return 2;
	}
	uint64_t ut, st;
	if (bench_proc_cpu(b.server_pid, &ut, &st) < 0) {
		fprintf(stderr, "auth-bench: cannot read /proc/%ld/stat\n", b.server_pid);
		return 2;
	}
	b.hz = sysconf(_SC_CLK_TCK);
	/* The epoll timeout paces the pings: no slack added to it. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);

	char *ql = json_quote(login), *qp = json_quote(password);
	b.login_body_fmt = g_strdup_printf(
		"{\"jsonrpc\":\"2.0\",\"id\":%%" PRIu64
		",\"method\":\"auth.login\",\"params\":{\"login\":%s,\"password\":%s}}",
		ql, qp);
	g_free(ql);
	g_free(qp);

	unsigned total = b.nping + b.nlogin;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < total + 64) {
		rl.rlim_cur = rl.rlim_max < total + 64 ? rl.rlim_max : total + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	b.conns = calloc(total, sizeof(*b.conns));
	if (!b.conns) {
		bench_die("calloc");
	}
	/* Every connection is open before the idle phase: phase 2 differs only by the logins. */
	for (unsigned i = 0; i < total; i++) {
		b.conns[i].kind = i < b.nping ? KIND_PING : KIND_LOGIN;
		ws_conn_open(&b.cl, &b.conns[i].ws, i);
	}
	for (unsigned i = 0; i < total; i++) {
		if (b.conns[i].ws.rlen > 0) {
			ws_parse_frames(&b.cl, &b.conns[i].ws);
		}
	}
	unsigned threads_before = read_thread_count(b.server_pid);

	/* The ticks of the ping connections, spread evenly over one interval. */
	uint64_t start = bench_now_ns();
	for (unsigned i = 0; i < b.nping; i++) {
		b.conns[i].due_ns = start + b.interval_ns * i / b.nping;
	}

	struct window idle = {0}, load = {0};
	b.phase = PH_IDLE_WARMUP;
	run_until(&b, bench_now_ns() + (uint64_t)(b.warmup_s * 1e9), false);
	b.phase = PH_IDLE;
	measure(&b, &idle);

	b.phase = PH_LOAD_WARMUP;
	for (unsigned i = b.nping; i < total; i++) {
		send_login(&b, &b.conns[i]);
	}
	run_until(&b, bench_now_ns() + (uint64_t)(b.warmup_s * 1e9), false);
	b.phase = PH_LOAD;
	measure(&b, &load);

	b.phase = PH_DRAIN;
	uint64_t d0 = bench_now_ns();
	unsigned queued = b.logins_in_flight;
	run_until(&b, d0 + (uint64_t)(b.drain_timeout_s * 1e9), true);
	double drain_s = (double)(bench_now_ns() - d0) / 1e9;
	unsigned unanswered = b.logins_in_flight + b.pings_in_flight;
	for (unsigned i = 0; i < total; i++) {
		ws_conn_close(&b.cl, &b.conns[i].ws);
	}
	free(b.conns);
	close(b.cl.epfd);
	g_free(b.login_body_fmt);

	/* ---- figures ---- */
	double ping_rate = 1e9 / (double)b.interval_ns * b.nping;
	printf("auth-bench: %u ping connections (one system.ping every %.1f ms each, %.0f/s in all),"
	       " %u login connections (closed loop, one auth.login outstanding each)\n",
	       b.nping, (double)b.interval_ns / 1e6, ping_rate, b.nlogin);
	printf("windows: %.0f s measured after %.0f s warm-up, idle then under logins; "
	       "server pid %ld\n\n",
	       b.duration_s, b.warmup_s, b.server_pid);
	printf("%-5s | %8s %10s %9s %9s | %7s %8s %8s %9s %6s | %6s %6s %6s %7s %8s | %7s "
	       "%8s\n",
	       "phase", "logins/s", "rejected/s", "login p50", "login p99", "pings/s", "p50 us",
	       "p99 us", "max us", "late", "CPU %", "user", "sys", "threads", "helper %",
	       "bench %", "others %");
	struct window *ws[2] = {&idle, &load};
	const char *names[2] = {"idle", "load"};
	for (int i = 0; i < 2; i++) {
		struct window *w = ws[i];
		char lp50[16] = "-", lp99[16] = "-";
		if (w->login.len) {
			snprintf(lp50, sizeof(lp50), "%.2f s", (double)lat_percentile(&w->login, 50) / 1e9);
			snprintf(lp99, sizeof(lp99), "%.2f s", (double)lat_percentile(&w->login, 99) / 1e9);
		}
		printf("%-5s | %8.2f %10.2f %9s %9s | %7.0f %8.1f %8.1f %9.1f %6" PRIu64
		       " | %6.1f %6.1f %6.1f %7u %8.1f | %7.1f %8.1f\n",
		       names[i], (double)w->logins / w->seconds, (double)w->rejected / w->seconds,
		       lp50, lp99, (double)w->ping.len / w->seconds, us(lat_percentile(&w->ping, 50)),
		       us(lat_percentile(&w->ping, 99)),
		       us(w->ping.len ? w->ping.v[w->ping.len - 1] : 0), w->late,
		       w->cpu_s / w->seconds * 100, w->user_s / w->seconds * 100,
		       w->sys_s / w->seconds * 100, w->threads, w->helper_s / w->seconds * 100,
		       w->self_cpu_s / w->seconds * 100,
		       others_pct(w));
	}
	printf("\nCPU %% is of one core (%ld cores here), the server's without its password helper"
	       " process\n(helper %%: tiepdan-pwhash, where argon2 runs); others = the CPU of every"
	       " other process (from /proc):\nmore than a few %% means something else shared the"
	       " cores and the run should not be trusted\n",
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("\nserver CPU per thread, %% of one core: idle: %s\n", idle.thread_cpu);
	printf("                                     load: %s\n", load.thread_cpu);
	printf("server threads: %u before the bench\n", threads_before);
	double idle_p99 = us(lat_percentile(&idle.ping, 99));
	double load_p99 = us(lat_percentile(&load.ping, 99));
	double ratio = idle_p99 > 0 ? load_p99 / idle_p99 : 0;
	printf("\nping p99: %.1f us under logins / %.1f us idle = %.2fx; target <= 2x: %s\n",
	       load_p99, idle_p99, ratio, ratio > 0 && ratio <= 2.0 ? "met" : "NOT MET");
	if (unanswered) {
		printf("drain: %u logins in flight at the end of the load window; %u logins and %u "
		       "pings still unanswered after %.1f s\n",
		       queued, b.logins_in_flight, b.pings_in_flight, drain_s);
	} else {
		printf("drain: %u logins in flight at the end of the load window, answered in %.1f s\n",
		       queued, drain_s);
	}
	if (b.errors) {
		printf("errors: %" PRIu64 " unexpected answers (see stderr)\n", b.errors);
	}
	printf("result ping_connections=%u ping_interval_us=%.0f login_connections=%u "
	       "seconds=%.1f idle_pings_per_s=%.0f idle_p50_us=%.1f idle_p99_us=%.1f "
	       "idle_max_us=%.1f idle_late=%" PRIu64 " idle_cpu_pct=%.1f idle_threads=%u "
	       "idle_others_pct=%.1f "
	       "load_logins_per_s=%.2f load_rejected_per_s=%.2f load_login_p50_s=%.3f "
	       "load_login_p99_s=%.3f load_pings_per_s=%.0f load_p50_us=%.1f load_p99_us=%.1f "
	       "load_max_us=%.1f load_late=%" PRIu64 " load_cpu_pct=%.1f load_threads=%u "
	       "load_others_pct=%.1f load_helper_pct=%.1f drain_s=%.1f drain_unanswered=%u "
	       "ratio=%.2f errors=%" PRIu64 "\n",
	       b.nping, (double)b.interval_ns / 1e3, b.nlogin, b.duration_s,
	       (double)idle.ping.len / idle.seconds, us(lat_percentile(&idle.ping, 50)), idle_p99,
	       us(idle.ping.len ? idle.ping.v[idle.ping.len - 1] : 0), idle.late,
	       idle.cpu_s / idle.seconds * 100, idle.threads, others_pct(&idle),
	       (double)load.logins / load.seconds,
	       (double)load.rejected / load.seconds, (double)lat_percentile(&load.login, 50) / 1e9,
	       (double)lat_percentile(&load.login, 99) / 1e9, (double)load.ping.len / load.seconds,
	       us(lat_percentile(&load.ping, 50)), load_p99,
	       us(load.ping.len ? load.ping.v[load.ping.len - 1] : 0), load.late,
	       load.cpu_s / load.seconds * 100, load.threads, others_pct(&load),
	       load.helper_s / load.seconds * 100, drain_s, unanswered,
	       ratio, b.errors);
	lat_clear(&idle.ping);
	lat_clear(&idle.login);
	lat_clear(&load.ping);
	lat_clear(&load.login);
	return b.errors ? 1 : 0;
}
