/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * booking-bench: `appointment.book` fired by N connections at once, in two
 * scenarios (see docs/benchmarks.md, "booking: competing and distinct seats"):
 *
 *  A. competing: every connection books the same slot of --seats seats
 *     (default 1,000 connections for 100 seats);
 *  B. distinct: --b-slots slots (default 100) of N / b-slots seats each, every
 *     connection books its own seat (connection i books slot i / (N / b-slots)),
 *     so every booking can succeed.
 *
 * Setup (not measured): the staff account (`vanthu.tranbien`) and the host
 * (`canbo.tranbien`, whose user id auth.login returns) log in; staff creates
 * two ad hoc in-person schedules on the first working day from tomorrow on
 * (+07:00): A at 07:00–07:30 (one slot), B from 08:00 in 5-minute slots. Then
 * N connections open; connection i acts for citizen account i % --accounts,
 * whose login is the phone "0" followed by --phone-base + account in 9 digits
 * (0960000000, 0960000001, ... by default; created in the database by
 * bench/booking/run.sh, all with one password).
 * The first connection of each account calls auth.login (one argon2 verify
 * on the server); the others bind with auth.authenticate {access_token} of
 * that login (no hash). At most --setup-parallel logins are in flight (the
 * server counts logins in flight against its per-address throttle, 20 by
 * default; a -32029 answer is retried after 1 s). With fewer accounts than
 * connections, an account's connections compete with each other too: in A a
 * citizen may hold one seat of the slot, so its second attempt is refused
 * `overlap`, not `full`.
 *
 * Each scenario: every connection ready and idle; the server's CPU and
 * /metrics read; then one appointment.book per connection written in one
 * loop, as fast as one thread writes them; the program waits for every
 * answer. Printed: requests, successes, refusals by reason, bookings/s
 * (successes / the time from the first write to the last answer), answers/s,
 * p50, p99, max latency (each request's write to the parse of its answer,
 * nearest rank over every answer), how long the writes took, the server's
 * CPU in that time (utime + stime from /proc/PID/stat, 10 ms ticks), the
 * store's commits and jobs per commit (from /metrics). The seats of the
 * answers are checked: a (slot, seat) answered twice is reported as
 * DOUBLE SEAT and the exit status is 1.
 *
 * Output: a table per scenario, then one `result scenario=X key=value ...`
 * line each. Exit status 1 when an answer was not a booking or a -32009
 * refusal, or a seat was given twice; 2 on a usage or connection error.
 */
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
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../common/bench.h"
#include "../common/ws.h"

#define RPC_RATE_LIMITED (-32029)
#define RPC_CONFLICT (-32009)
#define MAX_REASONS 16

enum state { ST_IDLE, ST_LOGIN, ST_AUTH, ST_READY, ST_BOOK, ST_CALL };

struct conn {
	struct ws_conn ws; /* the epoll data.ptr is &conn.ws */
	enum state st;
	uint64_t id; /* of the call in flight */
	uint64_t sent_ns;
	uint64_t retry_ns;
	bool in_flight;
	unsigned account;
	char *answer; /* ST_CALL: the answer, for the caller of call_sync */
};

struct reason {
	char name[32];
	uint64_t n;
};

struct bench {
	struct ws_client cl;
	long server_pid;
	unsigned n, accounts, seats, b_slots, setup_parallel;
	uint64_t phone_base;
	const char *password, *staff_login, *staff_password, *host_login, *host_password;
	struct conn *conns;
	struct conn staff, host;
	uint64_t id_seq;
	/* setup */
	char **tokens; /* access token per account */
	unsigned next_login, logins_in_flight, ready, setup_retries;
	/* a scenario */
	unsigned outstanding;
	uint64_t t_first, t_last;
	struct lat_vec lat;
	uint64_t ok, refused, other;
	struct reason reasons[MAX_REASONS];
	unsigned nreasons;
	GHashTable *seat_tbl; /* "slot_id#seat" -> times answered */
	uint64_t double_seats;
};

static struct conn *
conn_of(struct ws_conn *w)
{
	return (struct conn *)((char *)w - offsetof(struct conn, ws));
}

