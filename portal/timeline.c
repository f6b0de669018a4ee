/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/timeline.h"

#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>

#include "tiepdan/store.h"

/* ---- RFC 8785: JSON Canonicalization Scheme ---- */

static void
canon_string(GString *out, const char *s, size_t len)
{
	g_string_append_c(out, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"':
			g_string_append(out, "\\\"");
			break;
		case '\\':
			g_string_append(out, "\\\\");
			break;
		case '\b':
			g_string_append(out, "\\b");
			break;
		case '\f':
			g_string_append(out, "\\f");
			break;
		case '\n':
			g_string_append(out, "\\n");
			break;
		case '\r':
			g_string_append(out, "\\r");
			break;
		case '\t':
			g_string_append(out, "\\t");
			break;
		default:
			if (c < 0x20) {
				g_string_append_printf(out, "\\u%04x", c);
			} else {
				g_string_append_c(out, (char)c);
			}
		}
	}
	g_string_append_c(out, '"');
}

/* ECMAScript's Number.prototype.toString for a finite double (RFC 8785 §3.2.2.3). */
static bool
canon_number(GString *out, double d)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];
	if (!isfinite(d)) {
		return false;
	}
	if (d == 0) {
		g_string_append_c(out, '0');
		return true;
	}
	/* Shortest round-trip digits and exponent, then ES formatting. */
	int prec;
	for (prec = 1; prec <= 17; prec++) {
		g_snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
		if (g_ascii_strtod(buf, NULL) == d) {
			break;
		}
	}
	bool neg = buf[0] == '-';
	char digits[32];
	size_t nd = 0;
	const char *p = buf + (neg ? 1 : 0);
	for (; *p && *p != 'e'; p++) {
		if (g_ascii_isdigit(*p)) {
			digits[nd++] = *p;
		}
	}
	while (nd > 1 && digits[nd - 1] == '0') {
		nd--;
	}
	int e = atoi(p + 1); /* value = 0.d1d2… × 10^(e+1) */
	int n = e + 1;
	if (neg) {
		g_string_append_c(out, '-');
	}
	if ((int)nd <= n && n <= 21) {
		g_string_append_len(out, digits, (gssize)nd);
		for (int i = (int)nd; i < n; i++) {
			g_string_append_c(out, '0');
		}
	} else if (0 < n && n <= 21) {
		g_string_append_len(out, digits, n);
		g_string_append_c(out, '.');
		g_string_append_len(out, digits + n, (gssize)nd - n);
	} else if (-6 < n && n <= 0) {
		g_string_append(out, "0.");
		for (int i = 0; i < -n; i++) {
			g_string_append_c(out, '0');
		}
		g_string_append_len(out, digits, (gssize)nd);
	} else {
		g_string_append_c(out, digits[0]);
		if (nd > 1) {
			g_string_append_c(out, '.');
			g_string_append_len(out, digits + 1, (gssize)nd - 1);
		}
		g_string_append_printf(out, "e%c%d", n - 1 >= 0 ? '+' : '-', ABS(n - 1));
	}
	return true;
}

/* Object members sort by their names' UTF-16 code units (RFC 8785 §3.2.3). */
static gint
cmp_utf16(gconstpointer a, gconstpointer b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	gunichar2 *ux = g_utf8_to_utf16(x, -1, NULL, NULL, NULL);
	gunichar2 *uy = g_utf8_to_utf16(y, -1, NULL, NULL, NULL);
	gint r = 0;
	if (ux && uy) {
		size_t i = 0;
		while (ux[i] && ux[i] == uy[i]) {
			i++;
		}
		r = (gint)ux[i] - (gint)uy[i];
	} else {
		r = strcmp(x, y);
	}
	g_free(ux);
	g_free(uy);
	return r;
}

static bool
canon(GString *out, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_NULL:
		g_string_append(out, "null");
		return true;
	case JSON_TRUE:
		g_string_append(out, "true");
		return true;
	case JSON_FALSE:
		g_string_append(out, "false");
		return true;
	case JSON_INTEGER:
		g_string_append_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return true;
	case JSON_REAL:
		return canon_number(out, json_real_value(v));
	case JSON_STRING:
		canon_string(out, json_string_value(v), json_string_length(v));
		return true;
	case JSON_ARRAY: {
		g_string_append_c(out, '[');
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i) {
				g_string_append_c(out, ',');
			}
			if (!canon(out, json_array_get(v, i))) {
				return false;
			}
		}
		g_string_append_c(out, ']');
		return true;
	}
	case JSON_OBJECT: {
		GPtrArray *keys = g_ptr_array_new();
		const char *k;
		json_t *m;
		json_object_foreach((json_t *)v, k, m)
		{
			g_ptr_array_add(keys, (gpointer)k);
		}
		g_ptr_array_sort(keys, cmp_utf16);
		bool ok = true;
		g_string_append_c(out, '{');
		for (guint i = 0; i < keys->len && ok; i++) {
			if (i) {
				g_string_append_c(out, ',');
			}
			canon_string(out, keys->pdata[i], strlen(keys->pdata[i]));
			g_string_append_c(out, ':');
			ok = canon(out, json_object_get(v, keys->pdata[i]));
		}
		g_string_append_c(out, '}');
		g_ptr_array_free(keys, TRUE);
		return ok;
	}
	}
	return false;
}

