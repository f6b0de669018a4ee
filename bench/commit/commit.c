/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * commit-bench: durable writes per second through the store's group commit,
 * against a bare SQLite loop that commits every row on its own.
 *
 * For each count of logical writers (1, 10, 100 by default) a fresh store is
 * opened with synchronous=FULL in its own directory. Each writer runs a closed
 * loop on the GLib main loop: store_write() one INSERT, wait for its done
 * callback (after the COMMIT, so the row is on disk), issue the next. After a
 * warm-up, for a fixed window, it counts completions, the time from
 * store_write() to done, and the groups committed (store_events.commit).
 *
 * The reference, in the same run and the same directory: one connection, WAL,
 * synchronous=FULL, the same table, BEGIN IMMEDIATE; INSERT; COMMIT in a loop
 * (one fsync per row) for the same window.
 *
 * The directory must be on a real disk: on tmpfs fsync costs nothing and the
 * comparison means nothing, so the bench refuses tmpfs and ramfs unless told
 * otherwise, and prints the filesystem it measured on.
 */
#include "tiepdan/log.h"
#include "tiepdan/store.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <glib.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define TMPFS_MAGIC_ 0x01021994
#define RAMFS_MAGIC_ 0x858458f6
#define MAX_COUNTS 16

static const char create_sql[] =
	"CREATE TABLE IF NOT EXISTS bench(id INTEGER PRIMARY KEY, writer INTEGER, payload TEXT) "
	"STRICT";
static const char insert_sql[] = "INSERT INTO bench(writer, payload) VALUES (?1, ?2)";

/* About the size of a case timeline event's data. */
static const char payload_base[] =
	"{\"action\":\"note\",\"actor\":\"Xy3kP0q9Rz8TtV1wA2bC3d\",\"internal\":false,"
	"\"text\":\"Bench row written through the store's group commit.\",\"seq\":";

struct lat_vec {
	uint64_t *v;
	size_t len, cap;
};

enum phase { PHASE_WARMUP, PHASE_MEASURE, PHASE_DONE };

struct run;

struct writer {
	struct run *r;
	unsigned idx;
	uint64_t seq;
	uint64_t submitted_ns;
};

struct run {
	struct store *store;
	GMainLoop *loop;
	unsigned nwriters;
	struct writer *writers;
	enum phase phase;
	double warmup_s, duration_s;
	unsigned outstanding;
	uint64_t t0, t1;
	uint64_t writes;       /* done with status 0 inside the window */
	uint64_t errors;       /* any status != 0, any time */
	uint64_t groups;       /* committed inside the window */
	uint64_t group_jobs;   /* jobs of those groups */
	uint64_t groups_failed;
	double commit_seconds; /* sum over those groups */
	struct lat_vec lat;    /* ns, store_write() to done */
	double cpu0, cpu1;     /* process CPU (loop and commit thread) at the window's ends */
	bool prepare_each;
	sqlite3_stmt *insert;  /* cached on the writer connection */
	int fatal;
};

struct result {
	unsigned writers;
	double secs;
	uint64_t writes;
	double rate;
	double rows_per_commit;
	double commit_ms_avg;
	double p50_ms, p99_ms;
	double cpu_us_per_write;
	uint64_t errors;
};

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double
self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
lat_push(struct lat_vec *l, uint64_t v)
{
	if (l->len == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 65536;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v) {
			fprintf(stderr, "commit-bench: out of memory\n");
			exit(2);
		}
	}
	l->v[l->len++] = v;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile, in milliseconds; sorts the vector. */
static double
percentile_ms(struct lat_vec *l, double p)
{
	if (l->len == 0) {
		return 0;
	}
	qsort(l->v, l->len, sizeof(*l->v), cmp_u64);
	size_t rank = (size_t)(p / 100.0 * (double)l->len + 0.999999);
	rank = rank < 1 ? 1 : rank > l->len ? l->len : rank;
	return (double)l->v[rank - 1] / 1e6;
}

/* ---- filesystem ------------------------------------------------------- */

