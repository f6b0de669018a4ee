/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * What the load generators share besides the WebSocket client (ws.h):
 * a monotonic clock, a latency vector with nearest-rank percentiles, the
 * CPU time of a process read from /proc, and a scrape of the server's
 * /metrics.
 */

#include <stddef.h>
#include <stdint.h>

/* The program name errors are prefixed with ("rpc-loadgen", "auth-bench"). */
extern const char *bench_prog;

/* Prints "PROG: WHAT: strerror(errno)" and exits with status 2. */
_Noreturn void bench_die(const char *what);

uint64_t bench_now_ns(void);

struct lat_vec {
	uint64_t *v;
	size_t len, cap;
};

void lat_push(struct lat_vec *l, uint64_t v);
/* Sorts the vector in place (before lat_percentile). */
void lat_sort(struct lat_vec *l);
/* Nearest-rank percentile of a sorted vector; 0 when empty. */
uint64_t lat_percentile(const struct lat_vec *l, double p);
void lat_clear(struct lat_vec *l);

/*
 * utime + stime of a whole process (every thread) in clock ticks, from
 * /proc/PID/stat. 0 or -errno.
 */
int bench_proc_cpu(long pid, uint64_t *uticks, uint64_t *sticks);

/*
 * The same from any stat file (/proc/PID/task/TID/stat for one thread), and
 * the command name of field 2 into comm (nullable) when it fits.
 */
int bench_stat_cpu(const char *path, char *comm, size_t comm_size, uint64_t *uticks,
		   uint64_t *sticks);

/* This process's own user + system CPU, in seconds. */
double bench_self_cpu_s(void);

/*
 * The busy time of the whole machine (every CPU of /proc/stat: user, nice,
 * system, irq, softirq, steal) in clock ticks. Minus the server's and this
 * process's own, it tells whether something else shared the cores.
 */
int bench_machine_busy(uint64_t *ticks);

/*
 * A blocking HTTP/1.1 GET of http://HOST:PORT/PATH (Connection: close).
 * (transfer full, nullable) the body of a 200 answer, NUL-terminated.
 */
char *bench_http_get(const char *host, int port, const char *path);

/*
 * The value of the Prometheus sample whose name and labels are exactly
 * `series` (e.g. `tiepdan_db_commit_jobs_total` or
 * `tiepdan_rpc_calls_total{method="case.list"}`) in an exposition text; -1
 * when absent.
 */
double bench_prom_value(const char *text, const char *series);
