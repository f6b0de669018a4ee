/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Logging: one line per event on stderr, logfmt (`key=value`), with a level
 * and a module tag:
 *
 *   ts=2026-11-27T22:53:24.123+07:00 level=info mod=server msg="listening" addr=127.0.0.1:8080
 *
 * The format arguments after the message are key=value pairs written by the
 * caller, e.g. td_info("server", "listening", "addr=%s port=%d", a, p).
 * Values with spaces must be quoted by the caller with td_log_quote().
 *
 * Never pass a token, a password or a petitioner's identity.
 */

#include <stdarg.h>
#include <stdbool.h>

enum td_log_level {
	TD_LOG_DEBUG = 0,
	TD_LOG_INFO = 1,
	TD_LOG_WARN = 2,
	TD_LOG_ERROR = 3,
};

/** Sets the lowest level written. */
void td_log_set_level(enum td_log_level level);
/** Parses "debug", "info", "warn", "error"; returns -EINVAL when unknown. */
int td_log_parse_level(const char *name, enum td_log_level *out);
bool td_log_enabled(enum td_log_level level);

void td_log(enum td_log_level level, const char *mod, const char *msg, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define td_debug(mod, msg, ...) \
	do { if (td_log_enabled(TD_LOG_DEBUG)) td_log(TD_LOG_DEBUG, mod, msg, __VA_ARGS__); } while (0)
#define td_info(mod, msg, ...) td_log(TD_LOG_INFO, mod, msg, __VA_ARGS__)
#define td_warn(mod, msg, ...) td_log(TD_LOG_WARN, mod, msg, __VA_ARGS__)
#define td_error(mod, msg, ...) td_log(TD_LOG_ERROR, mod, msg, __VA_ARGS__)
