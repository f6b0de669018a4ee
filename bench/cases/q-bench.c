/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * cases-q-bench: `case.list {q, limit}` latency, one call at a time, for each
 * of a set of logins (e.g. the city inspector, who sees every case, and a
 * ward official, who sees the ward's).
 *
 * Each login gets its own connection (`auth.login` binds it). Then, login by
 * login, one warm-up pass over the queries (not counted), and ROUNDS passes
 * in which every query is sent once, in order; the next call goes out when
 * the answer arrived (no new pass after --budget seconds, when 3 are done:
 * slow answers). The empty query is case.list without q, for comparison. Latency: write of the request to the parse of the
 * answer. For each query: the items on the first page, whether there is a
 * next page, p50 / p99 / max over the rounds; for each login: p50 / p99 over
 * all its calls, and the server's CPU per call (/proc/PID/stat).
 *
 * --reference FILE adds the same query run directly on the database (by
 * bench/cases/run.sh, through the sqlite3 shell): lines "q<TAB>p50_ms<TAB>
 * p99_ms<TAB>matching_cases".
 *
 * --print-match prints, for each query, the FTS5 expression case.list makes
 * of it (portal/cases.c, fts_query(q, 12, false): NFC, đ/Đ folded to d/D,
 * the words of 2 characters or more, quoted, joined with AND), and exits;
 * run.sh feeds it to the reference.
 *
 * Output: a table, then one `result key=value ...` line per login. Exit
 * status 1 when an answer was an error, 2 on a usage or connection error.
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
#include <time.h>
#include <unistd.h>

#include "../common/bench.h"
#include "../common/ws.h"

#define MAX_LOGINS 8
#define MAX_QUERIES 64
#define RPC_RATE_LIMITED (-32029)

struct ref {
	bool have;
	double p50, p99;
	long docs;
};

struct login {
	char *label, *login, *password;
	struct ws_conn ws;
	/* per query */
	struct lat_vec lat[MAX_QUERIES];
	int items[MAX_QUERIES];
	bool more[MAX_QUERIES];
	struct lat_vec all;
	double cpu_s, secs;
	uint64_t calls;
	unsigned rounds_done;
};

struct bench {
	struct ws_client cl;
	long server_pid;
	unsigned rounds;
	double budget_s; /* per login: no new round past it (at least 3 rounds) */
	int limit;
	char *queries[MAX_QUERIES];
	unsigned nq;
	struct ref ref[MAX_QUERIES];
	struct login logins[MAX_LOGINS];
	unsigned nlogins;
	/* the call in flight */
	uint64_t id_seq, id;
	bool waiting;
	char *answer;
	size_t answer_len;
	uint64_t answer_ns;
	uint64_t errors;
};

/*
 * The words of 2 characters or more, folded like the index (NFC, đ → d),
 * quoted, joined with AND: fts_query(q, 12, false) and case_list() in
 * portal/cases.c.
 */
static char *
fts_match(const char *text)
{
	char *nfc = g_utf8_normalize(text, -1, G_NORMALIZE_NFC);
	GString *folded = g_string_new(NULL);
	for (const char *p = nfc ? nfc : ""; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		g_string_append_unichar(folded, c == 0x0111 ? 'd' : c == 0x0110 ? 'D' : c);
	}
	g_free(nfc);
	GString *q = g_string_new(NULL);
	int n = 0;
	const char *p = folded->str;
	while (*p && n < 12) {
		while (*p && !g_unichar_isalnum(g_utf8_get_char(p))) {
			p = g_utf8_next_char(p);
		}
		const char *start = p;
		while (*p && g_unichar_isalnum(g_utf8_get_char(p))) {
			p = g_utf8_next_char(p);
		}
		if (p > start && g_utf8_strlen(start, p - start) >= 2) {
			g_string_append_printf(q, "%s\"%.*s\"", n ? " AND " : "", (int)(p - start),
					       start);
			n++;
		}
	}
	g_string_free(folded, TRUE);
	return g_string_free(q, FALSE);
}

static void
on_message(struct ws_client *cl, struct ws_conn *w, const char *m, size_t len)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
	struct bench *b = cl->data;
	if (len < sizeof(head) || memcmp(m, head, sizeof(head) - 1) != 0) {
		return; /* a notification */
	}
	uint64_t id = strtoull(m + sizeof(head) - 1, NULL, 10);
	if (!b->waiting || id != b->id) {
		fprintf(stderr, "cases-q-bench: answer to a call not in flight: %.*s\n",
			(int)(len > 300 ? 300 : len), m);
		exit(1);
	}
	b->answer_ns = bench_now_ns();
	b->waiting = false;
	g_free(b->answer);
	b->answer = g_strndup(m, len);
	b->answer_len = len;
}