char *
td_canonical_json(const json_t *v)
{
	GString *out = g_string_new(NULL);
	if (!v || !canon(out, v)) {
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}

/* ---- the chain ---- */

static const char genesis[] = "0000000000000000000000000000000000000000000000000000000000000000";

static int
event_hash(const char *prev, const char *case_id, int64_t seq, const char *at, const char *actor,
	   const char *action, json_t *data, char out[TIMELINE_HASH_HEX])
{
	json_t *ev = json_pack("{s:s, s:I, s:s, s:s?, s:s, s:O}", "case_id", case_id, "seq",
			       (json_int_t)seq, "at", at, "actor", actor, "action", action, "data",
			       data);
	if (!ev) {
		return -EINVAL;
	}
	if (!actor) {
		json_object_set_new(ev, "actor", json_null());
	}
	char *text = td_canonical_json(ev);
	json_decref(ev);
	if (!text) {
		return -EINVAL;
	}
	crypto_hash_sha256_state st;
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)prev, 64);
	crypto_hash_sha256_update(&st, (const unsigned char *)text, strlen(text));
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(out, TIMELINE_HASH_HEX, h, sizeof(h));
	g_free(text);
	return 0;
}

int
timeline_append(sqlite3 *db, const char *case_id, const char *actor, const char *action,
		json_t *data, int64_t *seq_out)
{
	sqlite3_stmt *st = NULL;
	char prev[TIMELINE_HASH_HEX], hash[TIMELINE_HASH_HEX], at[STORE_TIME_SIZE];
	int64_t seq = 1;
	int rc;

	memcpy(prev, genesis, sizeof(genesis));
	rc = store_stmt_get(db, "SELECT seq, hash FROM timeline WHERE case_id = ?1 "
				"ORDER BY seq DESC LIMIT 1", &st);
	if (rc != SQLITE_OK) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		seq = sqlite3_column_int64(st, 0) + 1;
		g_strlcpy(prev, (const char *)sqlite3_column_text(st, 1), sizeof(prev));
	}
	store_stmt_release(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		return -EIO;
	}
	store_time_now(at);
	json_t *d = data ? json_incref(data) : json_object();
	int r = event_hash(prev, case_id, seq, at, actor, action, d, hash);
	char *text = r == 0 ? td_canonical_json(d) : NULL;
	json_decref(d);
	if (!text) {
		return -EINVAL;
	}
	rc = store_stmt_get(db, "INSERT INTO timeline (case_id, seq, at, actor_id, action, data, "
				"prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)", &st);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, seq);
		sqlite3_bind_text(st, 3, at, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, actor, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, action, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, text, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, prev, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, hash, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	store_stmt_release(st);
	g_free(text);
	if (rc != SQLITE_DONE) {
		return store_errno(rc);
	}
	rc = store_stmt_get(db, "UPDATE cases SET timeline_length = ?2, timeline_head = ?3 WHERE id = ?1", &st);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, seq);
		sqlite3_bind_text(st, 3, hash, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	store_stmt_release(st);
	if (rc != SQLITE_DONE) {
		return store_errno(rc);
	}
	if (seq_out) {
		*seq_out = seq;
	}
	return 0;
}

int
timeline_verify(sqlite3 *db, const char *case_id, struct timeline_check *out)
{
	sqlite3_stmt *st = NULL;
	char prev[TIMELINE_HASH_HEX], hash[TIMELINE_HASH_HEX];
	int rc;

	memset(out, 0, sizeof(*out));
	out->ok = true;
	memcpy(prev, genesis, sizeof(genesis));
	rc = store_stmt_get(db, "SELECT seq, at, actor_id, action, data, prev_hash, hash FROM timeline "
				"WHERE case_id = ?1 ORDER BY seq", &st);
	if (rc != SQLITE_OK) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
	int64_t expect = 1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(st, 0);
		const char *at = (const char *)sqlite3_column_text(st, 1);
		const char *actor = (const char *)sqlite3_column_text(st, 2);
		const char *action = (const char *)sqlite3_column_text(st, 3);
		const char *data = (const char *)sqlite3_column_text(st, 4);
		const char *stored_prev = (const char *)sqlite3_column_text(st, 5);
		const char *stored = (const char *)sqlite3_column_text(st, 6);
		json_t *d = data ? json_loads(data, JSON_REJECT_DUPLICATES, NULL) : NULL;
		bool good = seq == expect && at && action && d && stored_prev && stored &&
			    strcmp(stored_prev, prev) == 0 &&
			    event_hash(prev, case_id, seq, at, actor, action, d, hash) == 0 &&
			    strcmp(hash, stored) == 0;
		json_decref(d);
		out->length++;
		if (!good && out->ok) {
			out->ok = false;
			out->first_bad_seq = seq;
		}
		g_strlcpy(prev, stored ? stored : "", sizeof(prev));
		expect++;
	}
	store_stmt_release(st);
	if (rc != SQLITE_DONE) {
		return -EIO;
	}
	g_strlcpy(out->head_hash, out->length ? prev : genesis, sizeof(out->head_hash));
	/* The case row remembers the length and head: events cut off the end show here. */
	if (store_stmt_get(db, "SELECT timeline_length, timeline_head FROM cases WHERE id = ?1", &st) != SQLITE_OK) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, case_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		int64_t length = sqlite3_column_int64(st, 0);
		const char *head = (const char *)sqlite3_column_text(st, 1);
		if (length != out->length || (length > 0 && g_strcmp0(head, out->head_hash) != 0)) {
			if (out->ok) {
				out->first_bad_seq = MIN(length, out->length) + 1;
			}
			out->ok = false;
		}
	}
	store_stmt_release(st);
	return 0;
}
