/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "metrics.h"

#include <stdio.h>

/* Latency buckets in seconds, shared by RPC calls and commits. */
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
				 0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
#define N_BUCKETS G_N_ELEMENTS(buckets)

struct histogram {
	uint64_t counts[N_BUCKETS + 1]; /* not cumulative; the last is +Inf */
	uint64_t count;
	double sum;
};

struct method_stats {
	uint64_t calls;
	struct histogram latency;
};

struct metrics {
	int64_t connections;
	uint64_t connections_total;
	GHashTable *dropped;      /* reason → uint64_t* */
	GHashTable *http;         /* status → uint64_t* (key: GINT_TO_POINTER) */
	GHashTable *methods;      /* name → struct method_stats* */
	GHashTable *errors;       /* code → uint64_t* (key: GINT_TO_POINTER) */
	struct histogram commit;
	uint64_t commit_jobs;
	uint64_t commit_failed;
	unsigned media_sessions;
	uint64_t recording_bytes;
	int64_t started_us;
};

struct metrics *
metrics_create(void)
{
	struct metrics *m = g_new0(struct metrics, 1);
	m->dropped = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	m->http = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	m->methods = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	m->errors = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	m->started_us = g_get_real_time();
	return m;
}

void
metrics_destroy(struct metrics *m)
{
	if (!m) {
		return;
	}
	g_hash_table_destroy(m->dropped);
	g_hash_table_destroy(m->http);
	g_hash_table_destroy(m->methods);
	g_hash_table_destroy(m->errors);
	g_free(m);
}