/* Undoes the octal escapes (\040 for a space) of /proc/self/mountinfo. */
static void
unescape_mount(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] && r[3]) {
			*w++ = (char)(((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/*
 * The mount that holds PATH: the longest mount point of /proc/self/mountinfo
 * that is a prefix of its real path. Fills fstype, source and mount point.
 */
static int
find_mount(const char *path, char *fstype, char *source, char *mnt, size_t size)
{
	char real[PATH_MAX];
	if (!realpath(path, real)) {
		return -errno;
	}
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f) {
		return -errno;
	}
	char line[4096];
	size_t best = 0;
	while (fgets(line, sizeof(line), f)) {
		char *fields[6] = {0};
		char *save = NULL;
		int i = 0;
		for (char *t = strtok_r(line, " \n", &save); t && i < 5;
		     t = strtok_r(NULL, " \n", &save)) {
			fields[i++] = t;
		}
		if (i < 5) {
			continue;
		}
		char *mp = fields[4];
		unescape_mount(mp);
		size_t ml = strlen(mp);
		bool prefix = strcmp(mp, "/") == 0 ||
			      (strncmp(real, mp, ml) == 0 && (real[ml] == '/' || real[ml] == '\0'));
		if (!prefix || (ml < best && best != 0)) {
			continue;
		}
		/* the optional fields end with " - " then fstype and source */
		char *t;
		while ((t = strtok_r(NULL, " \n", &save)) && strcmp(t, "-") != 0) {
		}
		char *fs = strtok_r(NULL, " \n", &save);
		char *src = strtok_r(NULL, " \n", &save);
		if (!fs) {
			continue;
		}
		best = ml;
		snprintf(fstype, size, "%s", fs);
		snprintf(source, size, "%s", src ? src : "?");
		snprintf(mnt, size, "%s", mp);
	}
	fclose(f);
	return best || mnt[0] ? 0 : -ENOENT;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* ---- the store under load ---------------------------------------------- */

/*
 * The job: one INSERT. By default its statement is prepared once on the
 * writer connection and reset after each use (a reset statement holds no
 * transaction open), as a domain module with a statement cache would do, so
 * the figure is the store's own cost; --prepare-each prepares it in every job.
 */
static int
insert_fn(sqlite3 *db, void *data)
{
	struct writer *w = data;
	struct run *r = w->r;
	char payload[sizeof(payload_base) + 48];
	int n = snprintf(payload, sizeof(payload), "%s%" PRIu64 "}", payload_base, w->seq);
	sqlite3_stmt *st = r->insert;
	int rc = SQLITE_OK;
	if (!st) {
		rc = sqlite3_prepare_v3(db, insert_sql, -1,
					r->prepare_each ? 0 : SQLITE_PREPARE_PERSISTENT, &st, NULL);
	}
	if (rc == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, w->idx);
		sqlite3_bind_text(st, 2, payload, n, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	if (r->prepare_each) {
		sqlite3_finalize(st);
	} else {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		r->insert = st;
	}
	return rc == SQLITE_DONE ? 0 : -EIO;
}

static void on_done(int status, void *data);

static void
closed_cb(void *data)
{
	struct run *r = data;
	g_main_loop_quit(r->loop);
}

static void
submit(struct writer *w)
{
	struct run *r = w->r;
	w->seq++;
	w->submitted_ns = now_ns();
	int rc = store_write(r->store, insert_fn, on_done, w);
	if (rc < 0) {
		fprintf(stderr, "commit-bench: store_write: %s\n", strerror(-rc));
		r->fatal = rc;
		r->phase = PHASE_DONE;
		if (r->outstanding == 0) {
			store_close_writes(r->store, closed_cb, r);
		}
		return;
	}
	r->outstanding++;
}

static void
on_done(int status, void *data)
{
	struct writer *w = data;
	struct run *r = w->r;
	uint64_t t = now_ns();
	r->outstanding--;
	if (status != 0) {
		if (r->errors++ < 3) {
			fprintf(stderr, "commit-bench: write failed: %s\n", strerror(-status));
		}
	} else if (r->phase == PHASE_MEASURE) {
		r->writes++;
		lat_push(&r->lat, t - w->submitted_ns);
	}
	if (r->phase != PHASE_DONE) {
		submit(w);
	} else if (r->outstanding == 0) {
		store_close_writes(r->store, closed_cb, r);
	}
}

static void
on_commit(void *data, double seconds, unsigned jobs, bool ok)
{
	struct run *r = data;
	if (!ok) {
		r->groups_failed++;
		return;
	}
	if (r->phase == PHASE_MEASURE) {
		r->groups++;
		r->group_jobs += jobs;
		r->commit_seconds += seconds;
	}
}

static gboolean
end_window(gpointer data)
{
	struct run *r = data;
	r->t1 = now_ns();
	r->cpu1 = self_cpu_s();
	r->phase = PHASE_DONE;
	if (r->outstanding == 0) {
		store_close_writes(r->store, closed_cb, r);
	}
	return G_SOURCE_REMOVE;
}

static gboolean
start_window(gpointer data)
{
	struct run *r = data;
	r->cpu0 = self_cpu_s();
	r->t0 = now_ns();
	r->phase = PHASE_MEASURE;
	g_timeout_add((guint)(r->duration_s * 1000), end_window, r);
	return G_SOURCE_REMOVE;
}

static int
create_table(sqlite3 *db, void *data)
{
	return sqlite3_exec(db, create_sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

static const struct store_events commit_events = {
	.version = STORE_EVENTS_VERSION,
	.commit = on_commit,
};

static int
run_store(const char *dir, unsigned nwriters, double warmup_s, double duration_s,
	  bool prepare_each, struct result *res)
{
	struct run r = {
		.nwriters = nwriters,
		.prepare_each = prepare_each,
		.warmup_s = warmup_s,
		.duration_s = duration_s,
		.phase = PHASE_WARMUP,
	};
	if (g_mkdir_with_parents(dir, 0700) < 0) {
		fprintf(stderr, "commit-bench: mkdir %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	struct store_options opts;
	store_options_init(&opts);
	opts.sync_full = true;
	opts.async = true;
	r.store = store_open(dir, &opts);
	if (!r.store) {
		fprintf(stderr, "commit-bench: store_open %s: %s\n", dir, strerror(errno));
		return -errno;
	}
	int rc = store_write_sync(r.store, create_table, NULL);
	if (rc < 0) {
		fprintf(stderr, "commit-bench: create table: %s\n", strerror(-rc));
		store_destroy(r.store);
		return rc;
	}
	store_set_events(r.store, &commit_events, &r);
	r.loop = g_main_loop_new(NULL, FALSE);
	r.writers = g_new0(struct writer, nwriters);
	for (unsigned i = 0; i < nwriters; i++) {
		r.writers[i].r = &r;
		r.writers[i].idx = i;
	}

	for (unsigned i = 0; i < nwriters && r.phase != PHASE_DONE; i++) {
		submit(&r.writers[i]);
	}
	g_timeout_add((guint)(warmup_s * 1000), start_window, &r);
	g_main_loop_run(r.loop);

	/* every job has been answered: the writer connection is idle */
	sqlite3_finalize(r.insert);
	store_set_events(r.store, NULL, NULL);
	store_destroy(r.store);
	g_main_loop_unref(r.loop);
	g_free(r.writers);

	res->writers = nwriters;
	res->secs = r.t1 > r.t0 ? (double)(r.t1 - r.t0) / 1e9 : 0;
	res->writes = r.writes;
	res->rate = res->secs > 0 ? (double)r.writes / res->secs : 0;
	res->rows_per_commit = r.groups ? (double)r.group_jobs / (double)r.groups : 0;
	res->commit_ms_avg = r.groups ? r.commit_seconds * 1e3 / (double)r.groups : 0;
	res->p50_ms = percentile_ms(&r.lat, 50);
	res->p99_ms = percentile_ms(&r.lat, 99);
	res->cpu_us_per_write = r.writes ? (r.cpu1 - r.cpu0) * 1e6 / (double)r.writes : 0;
	res->errors = r.errors + r.groups_failed;
	free(r.lat.v);
	return r.fatal;
}

/* ---- the reference: bare SQLite, one transaction per row ---------------- */

static int
exec_or_die(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "commit-bench: %s: %s\n", sql, err ? err : "?");
		sqlite3_free(err);
		return -EIO;
	}
	return 0;
}

static int
run_bare(const char *dir, double warmup_s, double duration_s, struct result *res)
{
	if (g_mkdir_with_parents(dir, 0700) < 0) {
		return -errno;
	}
	char *file = g_build_filename(dir, "bare.db", NULL);
	sqlite3 *db = NULL;
	sqlite3_stmt *begin = NULL, *ins = NULL, *commit = NULL;
	struct lat_vec lat = {0};
	int ret = -EIO;
	if (sqlite3_open_v2(file, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "commit-bench: open %s: %s\n", file, sqlite3_errmsg(db));
		goto out;
	}
	const char *journal = NULL;
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW) {
		journal = (const char *)sqlite3_column_text(q, 0);
	}
	bool wal = journal && g_ascii_strcasecmp(journal, "wal") == 0;
	sqlite3_finalize(q);
	if (!wal || exec_or_die(db, "PRAGMA synchronous=FULL") < 0 ||
	    exec_or_die(db, create_sql) < 0) {
		fprintf(stderr, "commit-bench: could not set up %s\n", file);
		goto out;
	}
	if (sqlite3_prepare_v2(db, "BEGIN IMMEDIATE", -1, &begin, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, insert_sql, -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "COMMIT", -1, &commit, NULL) != SQLITE_OK) {
		fprintf(stderr, "commit-bench: prepare: %s\n", sqlite3_errmsg(db));
		goto out;
	}

	uint64_t start = now_ns();
	uint64_t t0 = start + (uint64_t)(warmup_s * 1e9);
	uint64_t t1 = t0 + (uint64_t)(duration_s * 1e9);
	uint64_t seq = 0, rows = 0;
	double cpu0 = -1, cpu1 = 0;
	char payload[sizeof(payload_base) + 48];
	for (;;) {
		uint64_t a = now_ns();
		if (a >= t1) {
			break;
		}
		if (a >= t0 && cpu0 < 0) {
			cpu0 = self_cpu_s();
		}
		int n = snprintf(payload, sizeof(payload), "%s%" PRIu64 "}", payload_base, ++seq);
		sqlite3_bind_int64(ins, 1, 0);
		sqlite3_bind_text(ins, 2, payload, n, SQLITE_STATIC);
		if (sqlite3_step(begin) != SQLITE_DONE || sqlite3_step(ins) != SQLITE_DONE ||
		    sqlite3_step(commit) != SQLITE_DONE) {
			fprintf(stderr, "commit-bench: bare insert: %s\n", sqlite3_errmsg(db));
			goto out;
		}
		sqlite3_reset(begin);
		sqlite3_reset(ins);
		sqlite3_reset(commit);
		uint64_t b = now_ns();
		if (a >= t0 && b <= t1) {
			rows++;
			lat_push(&lat, b - a);
		}
	}
	cpu1 = self_cpu_s();
	res->writers = 1;
	res->secs = duration_s;
	res->cpu_us_per_write = rows && cpu0 >= 0 ? (cpu1 - cpu0) * 1e6 / (double)rows : 0;
	res->writes = rows;
	res->rate = (double)rows / duration_s;
	res->rows_per_commit = 1;
	res->p50_ms = percentile_ms(&lat, 50);
	res->p99_ms = percentile_ms(&lat, 99);
	res->commit_ms_avg = res->p50_ms;
	res->errors = 0;
	ret = 0;
out:
	sqlite3_finalize(begin);
	sqlite3_finalize(ins);
	sqlite3_finalize(commit);
	sqlite3_close(db);
	free(lat.v);
	g_free(file);
	return ret;
}

/* ---- main ---------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f, "usage: commit-bench [--dir DIR] [--writers 1,10,100] [--duration SECONDS]\n"
		   "                    [--warmup SECONDS] [--allow-tmpfs] [--keep] [--prepare-each]\n"
		   "  DIR must be on the filesystem to measure (default /var/tmp); the bench\n"
		   "  works in a new directory inside it and removes it at the end.\n");
}

int
main(int argc, char **argv)
{
	const char *parent = "/var/tmp";
	const char *writers_arg = "1,10,100";
	double duration_s = 5, warmup_s = 1;
	bool allow_tmpfs = false, keep = false, prepare_each = false;
	static const struct option opts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"writers", required_argument, NULL, 'w'},
		{"duration", required_argument, NULL, 't'},
		{"warmup", required_argument, NULL, 'u'},
		{"allow-tmpfs", no_argument, NULL, 'a'},
		{"keep", no_argument, NULL, 'k'},
		{"prepare-each", no_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			parent = optarg;
			break;
		case 'w':
			writers_arg = optarg;
			break;
		case 't':
			duration_s = strtod(optarg, NULL);
			break;
		case 'u':
			warmup_s = strtod(optarg, NULL);
			break;
		case 'a':
			allow_tmpfs = true;
			break;
		case 'k':
			keep = true;
			break;
		case 'p':
			prepare_each = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	unsigned counts[MAX_COUNTS];
	size_t ncounts = 0;
	gchar **parts = g_strsplit(writers_arg, ",", -1);
	for (gchar **p = parts; *p && ncounts < MAX_COUNTS; p++) {
		unsigned long v = strtoul(*p, NULL, 10);
		if (v == 0 || v > 100000) {
			fprintf(stderr, "commit-bench: bad writer count %s\n", *p);
			return 2;
		}
		counts[ncounts++] = (unsigned)v;
	}
	g_strfreev(parts);
	if (ncounts == 0 || duration_s <= 0 || warmup_s < 0) {
		usage(stderr);
		return 2;
	}

	td_log_set_level(TD_LOG_WARN);

	struct statfs sfs;
	if (statfs(parent, &sfs) < 0) {
		fprintf(stderr, "commit-bench: %s: %s\n", parent, strerror(errno));
		return 2;
	}
	char fstype[256] = "", source[256] = "", mnt[256] = "";
	if (find_mount(parent, fstype, source, mnt, sizeof(fstype)) < 0) {
		snprintf(fstype, sizeof(fstype), "unknown (statfs type 0x%lx)",
			 (unsigned long)sfs.f_type);
	}
	bool mem = sfs.f_type == TMPFS_MAGIC_ || sfs.f_type == RAMFS_MAGIC_;
	if (mem && !allow_tmpfs) {
		fprintf(stderr,
			"commit-bench: %s is on %s (memory): fsync costs nothing there. "
			"Pass --dir on a disk, or --allow-tmpfs.\n",
			parent, fstype);
		return 2;
	}
	char *work = g_build_filename(parent, "tiepdan-commit-XXXXXX", NULL);
	if (!g_mkdtemp(work)) {
		fprintf(stderr, "commit-bench: mkdtemp in %s: %s\n", parent, strerror(errno));
		return 2;
	}

	printf("commit-bench: durable writes (synchronous=FULL, WAL), %g s window after %g s "
	       "warm-up,\n              one INSERT per job, statement %s\n",
	       duration_s, warmup_s, prepare_each ? "prepared in every job" : "prepared once");
	printf("directory:  %s\nfilesystem: %s on %s (mounted at %s)%s\nsqlite:     %s\n", work,
	       fstype, source, mnt, mem ? "  ** MEMORY: figures are meaningless **" : "",
	       sqlite3_libversion());
	printf("\n%-26s %10s %11s %9s %9s %9s %11s %7s\n", "", "writes/s", "rows/commit",
	       "group ms", "p50 ms", "p99 ms", "CPU us/row", "errors");
	fflush(stdout);

	int status = 0;
	struct result bare = {0};
	struct result res[MAX_COUNTS] = {0};
	char *bare_dir = g_build_filename(work, "bare", NULL);
	if (run_bare(bare_dir, warmup_s, duration_s, &bare) < 0) {
		status = 1;
		goto done;
	}
	printf("%-26s %10.0f %11.1f %9.2f %9.2f %9.2f %11.1f %7" PRIu64 "\n",
	       "bare SQLite, 1 row/txn", bare.rate, 1.0, bare.commit_ms_avg, bare.p50_ms,
	       bare.p99_ms, bare.cpu_us_per_write, bare.errors);
	fflush(stdout);

	for (size_t i = 0; i < ncounts; i++) {
		char name[64], sub[32];
		snprintf(sub, sizeof(sub), "store-%u", counts[i]);
		char *dir = g_build_filename(work, sub, NULL);
		int rc = run_store(dir, counts[i], warmup_s, duration_s, prepare_each, &res[i]);
		g_free(dir);
		if (rc < 0) {
			status = 1;
			goto done;
		}
		snprintf(name, sizeof(name), "store, %u writer%s", counts[i],
			 counts[i] == 1 ? "" : "s");
		printf("%-26s %10.0f %11.1f %9.2f %9.2f %9.2f %11.1f %7" PRIu64 "\n", name,
		       res[i].rate, res[i].rows_per_commit, res[i].commit_ms_avg, res[i].p50_ms,
		       res[i].p99_ms, res[i].cpu_us_per_write, res[i].errors);
		fflush(stdout);
		if (res[i].errors) {
			status = 1;
		}
	}

	/* The target is stated for 100 writers; else the largest count run. */
	size_t best = 0;
	for (size_t i = 0; i < ncounts; i++) {
		if (counts[i] == 100 || (counts[best] != 100 && counts[i] > counts[best])) {
			best = i;
		}
	}
	double ratio = bare.rate > 0 ? res[best].rate / bare.rate : 0;
	printf("\nratio: store with %u writers / bare = %.1fx   (target >= 20x with 100 writers: "
	       "%s)\n",
	       counts[best], ratio,
	       counts[best] != 100 ? "not measured" : ratio >= 20 ? "MET" : "NOT MET");
	printf("result fs=%s bare_rows_per_s=%.1f", fstype, bare.rate);
	for (size_t i = 0; i < ncounts; i++) {
		printf(" w%u_writes_per_s=%.1f w%u_rows_per_commit=%.2f w%u_p50_ms=%.2f "
		       "w%u_p99_ms=%.2f",
		       counts[i], res[i].rate, counts[i], res[i].rows_per_commit, counts[i],
		       res[i].p50_ms, counts[i], res[i].p99_ms);
	}
	printf(" ratio=%.2f\n", ratio);

done:
	g_free(bare_dir);
	if (!keep) {
		nftw(work, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	} else {
		printf("kept %s\n", work);
	}
	g_free(work);
	return status;
}
