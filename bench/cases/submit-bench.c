/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * cases-submit-bench: `petition.submit` per second with N concurrent citizens,
 * each on its own connection with exactly one submit outstanding (closed loop).
 *
 * Setup (not measured): every connection registers a new citizen
 * (`auth.register`: a Vietnamese name, a distinct 12-digit national id and
 * 09xxxxxxxx phone) and logs in with it (`auth.login`, which binds the
 * connection). Both hash a password with argon2id (~0.1 s each on the
 * server's one password thread), so 100 citizens take ~20 s. At most
 * --setup-parallel connections are in setup at once (logins in flight count
 * against the per-address throttle); a -32029 answer is retried after 1 s.
 *
 * Then every connection sends `petition.submit {kind: "feedback", field:
 * "environment", title, content, locality_code}` (title and content drawn
 * from a vocabulary of Vietnamese words with diacritics, 512 different
 * petitions cycled), the next one as soon as the answer arrives. After
 * WARMUP seconds, for DURATION seconds:
 *
 *  - submits/s (answers with a tracking code in the window / its length),
 *    and per second of the window;
 *  - p50, p99, max latency (write of the request to the parse of the answer);
 *  - the server's CPU (utime + stime of /proc/PID/stat, all threads, and per
 *    thread), per submit;
 *  - from the server's /metrics at both ends: commits, jobs per commit, the
 *    mean commit time (BEGIN to end of COMMIT), the mean time the server took
 *    per petition.submit;
 *  - this program's CPU, and the machine's busy time spent by neither
 *    ("others": a run that shared the cores with something else is flagged).
 *
 * The drain then waits for the answers still outstanding (their number and
 * how long they took are printed: with slow submits the window may see none
 * complete). Output: a table,
 * then one `result key=value ...` line. Exit status 1 when an answer was not
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
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../common/bench.h"
#include "../common/ws.h"

#define MAX_THREADS 64
#define POOL 512
#define RPC_RATE_LIMITED (-32029)

enum state { ST_NEW, ST_REGISTER, ST_LOGIN, ST_READY, ST_SUBMIT };
enum phase { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_DRAIN };

struct conn {
	struct ws_conn ws; /* the epoll data.ptr is &conn.ws */
	enum state st;
	uint64_t id;       /* of the call in flight */
	uint64_t sent_ns;
	uint64_t retry_ns; /* resend the setup call then (0: none pending) */
	bool in_flight;
	char name[64], nid[13], phone[11];
};

struct bench {
	struct ws_client cl;
	long server_pid;
	unsigned n;
	unsigned setup_parallel;
	double warmup_s, duration_s;
	const char *password, *locality, *kind, *field;
	struct conn *conns;
	enum phase phase;
	uint64_t id_seq;
	unsigned in_setup, ready, in_flight;
	unsigned next_setup; /* next connection to start setting up */
	uint64_t id_base;    /* national ids and phones start here (--id-base) */
	char *pool[POOL];    /* "params" objects of petition.submit */
	size_t pool_len[POOL];
	unsigned pool_next;
	/* the measured window */
	uint64_t t0, t1;
	struct lat_vec lat;
	uint64_t ok, rate_limited, errors, setup_retries;
	uint64_t *per_second;
	unsigned seconds;
	uint64_t submits_before; /* submits answered before the window */
	uint64_t submits_total;
};

static struct conn *
conn_of(struct ws_conn *w)
{
	return (struct conn *)((char *)w - offsetof(struct conn, ws));
}

/* ---- the petitions ---- */

static const char *const words[] = {
	"rác thải", "ùn ứ", "bốc mùi", "hôi thối", "ruồi muỗi", "thu gom", "đổ trộm", "ô nhiễm",
	"xe rác", "điểm tập kết", "người dân", "khu phố", "kéo dài", "nhiều ngày", "bức xúc",
	"ảnh hưởng", "sức khỏe", "trẻ em", "người già", "đề nghị", "cơ quan chức năng",
	"kiểm tra", "xử lý", "dứt điểm", "kênh rạch", "nước thải", "xả thải", "cá chết",
	"khói bụi", "lò đốt", "nhà máy", "ban đêm", "buổi sáng", "mưa lớn", "bãi đất trống",
	"vỉa hè", "chợ", "trường học", "hẻm", "tổ dân phố", "đã phản ánh", "nhiều lần",
	"nhưng chưa", "được giải quyết", "mong", "sớm", "can thiệp", "vệ sinh", "môi trường",
	"mỹ quan", "đô thị", "hộ kinh doanh", "công ty", "bao bì", "xà bần", "túi ni lông",
	"cống", "mùi hóa chất", "thường xuyên", "liên tục", "gần", "cuối tuần", "tình trạng",
};
static const char *const streets[] = {
	"Võ Thị Sáu", "Phạm Văn Thuận", "Đồng Khởi", "Nguyễn Ái Quốc", "Huỳnh Văn Nghệ",
	"Bùi Văn Hòa", "Nguyễn Văn Trị", "Cách Mạng Tháng Tám", "Hà Huy Giáp", "Phan Đình Phùng",
	"Trần Quốc Toản", "Nguyễn Du", "Lê Duẩn", "Hoàng Văn Bổn", "Đặng Văn Trơn",
};
static const char *const surnames[] = {"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan",
				       "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô", "Dương"};