static void
histogram_observe(struct histogram *h, double v)
{
	size_t i = 0;
	while (i < N_BUCKETS && v > buckets[i]) {
		i++;
	}
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

static void
count_key(GHashTable *t, gpointer key, gboolean owned_str)
{
	uint64_t *v = g_hash_table_lookup(t, key);
	if (!v) {
		v = g_new0(uint64_t, 1);
		g_hash_table_insert(t, owned_str ? g_strdup(key) : key, v);
	}
	(*v)++;
}

void
metrics_connection_opened(struct metrics *m)
{
	m->connections++;
	m->connections_total++;
}

void
metrics_connection_closed(struct metrics *m)
{
	m->connections--;
}

void
metrics_connection_dropped(struct metrics *m, const char *reason)
{
	count_key(m->dropped, (gpointer)reason, TRUE);
}

void
metrics_http_request(struct metrics *m, int status)
{
	count_key(m->http, GINT_TO_POINTER(status), FALSE);
}

void
metrics_rpc(struct metrics *m, const char *method, int error_code, double seconds)
{
	struct method_stats *s = g_hash_table_lookup(m->methods, method);
	if (!s) {
		s = g_new0(struct method_stats, 1);
		g_hash_table_insert(m->methods, g_strdup(method), s);
	}
	s->calls++;
	histogram_observe(&s->latency, seconds);
	if (error_code) {
		count_key(m->errors, GINT_TO_POINTER(error_code), FALSE);
	}
}

void
metrics_commit(struct metrics *m, double seconds, unsigned jobs, bool ok)
{
	histogram_observe(&m->commit, seconds);
	m->commit_jobs += jobs;
	if (!ok) {
		m->commit_failed++;
	}
}

void
metrics_set_media(struct metrics *m, unsigned sessions, uint64_t recording_bytes)
{
	m->media_sessions = sessions;
	m->recording_bytes = recording_bytes;
}

static void
render_histogram(GString *s, const char *name, const char *labels, const struct histogram *h)
{
	uint64_t cum = 0;
	char b[G_ASCII_DTOSTR_BUF_SIZE];
	for (size_t i = 0; i < N_BUCKETS; i++) {
		cum += h->counts[i];
		g_string_append_printf(s, "%s_bucket{%s%sle=\"%s\"} %" G_GUINT64_FORMAT "\n", name,
				       labels, *labels ? "," : "",
				       g_ascii_dtostr(b, sizeof(b), buckets[i]), cum);
	}
	cum += h->counts[N_BUCKETS];
	g_string_append_printf(s, "%s_bucket{%s%sle=\"+Inf\"} %" G_GUINT64_FORMAT "\n", name, labels,
			       *labels ? "," : "", cum);
	const char *open = *labels ? "{" : "", *close = *labels ? "}" : "";
	g_string_append_printf(s, "%s_sum%s%s%s %s\n", name, open, labels, close,
			       g_ascii_dtostr(b, sizeof(b), h->sum));
	g_string_append_printf(s, "%s_count%s%s%s %" G_GUINT64_FORMAT "\n", name, open, labels,
			       close, h->count);
}

static gint
cmp_str(gconstpointer a, gconstpointer b)
{
	return g_strcmp0(*(const char *const *)a, *(const char *const *)b);
}

static gint
cmp_int(gconstpointer a, gconstpointer b)
{
	int x = GPOINTER_TO_INT(*(gconstpointer const *)a);
	int y = GPOINTER_TO_INT(*(gconstpointer const *)b);
	return (x > y) - (x < y);
}

/* Keys sorted so that two scrapes list series in the same order. */
static GPtrArray *
sorted_keys(GHashTable *t, GCompareFunc cmp)
{
	GPtrArray *a = g_ptr_array_new();
	GHashTableIter it;
	gpointer k;
	g_hash_table_iter_init(&it, t);
	while (g_hash_table_iter_next(&it, &k, NULL)) {
		g_ptr_array_add(a, k);
	}
	g_ptr_array_sort(a, cmp);
	return a;
}

GString *
metrics_render(struct metrics *m)
{
	GString *s = g_string_sized_new(4096);
	GPtrArray *keys;
	char b[G_ASCII_DTOSTR_BUF_SIZE];

	g_string_append(s, "# HELP tiepdan_up Whether the portal is serving.\n"
			   "# TYPE tiepdan_up gauge\ntiepdan_up 1\n");
	g_string_append_printf(s,
			       "# HELP tiepdan_start_time_seconds Start time of the process since "
			       "the Unix epoch.\n# TYPE tiepdan_start_time_seconds gauge\n"
			       "tiepdan_start_time_seconds %s\n",
			       g_ascii_dtostr(b, sizeof(b), (double)m->started_us / 1e6));
	g_string_append_printf(s,
			       "# HELP tiepdan_connections Open WebSocket connections.\n"
			       "# TYPE tiepdan_connections gauge\ntiepdan_connections %" G_GINT64_FORMAT
			       "\n",
			       m->connections);
	g_string_append_printf(s,
			       "# HELP tiepdan_connections_opened_total WebSocket connections "
			       "accepted.\n# TYPE tiepdan_connections_opened_total counter\n"
			       "tiepdan_connections_opened_total %" G_GUINT64_FORMAT "\n",
			       m->connections_total);

	g_string_append(s, "# HELP tiepdan_connections_dropped_total Connections dropped by the "
			   "server, by reason.\n# TYPE tiepdan_connections_dropped_total counter\n");
	keys = sorted_keys(m->dropped, cmp_str);
	for (guint i = 0; i < keys->len; i++) {
		g_string_append_printf(s,
				       "tiepdan_connections_dropped_total{reason=\"%s\"} "
				       "%" G_GUINT64_FORMAT "\n",
				       (const char *)keys->pdata[i],
				       *(uint64_t *)g_hash_table_lookup(m->dropped, keys->pdata[i]));
	}
	g_ptr_array_free(keys, TRUE);

	g_string_append(s, "# HELP tiepdan_http_requests_total HTTP requests answered, by status."
			   "\n# TYPE tiepdan_http_requests_total counter\n");
	keys = sorted_keys(m->http, cmp_int);
	for (guint i = 0; i < keys->len; i++) {
		g_string_append_printf(s,
				       "tiepdan_http_requests_total{status=\"%d\"} %" G_GUINT64_FORMAT
				       "\n",
				       GPOINTER_TO_INT(keys->pdata[i]),
				       *(uint64_t *)g_hash_table_lookup(m->http, keys->pdata[i]));
	}
	g_ptr_array_free(keys, TRUE);

	g_string_append(s, "# HELP tiepdan_rpc_calls_total JSON-RPC calls answered, by method.\n"
			   "# TYPE tiepdan_rpc_calls_total counter\n");
	keys = sorted_keys(m->methods, cmp_str);
	for (guint i = 0; i < keys->len; i++) {
		struct method_stats *st = g_hash_table_lookup(m->methods, keys->pdata[i]);
		g_string_append_printf(s,
				       "tiepdan_rpc_calls_total{method=\"%s\"} %" G_GUINT64_FORMAT
				       "\n",
				       (const char *)keys->pdata[i], st->calls);
	}
	g_string_append(s, "# HELP tiepdan_rpc_duration_seconds Time from receiving a call to "
			   "queueing its answer, by method.\n"
			   "# TYPE tiepdan_rpc_duration_seconds histogram\n");
	for (guint i = 0; i < keys->len; i++) {
		struct method_stats *st = g_hash_table_lookup(m->methods, keys->pdata[i]);
		char *labels = g_strdup_printf("method=\"%s\"", (const char *)keys->pdata[i]);
		render_histogram(s, "tiepdan_rpc_duration_seconds", labels, &st->latency);
		g_free(labels);
	}
	g_ptr_array_free(keys, TRUE);

	g_string_append(s, "# HELP tiepdan_rpc_errors_total JSON-RPC error answers, by code.\n"
			   "# TYPE tiepdan_rpc_errors_total counter\n");
	keys = sorted_keys(m->errors, cmp_int);
	for (guint i = 0; i < keys->len; i++) {
		g_string_append_printf(s,
				       "tiepdan_rpc_errors_total{code=\"%d\"} %" G_GUINT64_FORMAT
				       "\n",
				       GPOINTER_TO_INT(keys->pdata[i]),
				       *(uint64_t *)g_hash_table_lookup(m->errors, keys->pdata[i]));
	}
	g_ptr_array_free(keys, TRUE);

	g_string_append(s, "# HELP tiepdan_db_commit_duration_seconds Duration of a group commit "
			   "(BEGIN to the end of COMMIT).\n"
			   "# TYPE tiepdan_db_commit_duration_seconds histogram\n");
	render_histogram(s, "tiepdan_db_commit_duration_seconds", "", &m->commit);
	g_string_append_printf(s,
			       "# HELP tiepdan_db_commit_jobs_total Write jobs committed in groups.\n"
			       "# TYPE tiepdan_db_commit_jobs_total counter\n"
			       "tiepdan_db_commit_jobs_total %" G_GUINT64_FORMAT "\n"
			       "# HELP tiepdan_db_commit_failures_total Group commits that failed.\n"
			       "# TYPE tiepdan_db_commit_failures_total counter\n"
			       "tiepdan_db_commit_failures_total %" G_GUINT64_FORMAT "\n",
			       m->commit_jobs, m->commit_failed);
	g_string_append_printf(s,
			       "# HELP tiepdan_media_sessions Live reception sessions.\n"
			       "# TYPE tiepdan_media_sessions gauge\ntiepdan_media_sessions %u\n"
			       "# HELP tiepdan_recording_bytes_total Bytes of recordings written.\n"
			       "# TYPE tiepdan_recording_bytes_total counter\n"
			       "tiepdan_recording_bytes_total %" G_GUINT64_FORMAT "\n",
			       m->media_sessions, m->recording_bytes);
	return s;
}
