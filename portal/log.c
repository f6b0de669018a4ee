/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/log.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

static enum td_log_level min_level = TD_LOG_INFO;

static const char *const level_names[] = {
	[TD_LOG_DEBUG] = "debug",
	[TD_LOG_INFO] = "info",
	[TD_LOG_WARN] = "warn",
	[TD_LOG_ERROR] = "error",
};

void
td_log_set_level(enum td_log_level level)
{
	min_level = level;
}

int
td_log_parse_level(const char *name, enum td_log_level *out)
{
	for (size_t i = 0; i < G_N_ELEMENTS(level_names); i++) {
		if (name && g_ascii_strcasecmp(name, level_names[i]) == 0) {
			*out = (enum td_log_level)i;
			return 0;
		}
	}
	if (name && g_ascii_strcasecmp(name, "warning") == 0) {
		*out = TD_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

bool
td_log_enabled(enum td_log_level level)
{
	return level >= min_level;
}

/*
 * The whole line is formatted first and written with one fwrite() so that
 * lines from the commit thread and the loop never interleave.
 */
void
td_log(enum td_log_level level, const char *mod, const char *msg, const char *fmt, ...)
{
	if (!td_log_enabled(level)) {
		return;
	}
	/* The local zone, looked up once: g_time_zone_new_local() per line was 1 % of an intake. */
	static GTimeZone *local;
	if (g_once_init_enter(&local)) {
		g_once_init_leave(&local, g_time_zone_new_local());
	}
	GDateTime *now = g_date_time_new_now(local);
	char *ts = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%f%:z");
	g_date_time_unref(now);
	/* %f gives microseconds; keep milliseconds. */
	char *dot = ts ? strchr(ts, '.') : NULL;
	if (dot && strlen(dot) > 4) {
		memmove(dot + 4, dot + 7, strlen(dot + 7) + 1);
	}

	GString *line = g_string_sized_new(160);
	g_string_append_printf(line, "ts=%s level=%s mod=%s msg=\"", ts ? ts : "-",
			       level_names[level], mod);
	for (const char *p = msg; p && *p; p++) {
		if (*p == '"' || *p == '\\') {
			g_string_append_c(line, '\\');
		}
		g_string_append_c(line, *p == '\n' ? ' ' : *p);
	}
	g_string_append_c(line, '"');
	if (fmt && *fmt) {
		va_list ap;
		va_start(ap, fmt);
		g_string_append_c(line, ' ');
		g_string_append_vprintf(line, fmt, ap);
		va_end(ap);
	}
	g_string_append_c(line, '\n');
	fwrite(line->str, 1, line->len, stderr);
	fflush(stderr);
	g_string_free(line, TRUE);
	g_free(ts);
}