static const char *const middles[] = {"Văn", "Thị", "Hữu", "Minh", "Thanh", "Ngọc", "Quốc", "Đức"};
static const char *const given[] = {"Một", "An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hạnh",
				    "Hòa", "Hùng", "Hương", "Khánh", "Lan", "Linh", "Long",
				    "Mai", "Minh", "Nam", "Nga", "Phong", "Phúc", "Quân", "Sơn",
				    "Tâm", "Thảo", "Trang", "Trung", "Tuấn", "Vân", "Yến"};

static uint32_t
pick(struct bench *b, uint32_t n)
{
	return ws_prng_next(&b->cl) % n;
}

static void
build_pool(struct bench *b)
{
	for (unsigned i = 0; i < POOL; i++) {
		GString *title = g_string_new(NULL), *content = g_string_new(NULL);
		g_string_append_printf(title, "%s %s trên đường %s", i % 3 ? "Rác thải" : "Ô nhiễm",
				       words[pick(b, G_N_ELEMENTS(words))],
				       streets[pick(b, G_N_ELEMENTS(streets))]);
		unsigned nw = 40 + pick(b, 80);
		g_string_append_printf(content, "Kính gửi Ủy ban nhân dân phường. Tại số %u đường %s,",
				       1 + pick(b, 400), streets[pick(b, G_N_ELEMENTS(streets))]);
		for (unsigned w = 0; w < nw; w++) {
			g_string_append_c(content, ' ');
			g_string_append(content, words[pick(b, G_N_ELEMENTS(words))]);
			if (pick(b, 10) == 0) {
				g_string_append_c(content, pick(b, 2) ? ',' : '.');
			}
		}
		g_string_append(content, ". Trân trọng cảm ơn.");
		b->pool[i] = g_strdup_printf("{\"kind\":\"%s\",\"field\":\"%s\",\"title\":\"%s\","
					     "\"content\":\"%s\",\"locality_code\":\"%s\"}",
					     b->kind, b->field, title->str, content->str, b->locality);
		b->pool_len[i] = strlen(b->pool[i]);
		g_string_free(title, TRUE);
		g_string_free(content, TRUE);
	}
}

/* ---- calls ---- */

static void
send_call(struct bench *b, struct conn *c, const char *method, const char *params)
{
	char body[WS_WBUF_SIZE];
	c->id = ++b->id_seq;
	int n = snprintf(body, sizeof(body),
			 "{\"jsonrpc\":\"2.0\",\"id\":%" PRIu64 ",\"method\":\"%s\",\"params\":%s}",
			 c->id, method, params);
	if (n < 0 || (size_t)n >= sizeof(body)) {
		fprintf(stderr, "cases-submit-bench: %s request too long\n", method);
		exit(2);
	}
	c->in_flight = true;
	c->sent_ns = bench_now_ns();
	ws_send_text(&b->cl, &c->ws, body, (size_t)n);
}

static void
send_register(struct bench *b, struct conn *c)
{
	char *params = g_strdup_printf("{\"full_name\":\"%s\",\"national_id\":\"%s\","
				       "\"phone\":\"%s\",\"password\":\"%s\"}",
				       c->name, c->nid, c->phone, b->password);
	c->st = ST_REGISTER;
	send_call(b, c, "auth.register", params);
	g_free(params);
}

static void
send_login(struct bench *b, struct conn *c)
{
	char *params = g_strdup_printf("{\"login\":\"%s\",\"password\":\"%s\"}", c->phone,
				       b->password);
	c->st = ST_LOGIN;
	send_call(b, c, "auth.login", params);
	g_free(params);
}

