/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Counters and histograms for GET /metrics (Prometheus text format 0.0.4).
 * Touched only on the loop's thread.
 */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

struct metrics;

struct metrics *metrics_create(void);
void metrics_destroy(struct metrics *m);

void metrics_connection_opened(struct metrics *m);
void metrics_connection_closed(struct metrics *m);
void metrics_connection_dropped(struct metrics *m, const char *reason);
void metrics_http_request(struct metrics *m, int status);
/* One answered call: method (an unknown one is counted as "unknown"), the error code (0 when it
 * succeeded) and the time from receipt to the answer being queued. */
void metrics_rpc(struct metrics *m, const char *method, int error_code, double seconds);
void metrics_commit(struct metrics *m, double seconds, unsigned jobs, bool ok);
void metrics_set_media(struct metrics *m, unsigned sessions, uint64_t recording_bytes);

/* (transfer full) The exposition text. */
GString *metrics_render(struct metrics *m);
