/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

int
bench_machine_busy(uint64_t *ticks)
{
	char buf[512];
	int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || strncmp(buf, "cpu ", 4) != 0) {
		return -EIO;
	}
	buf[n] = '\0';
	/* cpu user nice system idle iowait irq softirq steal ... */
	unsigned long long v[8] = {0};
	if (sscanf(buf + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) < 8) {
		return -EIO;
	}
	*ticks = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	return 0;
}

char *
bench_http_get(const char *host, int port, const char *path)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		return NULL;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return NULL;
	}
	char req[512];
	int rl = snprintf(req, sizeof(req),
			  "GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n\r\n", path, host,
			  port);
	for (int off = 0; off < rl;) {
		ssize_t w = write(fd, req + off, (size_t)(rl - off));
		if (w <= 0) {
			close(fd);
			return NULL;
		}
		off += (int)w;
	}
	size_t len = 0, cap = 65536;
	char *resp = malloc(cap);
	for (;;) {
		if (len + 4096 > cap) {
			cap *= 2;
			resp = realloc(resp, cap);
		}
		ssize_t r = read(fd, resp + len, cap - len - 1);
		if (r < 0 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			break;
		}
		len += (size_t)r;
	}
	close(fd);
	resp[len] = '\0';
	char *body = strstr(resp, "\r\n\r\n");
	if (strncmp(resp, "HTTP/1.1 200", 12) != 0 || !body) {
		free(resp);
		return NULL;
	}
	/* a chunked body: the chunk-size lines are dropped */
	bool chunked = strcasestr(resp, "transfer-encoding: chunked") != NULL;
	body += 4;
	char *out = malloc(len + 1), *w = out;
	if (!chunked) {
		strcpy(out, body);
	} else {
		char *p = body;
		for (;;) {
			char *end = NULL;
			unsigned long sz = strtoul(p, &end, 16);
			char *nl = strstr(p, "\r\n");
			if (!nl || sz == 0) {
				break;
			}
			p = nl + 2;
			if ((size_t)(p - resp) + sz > len) {
				sz = len - (size_t)(p - resp);
			}
			memcpy(w, p, sz);
			w += sz;
			p += sz;
			if (strncmp(p, "\r\n", 2) == 0) {
				p += 2;
			}
		}
		*w = '\0';
	}
	free(resp);
	return out;
}

double
bench_prom_value(const char *text, const char *series)
{
	size_t sl = strlen(series);
	for (const char *p = text; p && *p;) {
		if (strncmp(p, series, sl) == 0 && p[sl] == ' ') {
			return strtod(p + sl + 1, NULL);
		}
		p = strchr(p, '\n');
		if (p) {
			p++;
		}
	}
	return -1;
}