static void
send_call(struct bench *b, struct conn *c, const char *method, const char *params)
{
	char body[WS_WBUF_SIZE];
	c->id = ++b->id_seq;
	int n = snprintf(body, sizeof(body),
			 "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64 ",\"method\":\"%s\",\"params\":%s}",
			 c->id, method, params);
	if (n < 0 || (size_t)n >= sizeof(body)) {
		fprintf(stderr, "booking-bench: %s request too long\n", method);
		exit(2);
	}
	c->in_flight = true;
	c->sent_ns = bench_now_ns();
	ws_send_text(&b->cl, &c->ws, body, (size_t)n);
}

static int
error_code(const char *m, size_t len)
{
	const char *e = g_strstr_len(m, (gssize)len, "\"error\":{");
	if (!e) {
		return 0;
	}
	const char *code = g_strstr_len(e, (gssize)(len - (size_t)(e - m)), "\"code\":");
	return code ? atoi(code + 7) : -1;
}

/* The string value of "key":"..." after from (no escapes in the values read here). */
static char *
str_value(const char *from, const char *key)
{
	char *pat = g_strdup_printf("\"%s\":\"", key);
	const char *p = strstr(from, pat);
	size_t pl = strlen(pat);
	g_free(pat);
	if (!p) {
		return NULL;
	}
	p += pl;
	const char *e = strchr(p, '"');
	return e ? g_strndup(p, (gsize)(e - p)) : NULL;
}

static _Noreturn void
die_answer(const char *what, const char *m, size_t len)
{
	fprintf(stderr, "booking-bench: unexpected answer to %s: %.*s\n", what,
		(int)(len > 600 ? 600 : len), m);
	exit(1);
}

static void
send_login(struct bench *b, struct conn *c)
{
	char *params = g_strdup_printf("{\"login\":\"0%09" PRIu64 "\",\"password\":\"%s\"}",
				       b->phone_base + c->account, b->password);
	c->st = ST_LOGIN;
	send_call(b, c, "auth.login", params);
	g_free(params);
}

static void
send_auth(struct bench *b, struct conn *c)
{
	char *params = g_strdup_printf("{\"access_token\":\"%s\"}", b->tokens[c->account]);
	c->st = ST_AUTH;
	send_call(b, c, "auth.authenticate", params);
	g_free(params);
}

/* Logins of the first connection of each account, at most setup_parallel at once. */
static void
start_logins(struct bench *b)
{
	while (b->logins_in_flight < b->setup_parallel && b->next_login < b->accounts) {
		struct conn *c = &b->conns[b->next_login++];
		b->logins_in_flight++;
		send_login(b, c);
	}
}

static void
count_reason(struct bench *b, const char *m)
{
	char *r = str_value(m, "reason");
	const char *name = r ? r : "(none)";
	unsigned i;
	for (i = 0; i < b->nreasons; i++) {
		if (strcmp(b->reasons[i].name, name) == 0) {
			break;
		}
	}
	if (i == b->nreasons && i < MAX_REASONS) {
		g_strlcpy(b->reasons[i].name, name, sizeof(b->reasons[i].name));
		b->nreasons++;
	}
	if (i < MAX_REASONS) {
		b->reasons[i].n++;
	}
	g_free(r);
}

static void
on_book_answer(struct bench *b, struct conn *c, const char *m, size_t len, uint64_t t)
{
	int code = error_code(m, len);
	b->outstanding--;
	b->t_last = t;
	lat_push(&b->lat, t - c->sent_ns);
	c->st = ST_READY;
	if (code == 0) {
		const char *a = g_strstr_len(m, (gssize)len, "\"appointment\":{");
		const char *s = a ? strstr(a, "\"seat\":") : NULL;
		char *slot = a ? str_value(a, "slot_id") : NULL;
		if (!s || !slot) {
			g_free(slot);
			die_answer("appointment.book", m, len);
		}
		char *key = g_strdup_printf("%s#%ld", slot, strtol(s + 7, NULL, 10));
		g_free(slot);
		gpointer v = g_hash_table_lookup(b->seat_tbl, key);
		if (v) {
			b->double_seats++;
			fprintf(stderr, "booking-bench: DOUBLE SEAT %s answered twice: %.*s\n", key,
				(int)(len > 600 ? 600 : len), m);
		}
		g_hash_table_insert(b->seat_tbl, key, GUINT_TO_POINTER(GPOINTER_TO_UINT(v) + 1));
		b->ok++;
	} else if (code == RPC_CONFLICT) {
		b->refused++;
		count_reason(b, m);
	} else {
		b->other++;
		if (b->other <= 5) {
			fprintf(stderr, "booking-bench: unexpected answer to appointment.book: %.*s\n",
				(int)(len > 600 ? 600 : len), m);
		}
	}
}