/* One call, answered: returns its latency in ns; the answer is in b->answer. */
static uint64_t
call(struct bench *b, struct login *l, const char *method, const char *params)
{
	char *body = g_strdup_printf("{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64 ",\"method\":\"%s\","
				     "\"params\":%s}",
				     ++b->id_seq, method, params);
	b->id = b->id_seq;
	b->waiting = true;
	uint64_t t0 = bench_now_ns();
	ws_send_text(&b->cl, &l->ws, body, strlen(body));
	g_free(body);
	struct epoll_event evs[8];
	while (b->waiting) {
		int n = epoll_wait(b->cl.epfd, evs, (int)G_N_ELEMENTS(evs), 120000);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			fprintf(stderr, "cases-q-bench: no answer to %s within 120 s\n", method);
			exit(2);
		}
		for (int i = 0; i < n; i++) {
			ws_handle_event(&b->cl, &evs[i]);
		}
	}
	return b->answer_ns - t0;
}

static int
error_code(const char *m)
{
	const char *e = strstr(m, "\"error\":{");
	if (!e) {
		return 0;
	}
	const char *code = strstr(e, "\"code\":");
	return code ? atoi(code + 7) : -1;
}

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
do_login(struct bench *b, struct login *l)
{
	char *ql = json_quote(l->login), *qp = json_quote(l->password);
	char *params = g_strdup_printf("{\"login\":%s,\"password\":%s}", ql, qp);
	for (int attempt = 0;; attempt++) {
		call(b, l, "auth.login", params);
		int code = error_code(b->answer);
		if (code == RPC_RATE_LIMITED && attempt < 30) {
			sleep(1);
			continue;
		}
		if (code || !strstr(b->answer, "\"access_token\"")) {
			fprintf(stderr, "cases-q-bench: login %s failed: %.300s\n", l->login, b->answer);
			exit(2);
		}
		break;
	}
	g_free(params);
	g_free(ql);
	g_free(qp);
}

static unsigned
count_items(const char *m)
{
	unsigned n = 0;
	/* every item carries a tracking code, and nothing else in the answer does */
	for (const char *p = strstr(m, "\"tracking_code\""); p;
	     p = strstr(p + 1, "\"tracking_code\"")) {
		n++;
	}
	return n;
}

static void
run_login(struct bench *b, struct login *l)
{
	char *params[MAX_QUERIES];
	for (unsigned q = 0; q < b->nq; q++) {
		if (!*b->queries[q]) { /* the empty query: the list without q, for comparison */
			params[q] = g_strdup_printf("{\"limit\":%d}", b->limit);
			continue;
		}
		char *qq = json_quote(b->queries[q]);
		params[q] = g_strdup_printf("{\"q\":%s,\"limit\":%d}", qq, b->limit);
		g_free(qq);
	}
	for (unsigned q = 0; q < b->nq; q++) { /* warm-up pass */
		call(b, l, "case.list", params[q]);
		if (error_code(b->answer)) {
			fprintf(stderr, "cases-q-bench: case.list %s as %s: %.300s\n", params[q],
				l->label, b->answer);
			exit(1);
		}
		l->items[q] = (int)count_items(b->answer);
		l->more[q] = strstr(b->answer, "\"next_cursor\":null") == NULL;
	}
	uint64_t ut0, st0, ut1, st1;
	long hz = sysconf(_SC_CLK_TCK);
	bench_proc_cpu(b->server_pid, &ut0, &st0);
	uint64_t t0 = bench_now_ns();
	for (unsigned r = 0; r < b->rounds; r++) {
		if (r >= 3 && (double)(bench_now_ns() - t0) / 1e9 > b->budget_s) {
			break; /* slow answers: fewer rounds, said in the output */
		}
		l->rounds_done = r + 1;
		for (unsigned q = 0; q < b->nq; q++) {
			uint64_t ns = call(b, l, "case.list", params[q]);
			if (error_code(b->answer)) {
				b->errors++;
				fprintf(stderr, "cases-q-bench: case.list %s as %s: %.300s\n",
					params[q], l->label, b->answer);
				continue;
			}
			lat_push(&l->lat[q], ns);
			lat_push(&l->all, ns);
			l->calls++;
		}
	}
	l->secs = (double)(bench_now_ns() - t0) / 1e9;
	bench_proc_cpu(b->server_pid, &ut1, &st1);
	l->cpu_s = (double)(ut1 - ut0 + st1 - st0) / (double)hz;
	for (unsigned q = 0; q < b->nq; q++) {
		lat_sort(&l->lat[q]);
		g_free(params[q]);
	}
	lat_sort(&l->all);
}