static void
send_submit(struct bench *b, struct conn *c)
{
	unsigned i = b->pool_next++ % POOL;
	c->st = ST_SUBMIT;
	b->in_flight++;
	send_call(b, c, "petition.submit", b->pool[i]);
}

static void
start_setup(struct bench *b)
{
	while (b->in_setup < b->setup_parallel && b->next_setup < b->n) {
		struct conn *c = &b->conns[b->next_setup++];
		b->in_setup++;
		send_register(b, c);
	}
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

static void
die_answer(const char *what, const char *m, size_t len)
{
	fprintf(stderr, "cases-submit-bench: unexpected answer to %s: %.*s\n", what,
		(int)(len > 600 ? 600 : len), m);
	exit(1);
}

/*
 * A complete message. An answer starts with {"jsonrpc":"2.0","id":N (the
 * server writes the id before the result); anything else (event.*
 * notifications) is not ours. Checked without a JSON parser: the id in
 * flight, then "tracking_code" in a submit's result, "access_token" in a
 * login's, "user_id" in a registration's.
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
	case ST_REGISTER:
	case ST_LOGIN:
		if (code == RPC_RATE_LIMITED) {
			b->setup_retries++;
			c->retry_ns = t + 1000000000u;
			return;
		}
		if (code || !g_strstr_len(m, (gssize)len,
					  c->st == ST_REGISTER ? "\"user_id\"" : "\"access_token\"")) {
			die_answer(c->st == ST_REGISTER ? "auth.register" : "auth.login", m, len);
		}
		if (c->st == ST_REGISTER) {
			send_login(b, c);
		} else {
			c->st = ST_READY;
			b->ready++;
			b->in_setup--;
			start_setup(b);
		}
		return;
	case ST_SUBMIT:
		b->in_flight--;
		b->submits_total++;
		if (code == RPC_RATE_LIMITED) {
			if (b->phase == PH_MEASURE) {
				b->rate_limited++;
			}
		} else if (code || !g_strstr_len(m, (gssize)len, "\"tracking_code\"")) {
			b->errors++;
			if (b->errors <= 5) {
				fprintf(stderr, "cases-submit-bench: unexpected answer to "
						"petition.submit: %.*s\n",
					(int)(len > 600 ? 600 : len), m);
			}
		} else if (b->phase == PH_MEASURE) {
			b->ok++;
			lat_push(&b->lat, t - c->sent_ns);
			unsigned s = (unsigned)((t - b->t0) / 1000000000u);
			if (s < b->seconds) {
				b->per_second[s]++;
			}
		} else if (b->phase == PH_WARMUP) {
			b->submits_before++;
		}
		c->st = ST_READY;
		if (b->phase == PH_WARMUP || b->phase == PH_MEASURE) {
			if (code == RPC_RATE_LIMITED) {
				c->retry_ns = t + 10000000u; /* 10 ms */
			} else {
				send_submit(b, c);
			}
		}
		return;
	default:
		die_answer("a connection without a call", m, len);
	}
}

/* Resends what waited for a retry; returns the earliest retry still ahead. */
static uint64_t
pump_retries(struct bench *b, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	for (unsigned i = 0; i < b->n; i++) {
		struct conn *c = &b->conns[i];
		if (!c->retry_ns) {
			continue;
		}
		if (c->retry_ns > now) {
			next = MIN(next, c->retry_ns);
			continue;
		}
		c->retry_ns = 0;
		if (c->st == ST_REGISTER) {
			send_register(b, c);
		} else if (c->st == ST_LOGIN) {
			send_login(b, c);
		} else if (c->st == ST_READY && (b->phase == PH_WARMUP || b->phase == PH_MEASURE)) {
			send_submit(b, c);
		}
	}
	return next;
}