/*
 * A complete message. An answer starts with {"jsonrpc":"2.0","id":N (the
 * server writes the id first); anything else (event.* notifications) is not
 * ours.
 */
static void
on_message(struct ws_client *cl, struct ws_conn *w, const char *m, size_t len)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
	struct bench *b = cl->data;
	struct conn *c = conn_of(w);
	if (len < sizeof(head) || memcmp(m, head, sizeof(head) - 1) != 0) {
		return;
	}
	uint64_t id = strtoull(m + sizeof(head) - 1, NULL, 10);
	if (!c->in_flight || id != c->id) {
		die_answer("a call not in flight", m, len);
	}
	uint64_t t = bench_now_ns();
	c->in_flight = false;
	int code = error_code(m, len);
	switch (c->st) {
	case ST_LOGIN:
		if (code == RPC_RATE_LIMITED) {
			b->setup_retries++;
			c->retry_ns = t + 1000000000u;
			return;
		}
		b->tokens[c->account] = str_value(m, "access_token");
		if (code || !b->tokens[c->account]) {
			die_answer("auth.login", m, len);
		}
		c->st = ST_READY;
		b->ready++;
		b->logins_in_flight--;
		/* the account's other connections bind with its token */
		for (unsigned i = c->account + b->accounts; i < b->n; i += b->accounts) {
			send_auth(b, &b->conns[i]);
		}
		start_logins(b);
		return;
	case ST_AUTH:
		if (code || !g_strstr_len(m, (gssize)len, "\"user\"")) {
			die_answer("auth.authenticate", m, len);
		}
		c->st = ST_READY;
		b->ready++;
		return;
	case ST_BOOK:
		on_book_answer(b, c, m, len, t);
		return;
	case ST_CALL:
		c->answer = g_strndup(m, len);
		c->st = ST_READY;
		return;
	default:
		die_answer("a connection without a call", m, len);
	}
}

static uint64_t
pump_retries(struct bench *b, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	for (unsigned i = 0; i < b->accounts; i++) {
		struct conn *c = &b->conns[i];
		if (!c->retry_ns) {
			continue;
		}
		if (c->retry_ns > now) {
			next = MIN(next, c->retry_ns);
			continue;
		}
		c->retry_ns = 0;
		send_login(b, c);
	}
	return next;
}