static void
read_reference(struct bench *b, const char *file)
{
	gchar *text = NULL;
	if (!g_file_get_contents(file, &text, NULL, NULL)) {
		fprintf(stderr, "cases-q-bench: cannot read %s\n", file);
		exit(2);
	}
	gchar **lines = g_strsplit(text, "\n", -1);
	for (gchar **l = lines; *l; l++) {
		gchar **f = g_strsplit(*l, "\t", -1);
		if (g_strv_length(f) >= 4) {
			for (unsigned q = 0; q < b->nq; q++) {
				if (strcmp(f[0], b->queries[q]) == 0) {
					b->ref[q] = (struct ref){.have = true,
								 .p50 = g_ascii_strtod(f[1], NULL),
								 .p99 = g_ascii_strtod(f[2], NULL),
								 .docs = atol(f[3])};
				}
			}
		}
		g_strfreev(f);
	}
	g_strfreev(lines);
	g_free(text);
}

static double
ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: cases-q-bench --port PORT --pid SERVER_PID\n"
		"                     --as LABEL:LOGIN:PASSWORD [--as ...]\n"
		"                     --query Q [--query ...] [--rounds 15] [--limit 20]\n"
		"                     [--budget 120] [--reference FILE] [--host 127.0.0.1]\n"
		"  --query '' is case.list without q. A login starts no new round after\n"
		"  --budget seconds (but runs at least 3).\n"
		"       cases-q-bench --print-match --query Q [--query ...]\n");
}

