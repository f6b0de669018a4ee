/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

const char *bench_prog = "bench";

void
bench_die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", bench_prog, what, strerror(errno));
	exit(2);
}

uint64_t
bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
lat_push(struct lat_vec *l, uint64_t v)
{
	if (l->len == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 65536;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v) {
			bench_die("realloc");
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

void
lat_sort(struct lat_vec *l)
{
	if (l->len > 1) {
		qsort(l->v, l->len, sizeof(*l->v), cmp_u64);
	}
}

uint64_t
lat_percentile(const struct lat_vec *l, double p)
{
	if (l->len == 0) {
		return 0;
	}
	size_t rank = (size_t)(p / 100.0 * (double)l->len + 0.999999);
	if (rank < 1) {
		rank = 1;
	}
	if (rank > l->len) {
		rank = l->len;
	}
	return l->v[rank - 1];
}

void
lat_clear(struct lat_vec *l)
{
	free(l->v);
	l->v = NULL;
	l->len = l->cap = 0;
}

/*
 * The command name in field 2 may hold spaces and parentheses, so fields are
 * counted from the last ')'.
 */
int
bench_stat_cpu(const char *path, char *comm, size_t comm_size, uint64_t *uticks,
	       uint64_t *sticks)
{
	char buf[1024];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		return -EIO;
	}
	buf[n] = '\0';
	char *open_paren = strchr(buf, '(');
	char *p = strrchr(buf, ')');
	if (!p || !open_paren || open_paren > p) {
		return -EIO;
	}
	if (comm && comm_size > 0) {
		size_t len = (size_t)(p - open_paren - 1);
		if (len >= comm_size) {
			len = comm_size - 1;
		}
		memcpy(comm, open_paren + 1, len);
		comm[len] = '\0';
	}
	p++;
	/* after ')': field 3 (state) ... field 14 utime, field 15 stime */
	unsigned long long ut = 0, st = 0;
	int field = 2;
	char *save = NULL;
	for (char *tok = strtok_r(p, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		field++;
		if (field == 14) {
			ut = strtoull(tok, NULL, 10);
		} else if (field == 15) {
			st = strtoull(tok, NULL, 10);
			break;
		}
	}
	if (field != 15) {
		return -EIO;
	}
	*uticks = ut;
	*sticks = st;
	return 0;
}

int
bench_proc_cpu(long pid, uint64_t *uticks, uint64_t *sticks)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	return bench_stat_cpu(path, NULL, 0, uticks, sticks);
}

double
bench_self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