/* Runs the loop until done() or the deadline; returns done(). */
static bool
run_until(struct bench *b, uint64_t deadline, bool (*done)(struct bench *, void *), void *arg)
{
	struct epoll_event evs[256];
	for (;;) {
		uint64_t now = bench_now_ns();
		uint64_t next = pump_retries(b, now);
		if (done(b, arg)) {
			return true;
		}
		if (now >= deadline) {
			return false;
		}
		uint64_t wake = MIN(next, deadline);
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

static bool
answered(struct bench *b, void *arg)
{
	(void)b;
	return ((struct conn *)arg)->answer != NULL;
}

static bool
all_ready(struct bench *b, void *arg)
{
	(void)arg;
	return b->ready == b->n;
}

static bool
all_answered(struct bench *b, void *arg)
{
	(void)arg;
	return b->outstanding == 0;
}

/* One call on a setup connection, waited for (30 s); (transfer full) the answer. */
static char *
call_sync(struct bench *b, struct conn *c, const char *method, const char *params)
{
	c->st = ST_CALL;
	c->answer = NULL;
	send_call(b, c, method, params);
	if (!run_until(b, bench_now_ns() + 30ull * 1000000000u, answered, c)) {
		fprintf(stderr, "booking-bench: no answer to %s within 30 s\n", method);
		exit(2);
	}
	char *a = c->answer;
	c->answer = NULL;
	return a;
}

static char *
login_sync(struct bench *b, struct conn *c, const char *login, const char *password,
	   char **user_id)
{
	char *params = g_strdup_printf("{\"login\":\"%s\",\"password\":\"%s\"}", login, password);
	char *a = call_sync(b, c, "auth.login", params);
	g_free(params);
	const char *u = strstr(a, "\"user\":{");
	if (error_code(a, strlen(a)) || !u) {
		die_answer("auth.login (staff or host)", a, strlen(a));
	}
	*user_id = str_value(u, "id");
	return a;
}

/*
 * schedule.create on the first working day from tomorrow: the slot ids, in
 * time order, into ids (must be exactly want). Returns the date used.
 */
static char *
create_schedule(struct bench *b, const char *agency, const char *host, const char *from,
		const char *to, unsigned slot_minutes, unsigned capacity, unsigned want,
		GPtrArray *ids, const char *fixed_date)
{
	GTimeZone *tz = g_time_zone_new_identifier("+07:00");
	GDateTime *now = g_date_time_new_now(tz);
	for (int d = 1; d <= 30; d++) {
		GDateTime *day = g_date_time_add_days(now, d);
		char *date = g_date_time_format(day, "%Y-%m-%d");
		int dow = g_date_time_get_day_of_week(day);
		g_date_time_unref(day);
		if (fixed_date ? strcmp(date, fixed_date) != 0 : dow >= 6) {
			g_free(date);
			continue;
		}
		char *params = g_strdup_printf(
			"{\"agency_id\":\"%s\",\"host_id\":\"%s\",\"start\":\"%sT%s:00+07:00\","
			"\"end\":\"%sT%s:00+07:00\",\"slot_minutes\":%u,\"capacity\":%u,"
			"\"mode\":\"in_person\",\"location\":\"Phòng tiếp công dân\",\"ad_hoc\":true}",
			agency, host, date, from, date, to, slot_minutes, capacity);
		char *a = call_sync(b, &b->staff, "schedule.create", params);
		g_free(params);
		int code = error_code(a, strlen(a));
		if (code == RPC_CONFLICT && strstr(a, "\"no_slots\"") && !fixed_date) {
			g_free(a); /* a holiday: the next day */
			g_free(date);
			continue;
		}
		if (code) {
			die_answer("schedule.create", a, strlen(a));
		}
		for (const char *p = a; (p = strstr(p, "\"slot_id\":\"")) != NULL; p += 11) {
			g_ptr_array_add(ids, str_value(p, "slot_id"));
		}
		if (ids->len != want) {
			fprintf(stderr, "booking-bench: schedule.create gave %u slots, not %u: %.600s\n",
				ids->len, want, a);
			exit(1);
		}
		g_free(a);
		g_date_time_unref(now);
		g_time_zone_unref(tz);
		return date;
	}
	fprintf(stderr, "booking-bench: no working day within 30 days\n");
	exit(2);
}

struct scrape {
	double commits, jobs;
	bool ok;
};

static void
scrape(struct bench *b, struct scrape *s)
{
	char *m = bench_http_get(b->cl.host, b->cl.port, "/metrics");
	s->ok = m != NULL;
	if (!m) {
		return;
	}
	s->commits = bench_prom_value(m, "tiepdan_db_commit_duration_seconds_count");
	s->jobs = bench_prom_value(m, "tiepdan_db_commit_jobs_total");
	s->ok = s->commits >= 0 && s->jobs >= 0;
	free(m);
}

/* One scenario: connection i books slots[slot_of(i)]. Returns false on a wrong answer. */
static bool
run_scenario(struct bench *b, const char *label, const char *what, GPtrArray *slots,
	     unsigned per_slot)
{
	b->ok = b->refused = b->other = b->double_seats = 0;
	b->nreasons = 0;
	lat_clear(&b->lat);
	g_hash_table_remove_all(b->seat_tbl);
	/* the requests, built before the window */
	char **params = calloc(b->n, sizeof(*params));
	if (!params) {
		bench_die("calloc");
	}
	for (unsigned i = 0; i < b->n; i++) {
		const char *slot = g_ptr_array_index(slots, per_slot ? i / per_slot : 0);
		params[i] = g_strdup_printf("{\"slot_id\":\"%s\",\"topic\":\"Hỏi về thủ tục cấp "
					    "giấy chứng nhận quyền sử dụng đất, kết nối %u\"}",
					    slot, i);
	}
	struct scrape m0 = {0}, m1 = {0};
	scrape(b, &m0);
	uint64_t ut0, st0, ut1, st1;
	if (bench_proc_cpu(b->server_pid, &ut0, &st0) < 0) {
		fprintf(stderr, "booking-bench: cannot read /proc/%ld/stat\n", b->server_pid);
		exit(2);
	}
	double self0 = bench_self_cpu_s();
	b->outstanding = b->n;
	b->t_first = bench_now_ns();
	for (unsigned i = 0; i < b->n; i++) {
		struct conn *c = &b->conns[i];
		c->st = ST_BOOK;
		send_call(b, c, "appointment.book", params[i]);
	}
	uint64_t t_sent = bench_now_ns();
	bool done = run_until(b, b->t_first + 300ull * 1000000000u, all_answered, NULL);
	uint64_t t_end = bench_now_ns();
	if (bench_proc_cpu(b->server_pid, &ut1, &st1) < 0) {
		fprintf(stderr, "booking-bench: cannot read /proc/%ld/stat\n", b->server_pid);
		exit(2);
	}
	double self_s = bench_self_cpu_s() - self0;
	scrape(b, &m1);
	for (unsigned i = 0; i < b->n; i++) {
		g_free(params[i]);
	}
	free(params);
	if (!done) {
		fprintf(stderr, "booking-bench: %u answers missing after 300 s\n", b->outstanding);
		exit(1);
	}
	long hz = sysconf(_SC_CLK_TCK);
	double window_s = (double)(b->t_last - b->t_first) / 1e9;
	double cpu_s = (double)((ut1 - ut0) + (st1 - st0)) / (double)hz;
	double usr_s = (double)(ut1 - ut0) / (double)hz, sys_s = (double)(st1 - st0) / (double)hz;
	double cpu_window_s = (double)(t_end - b->t_first) / 1e9;
	lat_sort(&b->lat);
	double p50 = (double)lat_percentile(&b->lat, 50) / 1e3;
	double p99 = (double)lat_percentile(&b->lat, 99) / 1e3;
	double pmax = (double)lat_percentile(&b->lat, 100) / 1e3;
	double commits = m0.ok && m1.ok ? m1.commits - m0.commits : -1;
	double jobs = m0.ok && m1.ok ? m1.jobs - m0.jobs : -1;

	printf("-- scenario %s: %s\n", label, what);
	printf("  requests %u (one per connection, written in %.2f ms), answered in %.1f ms\n", b->n,
	       (double)(t_sent - b->t_first) / 1e6, window_s * 1e3);
	printf("  successes %" PRIu64 ", refusals %" PRIu64, b->ok, b->refused);
	if (b->nreasons) {
		printf(" (");
		for (unsigned i = 0; i < b->nreasons; i++) {
			printf("%s%s %" PRIu64, i ? ", " : "", b->reasons[i].name, b->reasons[i].n);
		}
		printf(")");
	}
	printf(", other answers %" PRIu64 "\n", b->other);
	printf("  bookings/s %.0f   answers/s %.0f   latency p50 %.1f ms  p99 %.1f ms  max %.1f ms\n",
	       window_s > 0 ? (double)b->ok / window_s : 0, window_s > 0 ? b->n / window_s : 0,
	       p50 / 1e3, p99 / 1e3, pmax / 1e3);
	printf("  server CPU %.2f s (user %.2f + kernel %.2f) over %.2f s: %.0f us per request;"
	       " booking-bench own CPU %.2f s\n",
	       cpu_s, usr_s, sys_s, cpu_window_s, cpu_s * 1e6 / b->n, self_s);
	if (commits >= 0) {
		printf("  store: %.0f commits, %.0f jobs (%.1f jobs per commit)\n", commits, jobs,
		       commits > 0 ? jobs / commits : 0.0);
	}
	printf("  distinct (slot, seat) answered: %u; seats answered twice: %" PRIu64 "%s\n",
	       g_hash_table_size(b->seat_tbl), b->double_seats,
	       b->double_seats ? "   <-- DOUBLE SEAT" : "");
	printf("result scenario=%s requests=%u successes=%" PRIu64 " refusals=%" PRIu64
	       " other=%" PRIu64 " window_ms=%.1f bookings_per_s=%.1f answers_per_s=%.1f"
	       " p50_ms=%.2f p99_ms=%.2f max_ms=%.2f send_ms=%.2f server_cpu_s=%.2f"
	       " commits=%.0f jobs=%.0f double_seats=%" PRIu64,
	       label, b->n, b->ok, b->refused, b->other, window_s * 1e3,
	       window_s > 0 ? (double)b->ok / window_s : 0, window_s > 0 ? b->n / window_s : 0,
	       p50 / 1e3, p99 / 1e3, pmax / 1e3, (double)(t_sent - b->t_first) / 1e6, cpu_s,
	       commits, jobs, b->double_seats);
	for (unsigned i = 0; i < b->nreasons; i++) {
		printf(" refused_%s=%" PRIu64, b->reasons[i].name, b->reasons[i].n);
	}
	printf("\n\n");
	fflush(stdout);
	return b->other == 0 && b->double_seats == 0;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: booking-bench --port PORT --pid SERVER_PID [--connections 1000]\n"
		"                     [--accounts 100] [--seats 100] [--b-slots 100]\n"
		"                     [--phone-base 960000000] [--password demo-citizen-2026]\n"
		"                     [--setup-parallel 16] [--date YYYY-MM-DD]\n"
		"Citizen account k (0 <= k < accounts) logs in as 0(phone-base + k), 10 digits.\n");
}

int
main(int argc, char **argv)
{
	struct bench b = {
		.n = 1000,
		.accounts = 100,
		.seats = 100,
		.b_slots = 100,
		.setup_parallel = 16,
		.phone_base = 960000000,
		.password = "demo-citizen-2026",
		.staff_login = "vanthu.tranbien",
		.staff_password = "demo-staff-2026",
		.host_login = "canbo.tranbien",
		.host_password = "demo-official-2026",
	};
	const char *date = NULL;
	bench_prog = "booking-bench";
	ws_client_init(&b.cl, on_message, &b);
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'p'},
		{"pid", required_argument, NULL, 'P'},
		{"connections", required_argument, NULL, 'c'},
		{"accounts", required_argument, NULL, 'a'},
		{"seats", required_argument, NULL, 's'},
		{"b-slots", required_argument, NULL, 'b'},
		{"phone-base", required_argument, NULL, 'B'},
		{"password", required_argument, NULL, 'w'},
		{"setup-parallel", required_argument, NULL, 'S'},
		{"date", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'H'},
		{0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'p': b.cl.port = atoi(optarg); break;
		case 'P': b.server_pid = atol(optarg); break;
		case 'c': b.n = (unsigned)atoi(optarg); break;
		case 'a': b.accounts = (unsigned)atoi(optarg); break;
		case 's': b.seats = (unsigned)atoi(optarg); break;
		case 'b': b.b_slots = (unsigned)atoi(optarg); break;
		case 'B': b.phone_base = strtoull(optarg, NULL, 10); break;
		case 'w': b.password = optarg; break;
		case 'S': b.setup_parallel = (unsigned)atoi(optarg); break;
		case 'd': date = optarg; break;
		case 'H': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	unsigned per_slot = b.b_slots ? b.n / b.b_slots : 0;
	if (b.cl.port <= 0 || b.cl.port > 65535 || b.server_pid <= 0 || b.n == 0 || b.n > 10000 ||
	    b.accounts == 0 || b.accounts > b.n || b.seats == 0 || b.seats > 1000 ||
	    b.b_slots == 0 || b.b_slots > 190 || per_slot == 0 || per_slot * b.b_slots != b.n ||
	    per_slot > 1000 || b.setup_parallel == 0 ||
	    b.phone_base + b.accounts > 1000000000 || b.phone_base < 300000000) {
		usage(stderr);
		return 2;
	}
	/* Scenario B: an account's connections i = a + accounts * j must book distinct slots. */
	if (b.accounts < per_slot) {
		fprintf(stderr, "booking-bench: --accounts must be >= connections / b-slots (%u)\n",
			per_slot);
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < b.n + 64) {
		rl.rlim_cur = rl.rlim_max < b.n + 64 ? rl.rlim_max : b.n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	b.seat_tbl = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	b.tokens = calloc(b.accounts, sizeof(*b.tokens));
	b.conns = calloc(b.n, sizeof(*b.conns));
	if (!b.tokens || !b.conns) {
		bench_die("calloc");
	}

	/* ---- setup: staff, host, the two schedules ---- */
	uint64_t s0 = bench_now_ns();
	ws_conn_open(&b.cl, &b.staff.ws, b.n);
	ws_conn_open(&b.cl, &b.host.ws, b.n + 1);
	ws_parse_frames(&b.cl, &b.staff.ws);
	ws_parse_frames(&b.cl, &b.host.ws);
	char *staff_id = NULL, *host_id = NULL;
	char *sa = login_sync(&b, &b.staff, b.staff_login, b.staff_password, &staff_id);
	/* the agency: the staff role's */
	const char *r = strstr(sa, "\"role\":\"staff\"");
	const char *ag = r ? strstr(r, "\"agency_id\":\"") : NULL;
	char *agency = ag ? str_value(ag, "agency_id") : NULL;
	if (!agency) {
		die_answer("auth.login (staff: no staff role)", sa, strlen(sa));
	}
	g_free(sa);
	g_free(staff_id);
	g_free(login_sync(&b, &b.host, b.host_login, b.host_password, &host_id));
	GPtrArray *slots_a = g_ptr_array_new_with_free_func(g_free);
	GPtrArray *slots_b = g_ptr_array_new_with_free_func(g_free);
	char *day = create_schedule(&b, agency, host_id, "07:00", "07:30", 30, b.seats, 1, slots_a,
				    date);
	unsigned b_min = 8 * 60 + 5 * b.b_slots;
	char b_end[16];
	snprintf(b_end, sizeof(b_end), "%02u:%02u", b_min / 60, b_min % 60);
	g_free(create_schedule(&b, agency, host_id, "08:00", b_end, 5, per_slot, b.b_slots,
			       slots_b, day));

	/* ---- setup: the citizens' connections ---- */
	for (unsigned i = 0; i < b.n; i++) {
		b.conns[i].account = i % b.accounts;
		ws_conn_open(&b.cl, &b.conns[i].ws, i);
	}
	for (unsigned i = 0; i < b.n; i++) {
		if (b.conns[i].ws.rlen > 0) {
			ws_parse_frames(&b.cl, &b.conns[i].ws);
		}
	}
	uint64_t l0 = bench_now_ns();
	start_logins(&b);
	if (!run_until(&b, l0 + 900ull * 1000000000u, all_ready, NULL)) {
		fprintf(stderr, "booking-bench: only %u of %u connections bound after 900 s\n",
			b.ready, b.n);
		return 2;
	}
	double login_s = (double)(bench_now_ns() - l0) / 1e9;
	printf("booking-bench: %u connections, %u citizen accounts (%u auth.login, one argon2 verify"
	       " each, %u auth.authenticate with their tokens; %u rate-limited retries) bound in"
	       " %.1f s; setup %.1f s in all\n",
	       b.n, b.accounts, b.accounts, b.n - b.accounts, b.setup_retries, login_s,
	       (double)(bench_now_ns() - s0) / 1e9);
	printf("agency %s, host %s (%s), date %s (+07:00); scenario A slot %s (07:00-07:30,"
	       " %u seats); scenario B %u slots of %u seats (08:00-%s)\n\n",
	       agency, host_id, b.host_login, day, (char *)g_ptr_array_index(slots_a, 0), b.seats,
	       b.b_slots, per_slot, b_end);
	printf("slots date=%s a=%s\n\n", day, (char *)g_ptr_array_index(slots_a, 0));
	fflush(stdout);

	char *what_a = g_strdup_printf("competing: %u connections book the one slot of %u seats",
				       b.n, b.seats);
	char *what_b = g_strdup_printf("distinct seats: %u connections, %u slots of %u seats,"
				       " connection i books slot i / %u",
				       b.n, b.b_slots, per_slot, per_slot);
	bool good = run_scenario(&b, "A", what_a, slots_a, 0);
	good = run_scenario(&b, "B", what_b, slots_b, per_slot) && good;
	g_free(what_a);
	g_free(what_b);
	for (unsigned i = 0; i < b.n; i++) {
		ws_conn_close(&b.cl, &b.conns[i].ws);
	}
	ws_conn_close(&b.cl, &b.staff.ws);
	ws_conn_close(&b.cl, &b.host.ws);
	return good ? 0 : 1;
}