/* Runs the loop until deadline, or until done() says so. */
static void
run_until(struct bench *b, uint64_t deadline, bool (*done)(struct bench *))
{
	struct epoll_event evs[128];
	for (;;) {
		uint64_t now = bench_now_ns();
		uint64_t next = pump_retries(b, now);
		if (now >= deadline || (done && done(b))) {
			return;
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
all_ready(struct bench *b)
{
	return b->ready == b->n;
}

static bool
drained(struct bench *b)
{
	return b->in_flight == 0;
}

/* ---- server threads ---- */

struct thread_ticks {
	int tid;
	char comm[32];
	uint64_t ticks;
};

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

/* "name pct%, ..." of the threads that used at least 0.5 % of a core, busiest first. */
static void
thread_split(const struct thread_ticks *th0, size_t n0, const struct thread_ticks *th1,
	     size_t n1, double seconds, long hz, char *out, size_t size)
{
	struct {
		const char *comm;
		double pct;
	} rows[MAX_THREADS];
	size_t nr = 0;
	for (size_t i = 0; i < n1; i++) {
		uint64_t before = 0;
		for (size_t j = 0; j < n0; j++) {
			if (th0[j].tid == th1[i].tid) {
				before = th0[j].ticks;
			}
		}
		rows[nr].comm = th1[i].comm;
		rows[nr].pct = (double)(th1[i].ticks - before) / (double)hz / seconds * 100.0;
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
	out[0] = '\0';
	for (size_t i = 0; i < nr && off < size; i++) {
		if (rows[i].pct < 0.5) {
			continue;
		}
		int k = snprintf(out + off, size - off, "%s%s %.0f%%", off ? ", " : "", rows[i].comm,
				 rows[i].pct);
		if (k < 0) {
			break;
		}
		off += (size_t)k;
	}
}

struct scrape {
	double commits, commit_s, jobs, submits, submit_s;
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
	s->commit_s = bench_prom_value(m, "tiepdan_db_commit_duration_seconds_sum");
	s->jobs = bench_prom_value(m, "tiepdan_db_commit_jobs_total");
	s->submits = bench_prom_value(
		m, "tiepdan_rpc_duration_seconds_count{method=\"petition.submit\"}");
	s->submit_s =
		bench_prom_value(m, "tiepdan_rpc_duration_seconds_sum{method=\"petition.submit\"}");
	s->ok = s->commits >= 0 && s->jobs >= 0;
	free(m);
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: cases-submit-bench --port PORT --pid SERVER_PID [--connections 100]\n"
		"                          [--duration 10] [--warmup 2] [--setup-parallel 8]\n"
		"                          [--locality DN-P-TRANBIEN] [--id-base 0]\n"
		"                          [--password PW] [--host 127.0.0.1]\n"
		"  Registers and logs in one new citizen per connection (national ids\n"
		"  0792000xxxxx and phones 09xxxxxxxx from --id-base: use another base to run\n"
		"  again against the same server), then runs petition.submit in closed loop.\n");
}

int
main(int argc, char **argv)
{
	struct bench b = {
		.server_pid = -1,
		.n = 100,
		.setup_parallel = 8,
		.warmup_s = 2,
		.duration_s = 10,
		.password = "Bench-cases-2026!",
		.locality = "DN-P-TRANBIEN",
		.kind = "feedback",
		.field = "environment",
	};
	bench_prog = "cases-submit-bench";
	ws_client_init(&b.cl, on_message, &b);
	static const struct option opts[] = {
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"pid", required_argument, NULL, 'i'},
		{"connections", required_argument, NULL, 'n'},
		{"duration", required_argument, NULL, 'd'},
		{"warmup", required_argument, NULL, 'w'},
		{"setup-parallel", required_argument, NULL, 'S'},
		{"locality", required_argument, NULL, 'l'},
		{"id-base", required_argument, NULL, 'b'},
		{"password", required_argument, NULL, 'x'},
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
		case 'n':
			b.n = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			b.duration_s = strtod(optarg, NULL);
			break;
		case 'w':
			b.warmup_s = strtod(optarg, NULL);
			break;
		case 'S':
			b.setup_parallel = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'l':
			b.locality = optarg;
			break;
		case 'b':
			b.id_base = strtoull(optarg, NULL, 10);
			break;
		case 'x':
			b.password = optarg;
			break;
		case 'H':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (b.cl.port <= 0 || b.cl.port > 65535 || b.server_pid <= 0 || b.n == 0 || b.n > 10000 ||
	    b.duration_s < 1 || b.warmup_s < 0 || b.setup_parallel == 0 ||
	    b.id_base + b.n > 100000) {
		usage(stderr);
		return 2;
	}
	uint64_t ut0, st0, ut1, st1;
	if (bench_proc_cpu(b.server_pid, &ut0, &st0) < 0) {
		fprintf(stderr, "cases-submit-bench: cannot read /proc/%ld/stat\n", b.server_pid);
		return 2;
	}
	long hz = sysconf(_SC_CLK_TCK);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < b.n + 64) {
		rl.rlim_cur = rl.rlim_max < b.n + 64 ? rl.rlim_max : b.n + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	build_pool(&b);
	size_t pool_bytes = 0;
	for (unsigned i = 0; i < POOL; i++) {
		pool_bytes += b.pool_len[i];
	}

	/* ---- setup: one citizen per connection ---- */
	b.conns = calloc(b.n, sizeof(*b.conns));
	if (!b.conns) {
		bench_die("calloc");
	}
	for (unsigned i = 0; i < b.n; i++) {
		struct conn *c = &b.conns[i];
		uint64_t k = b.id_base + i;
		snprintf(c->name, sizeof(c->name), "%s %s %s",
			 surnames[k % G_N_ELEMENTS(surnames)],
			 middles[(k / 3) % G_N_ELEMENTS(middles)],
			 given[(k / 7) % G_N_ELEMENTS(given)]);
		snprintf(c->nid, sizeof(c->nid), "0792000%05" PRIu64, k);
		snprintf(c->phone, sizeof(c->phone), "09%03u%05" PRIu64, 731, k);
		ws_conn_open(&b.cl, &c->ws, i);
	}
	for (unsigned i = 0; i < b.n; i++) {
		if (b.conns[i].ws.rlen > 0) {
			ws_parse_frames(&b.cl, &b.conns[i].ws);
		}
	}
	uint64_t s0 = bench_now_ns();
	b.phase = PH_SETUP;
	start_setup(&b);
	run_until(&b, s0 + 600ull * 1000000000u, all_ready);
	if (!all_ready(&b)) {
		fprintf(stderr, "cases-submit-bench: only %u of %u citizens logged in after 600 s\n",
			b.ready, b.n);
		return 2;
	}
	double setup_s = (double)(bench_now_ns() - s0) / 1e9;

	/* ---- warm-up, then the window ---- */
	b.phase = PH_WARMUP;
	for (unsigned i = 0; i < b.n; i++) {
		send_submit(&b, &b.conns[i]);
	}
	run_until(&b, bench_now_ns() + (uint64_t)(b.warmup_s * 1e9), NULL);

	b.seconds = (unsigned)b.duration_s;
	b.per_second = calloc(b.seconds, sizeof(*b.per_second));
	struct thread_ticks th0[MAX_THREADS], th1[MAX_THREADS];
	struct scrape m0, m1;
	scrape(&b, &m0);
	size_t n0 = read_threads(b.server_pid, th0, MAX_THREADS);
	uint64_t busy0 = 0, busy1 = 0;
	bench_machine_busy(&busy0);
	bench_proc_cpu(b.server_pid, &ut0, &st0);
	double self0 = bench_self_cpu_s();
	uint64_t cases_at_start = b.submits_before;
	b.t0 = bench_now_ns();
	b.phase = PH_MEASURE;
	run_until(&b, b.t0 + (uint64_t)(b.duration_s * 1e9), NULL);
	b.phase = PH_DRAIN;
	b.t1 = bench_now_ns();
	bench_proc_cpu(b.server_pid, &ut1, &st1);
	double self1 = bench_self_cpu_s();
	bench_machine_busy(&busy1);
	size_t n1 = read_threads(b.server_pid, th1, MAX_THREADS);
	scrape(&b, &m1);
	/* from the end of the window: the scrape waits when the server's loop is busy */
	unsigned drain_n = b.in_flight;
	run_until(&b, bench_now_ns() + 300ull * 1000000000u, drained);
	double drain_s = (double)(bench_now_ns() - b.t1) / 1e9;
	if (b.in_flight) {
		fprintf(stderr, "cases-submit-bench: %u submits unanswered 300 s after the window\n",
			b.in_flight);
		b.errors++;
	}
	for (unsigned i = 0; i < b.n; i++) {
		ws_conn_close(&b.cl, &b.conns[i].ws);
	}

	/* ---- figures ---- */
	double secs = (double)(b.t1 - b.t0) / 1e9;
	double server_s = (double)(ut1 - ut0 + st1 - st0) / (double)hz;
	double user_s = (double)(ut1 - ut0) / (double)hz, sys_s = (double)(st1 - st0) / (double)hz;
	double self_s = self1 - self0;
	double others_s = (double)(busy1 - busy0) / (double)hz - server_s - self_s;
	if (others_s < 0) {
		others_s = 0;
	}
	lat_sort(&b.lat);
	double rate = (double)b.ok / secs;
	double p50 = (double)lat_percentile(&b.lat, 50) / 1e6;
	double p99 = (double)lat_percentile(&b.lat, 99) / 1e6;
	double mx = b.lat.len ? (double)b.lat.v[b.lat.len - 1] / 1e6 : 0;
	double cpu_us = b.ok ? server_s * 1e6 / (double)b.ok : 0;
	char threads[512];
	thread_split(th0, n0, th1, n1, secs, hz, threads, sizeof(threads));
	double commits = m0.ok && m1.ok ? m1.commits - m0.commits : 0;
	double jobs = m0.ok && m1.ok ? m1.jobs - m0.jobs : 0;
	double rows_per_commit = commits > 0 ? jobs / commits : 0;
	double commit_ms = commits > 0 ? (m1.commit_s - m0.commit_s) * 1e3 / commits : 0;
	double subs = m0.ok && m1.ok ? m1.submits - m0.submits : 0;
	double server_ms = subs > 0 ? (m1.submit_s - m0.submit_s) * 1e3 / subs : 0;

	printf("cases-submit-bench: %u citizens, one petition.submit outstanding each "
	       "(kind %s, field %s, locality %s;\n"
	       "                    %u different petitions of %.0f bytes on average), "
	       "%.0f s window after %.0f s warm-up\n",
	       b.n, b.kind, b.field, b.locality, POOL, (double)pool_bytes / POOL, b.duration_s,
	       b.warmup_s);
	printf("setup: %u citizens registered and logged in in %.1f s (%" PRIu64
	       " rate-limited retries)\n",
	       b.n, setup_s, b.setup_retries);
	printf("cases submitted by this run before the window: %" PRIu64 ", at its end: %" PRIu64
	       "\n\n",
	       cases_at_start, cases_at_start + b.ok);
	printf("%9s %8s %8s %8s %11s %7s %7s | %8s %9s %11s | %7s %8s\n", "submits/s", "p50 ms",
	       "p99 ms", "max ms", "CPU us/sub", "user", "sys", "rows/cmt", "commit ms",
	       "server ms", "bench %", "others %");
	printf("%9.0f %8.2f %8.2f %8.1f %11.1f %7.1f %7.1f | %8.1f %9.2f %11.2f | %7.1f %8.1f\n",
	       rate, p50, p99, mx, cpu_us, b.ok ? user_s * 1e6 / (double)b.ok : 0,
	       b.ok ? sys_s * 1e6 / (double)b.ok : 0, rows_per_commit, commit_ms, server_ms,
	       self_s / secs * 100, others_s / secs * 100);
	printf("\nper second of the window:");
	for (unsigned s = 0; s < b.seconds; s++) {
		printf(" %" PRIu64, b.per_second[s]);
	}
	printf("\nserver CPU per thread, %% of one core: %s (all: %.0f%%)\n", threads,
	       server_s / secs * 100);
	printf("rows/cmt, commit ms: the server's group commits in the window (/metrics);"
	       " server ms: its mean time\nper petition.submit, receipt to answer queued;"
	       " others: CPU of the machine used by neither\nthe server nor this program"
	       " (more than a few %% spoils the run)\n");
	printf("drain: the %u submits in flight at the end of the window were answered in %.1f s\n",
	       drain_n, drain_s);
	if (b.rate_limited || b.errors) {
		printf("rate-limited (-32029): %" PRIu64 ", other errors: %" PRIu64 "\n",
		       b.rate_limited, b.errors);
	}
	printf("\ntarget: >= 2000 submits/s: %s\n", rate >= 2000 ? "met" : "NOT MET");
	printf("result connections=%u seconds=%.1f submits_per_s=%.1f p50_ms=%.3f p99_ms=%.3f "
	       "max_ms=%.3f server_cpu_us=%.1f rows_per_commit=%.2f commit_ms=%.3f "
	       "server_ms=%.3f cases_start=%" PRIu64 " cases_end=%" PRIu64
	       " first_s=%" PRIu64 " last_s=%" PRIu64 " bench_pct=%.1f others_pct=%.1f "
	       "rate_limited=%" PRIu64 " errors=%" PRIu64 " setup_s=%.1f drain_n=%u drain_s=%.1f\n",
	       b.n, secs, rate, p50, p99, mx, cpu_us, rows_per_commit, commit_ms, server_ms,
	       cases_at_start, cases_at_start + b.ok, b.seconds ? b.per_second[0] : 0,
	       b.seconds ? b.per_second[b.seconds - 1] : 0, self_s / secs * 100,
	       others_s / secs * 100, b.rate_limited, b.errors, setup_s, drain_n, drain_s);
	for (unsigned i = 0; i < POOL; i++) {
		g_free(b.pool[i]);
	}
	free(b.per_second);
	free(b.conns);
	lat_clear(&b.lat);
	close(b.cl.epfd);
	return b.errors ? 1 : 0;
}
