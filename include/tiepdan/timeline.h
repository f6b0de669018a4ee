/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * The case timeline: append-only, hash-chained. Each event's hash is
 * SHA-256 over the previous event's hash (64 lowercase hex digits; 64 zeros
 * before the first event) immediately followed by the canonical JSON (RFC
 * 8785) of the event {case_id, seq, at, actor, action, data}. Editing,
 * removing or reordering any stored event breaks every hash from there on;
 * the case row keeps the chain's length and head hash, so cutting events off
 * the end is seen too. (Someone who can rewrite the database can rewrite all
 * of it; anchoring heads outside the database is future work.)
 */

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#define TIMELINE_HASH_HEX 65 /* 64 hex digits and a NUL */

/** (transfer full) The RFC 8785 canonical text of v; NULL for values it cannot hold (NaN). */
char *td_canonical_json(const json_t *v);

/**
 * Appends one event to a case's chain inside the caller's transaction (db is the writer).
 * actor (nullable: the system), data (transfer none, nullable: {}). *seq_out gets the event's
 * number (from 1). 0 or a negative errno.
 */
int timeline_append(sqlite3 *db, const char *case_id, const char *actor, const char *action,
		    json_t *data, int64_t *seq_out) __attribute__((warn_unused_result));

struct timeline_check {
	bool ok;
	int64_t length;
	char head_hash[TIMELINE_HASH_HEX];
	int64_t first_bad_seq; /* 0 when ok */
};

/** Recomputes a case's chain. 0 (see out->ok) or a negative errno when it cannot be read. */
int timeline_verify(sqlite3 *db, const char *case_id, struct timeline_check *out);