int
main(int argc, char **argv)
{
	struct bench b = {.server_pid = -1, .rounds = 15, .budget_s = 120, .limit = 20};
	const char *reference = NULL;
	bool print_match = false;
	bench_prog = "cases-q-bench";
	ws_client_init(&b.cl, on_message, &b);
	static const struct option opts[] = {
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"pid", required_argument, NULL, 'i'},
		{"as", required_argument, NULL, 'a'},
		{"query", required_argument, NULL, 'q'},
		{"rounds", required_argument, NULL, 'r'},
		{"limit", required_argument, NULL, 'l'},
		{"budget", required_argument, NULL, 'B'},
		{"reference", required_argument, NULL, 'R'},
		{"print-match", no_argument, NULL, 'm'},
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
		case 'i':
			b.server_pid = strtol(optarg, NULL, 10);
			break;
		case 'a': {
			gchar **f = g_strsplit(optarg, ":", 3);
			if (g_strv_length(f) != 3 || b.nlogins == MAX_LOGINS) {
				usage(stderr);
				return 2;
			}
			struct login *l = &b.logins[b.nlogins++];
			l->label = g_strdup(f[0]);
			l->login = g_strdup(f[1]);
			l->password = g_strdup(f[2]);
			g_strfreev(f);
			break;
		}
		case 'q':
			if (b.nq == MAX_QUERIES) {
				usage(stderr);
				return 2;
			}
			b.queries[b.nq++] = g_utf8_normalize(optarg, -1, G_NORMALIZE_NFC);
			break;
		case 'r':
			b.rounds = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'l':
			b.limit = atoi(optarg);
			break;
		case 'B':
			b.budget_s = strtod(optarg, NULL);
			break;
		case 'R':
			reference = optarg;
			break;
		case 'm':
			print_match = true;
			break;
		case 'H':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (print_match) {
		for (unsigned q = 0; q < b.nq; q++) {
			if (!*b.queries[q]) {
				continue;
			}
			char *m = fts_match(b.queries[q]);
			printf("%s\t%s\n", b.queries[q], m);
			g_free(m);
		}
		return 0;
	}
	if (b.cl.port <= 0 || b.server_pid <= 0 || b.nlogins == 0 || b.nq == 0 || b.rounds == 0 ||
	    b.limit < 1 || b.limit > 100) {
		usage(stderr);
		return 2;
	}
	if (reference) {
		read_reference(&b, reference);
	}
	for (unsigned i = 0; i < b.nlogins; i++) {
		ws_conn_open(&b.cl, &b.logins[i].ws, i);
		if (b.logins[i].ws.rlen > 0) {
			ws_parse_frames(&b.cl, &b.logins[i].ws);
		}
		do_login(&b, &b.logins[i]);
	}
	uint64_t busy0 = 0, busy1 = 0, sut0, sst0, sut1, sst1;
	long hz = sysconf(_SC_CLK_TCK);
	bench_machine_busy(&busy0);
	bench_proc_cpu(b.server_pid, &sut0, &sst0);
	double self0 = bench_self_cpu_s();
	uint64_t w0 = bench_now_ns();
	for (unsigned i = 0; i < b.nlogins; i++) {
		run_login(&b, &b.logins[i]);
	}
	double wall = (double)(bench_now_ns() - w0) / 1e9;
	bench_machine_busy(&busy1);
	bench_proc_cpu(b.server_pid, &sut1, &sst1);
	double self_s = bench_self_cpu_s() - self0;
	double others_s = (double)(busy1 - busy0 - (sut1 - sut0) - (sst1 - sst0)) / (double)hz -
			  self_s;
	if (others_s < 0) {
		others_s = 0;
	}
	for (unsigned i = 0; i < b.nlogins; i++) {
		ws_conn_close(&b.cl, &b.logins[i].ws);
	}

	printf("cases-q-bench: case.list {q, limit: %d}, one call at a time; %u queries x %u "
	       "rounds per login after a warm-up pass\n",
	       b.limit, b.nq, b.rounds);
	printf("items: on the first page (+: a next page exists); reference: the same MATCH, "
	       "ORDER BY received_at DESC\nLIMIT %d, in the sqlite3 shell on the same database "
	       "(.timer, 1 ms resolution); cases: how many match\n\n",
	       b.limit);
	printf("%-22s %-26s %8s | %6s %8s %8s %8s | %8s %8s\n", "login", "q", "cases", "items",
	       "p50 ms", "p99 ms", "max ms", "ref p50", "ref p99");
	for (unsigned i = 0; i < b.nlogins; i++) {
		struct login *l = &b.logins[i];
		for (unsigned q = 0; q < b.nq; q++) {
			char items[16], docs[16] = "-", r50[16] = "-", r99[16] = "-";
			snprintf(items, sizeof(items), "%d%s", l->items[q], l->more[q] ? "+" : "");
			if (b.ref[q].have) {
				snprintf(docs, sizeof(docs), "%ld", b.ref[q].docs);
				snprintf(r50, sizeof(r50), "%.1f", b.ref[q].p50);
				snprintf(r99, sizeof(r99), "%.1f", b.ref[q].p99);
			}
			/* a label of UTF-8 text: pad by characters, not bytes */
			const char *label = *b.queries[q] ? b.queries[q] : "(no q)";
			glong chars = g_utf8_strlen(label, -1);
			printf("%-22s %s%*s %8s | %6s %8.2f %8.2f %8.2f | %8s %8s\n",
			       q == 0 ? l->label : "", label, (int)(chars < 26 ? 26 - chars : 0),
			       "", docs, items, ms(lat_percentile(&l->lat[q], 50)),
			       ms(lat_percentile(&l->lat[q], 99)),
			       ms(l->lat[q].len ? l->lat[q].v[l->lat[q].len - 1] : 0), r50, r99);
		}
	}
	/* the reference over every query: its per-query p99 is the best the shell's timer gives */
	printf("\n%-22s %7s %7s %8s %8s %8s %11s | %s\n", "login", "rounds", "calls", "p50 ms",
	       "p99 ms", "max ms", "CPU ms/call", "target: p99 < 50 ms");
	bool all_met = true;
	for (unsigned i = 0; i < b.nlogins; i++) {
		struct login *l = &b.logins[i];
		double p99 = ms(lat_percentile(&l->all, 99));
		bool met = p99 < 50;
		all_met = all_met && met;
		printf("%-22s %7u %7" PRIu64 " %8.2f %8.2f %8.2f %11.2f | %s\n", l->label,
		       l->rounds_done, l->calls,
		       ms(lat_percentile(&l->all, 50)), p99,
		       ms(l->all.len ? l->all.v[l->all.len - 1] : 0),
		       l->calls ? l->cpu_s * 1e3 / (double)l->calls : 0, met ? "met" : "NOT MET");
	}
	printf("\nbench CPU %.1f%%, others %.1f%% of one core over %.1f s (others: CPU of the "
	       "machine used by neither\nthe server nor this program; more than a few %% spoils "
	       "the run)\n",
	       self_s / wall * 100, others_s / wall * 100, wall);
	for (unsigned i = 0; i < b.nlogins; i++) {
		struct login *l = &b.logins[i];
		printf("result login=%s rounds=%u calls=%" PRIu64 " p50_ms=%.3f p99_ms=%.3f "
		       "max_ms=%.3f cpu_ms_per_call=%.3f others_pct=%.1f",
		       l->label, l->rounds_done, l->calls, ms(lat_percentile(&l->all, 50)),
		       ms(lat_percentile(&l->all, 99)),
		       ms(l->all.len ? l->all.v[l->all.len - 1] : 0),
		       l->calls ? l->cpu_s * 1e3 / (double)l->calls : 0, others_s / wall * 100);
		for (unsigned q = 0; q < b.nq; q++) {
			printf(" q%u_p50_ms=%.3f q%u_p99_ms=%.3f", q, ms(lat_percentile(&l->lat[q], 50)),
			       q, ms(lat_percentile(&l->lat[q], 99)));
		}
		printf("\n");
	}
	printf("\ntarget: p99 < 50 ms for every login: %s\n", all_met ? "met" : "NOT MET");
	g_free(b.answer);
	close(b.cl.epfd);
	return b.errors ? 1 : 0;
}
