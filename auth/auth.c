/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/auth.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth/throttle.h"
#include "auth/token.h"
#include "auth/worker.h"
#include "tiepdan/log.h"
#include "tiepdan/password.h"

#define MOD "auth"
#define REFRESH_BYTES 32

extern const char *const auth_common_passwords[];
extern const size_t auth_common_passwords_len;

struct auth {
	struct rpc *rpc;
	struct store *store;
	struct auth_options opts;
	struct token_keys *keys;
	struct pw_worker *worker;
	struct throttle *by_login;
	struct throttle *by_addr;
	bool quiescing;
};

/* ---- input rules ---- */

static int
cmp_word(const void *key, const void *elem)
{
	return strcmp(key, *(const char *const *)elem);
}

bool
auth_password_is_common(const char *pw)
{
	char *low = g_utf8_strdown(pw, -1);
	bool found = bsearch(low, auth_common_passwords, auth_common_passwords_len,
			     sizeof(char *), cmp_word) != NULL;
	g_free(low);
	return found;
}

/* Vietnamese mobile numbers: 0xxxxxxxxx or +84xxxxxxxxx (spaces, dots, dashes ignored), stored
 * as 0 and nine digits, the first of them 3, 5, 7, 8 or 9. */
static bool
normalize_phone(const char *in, char out[11])
{
	char digits[16];
	size_t n = 0;
	const char *p = in;
	if (*p == '+') {
		if (p[1] != '8' || p[2] != '4') {
			return false;
		}
		p += 3;
		digits[n++] = '0';
	}
	for (; *p; p++) {
		if (*p == ' ' || *p == '.' || *p == '-') {
			continue;
		}
		if (!g_ascii_isdigit(*p) || n >= 10) {
			return false;
		}
		digits[n++] = *p;
	}
	if (n != 10 || digits[0] != '0' || !strchr("35789", digits[1])) {
		return false;
	}
	memcpy(out, digits, 10);
	out[10] = '\0';
	return true;
}

static bool
valid_national_id(const char *s)
{
	if (strlen(s) != 12) {
		return false;
	}
	for (int i = 0; i < 12; i++) {
		if (!g_ascii_isdigit(s[i])) {
			return false;
		}
	}
	return true;
}

/* (transfer full, nullable) a lower-cased address with one '@', a dotted domain, no spaces. */
static char *
normalize_email(const char *in)
{
	char *copy = g_strstrip(g_strdup(in));
	char *e = g_ascii_strdown(copy, -1);
	g_free(copy);
	const char *at = strchr(e, '@');
	size_t len = strlen(e);
	bool ok = at && at != e && strchr(at + 1, '@') == NULL && strchr(at, '.') &&
		  at[1] != '.' && e[len - 1] != '.' && len <= 254 && (size_t)(at - e) <= 64;
	for (const char *p = e; ok && *p; p++) {
		ok = (unsigned char)*p > ' ' && *p != '<' && *p != '>' && *p != ',' && *p != ';';
	}
	if (!ok) {
		g_free(e);
		return NULL;
	}
	return e;
}

/*
 * A person's name: NFC, runs of spaces collapsed, letters (any script, so
 * Vietnamese with its diacritics), combining marks, spaces, and . ' - only;
 * 2 to 100 characters.
 */
static char *
normalize_name(const char *in)
{
	char *nfc = g_utf8_normalize(in, -1, G_NORMALIZE_NFC);
	if (!nfc) {
		return NULL;
	}
	GString *out = g_string_new(NULL);
	bool space = false, ok = true;
	glong letters = 0;
	for (const char *p = nfc; *p && ok; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (g_unichar_isspace(c)) {
			space = out->len > 0;
			continue;
		}
		if (space) {
			g_string_append_c(out, ' ');
			space = false;
		}
		if (g_unichar_isalpha(c)) {
			letters++;
		} else if (!g_unichar_ismark(c) && c != '.' && c != '\'' && c != '-') {
			ok = false;
		}
		g_string_append_unichar(out, c);
	}
	g_free(nfc);
	glong chars = g_utf8_strlen(out->str, -1);
	if (!ok || letters < 2 || chars > 100) {
		g_string_free(out, TRUE);
		return NULL;
	}
	return g_string_free(out, FALSE);
}

/* NULL when the password may be used, else the reason word. */
static const char *
password_rule(const char *pw, const char *phone, const char *national_id)
{
	glong chars = g_utf8_strlen(pw, -1);
	if (chars < 10) {
		return "too_short";
	}
	if (strlen(pw) > AUTH_PASSWORD_MAX_BYTES) {
		return "too_long";
	}
	if (auth_password_is_common(pw)) {
		return "common";
	}
	if ((phone && strstr(pw, phone + 1)) || (national_id && strstr(pw, national_id))) {
		return "personal";
	}
	return NULL;
}

/* ---- small store helpers ---- */

static char *
column_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t ? g_strdup((const char *)t) : NULL;
}

static void
sha256_hex(const char *s, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, (const unsigned char *)s, strlen(s));
	sodium_bin2hex(out, 65, h, sizeof(h));
}

static char *
random_token(void)
{
	unsigned char raw[REFRESH_BYTES];
	char b64[sodium_base64_ENCODED_LEN(REFRESH_BYTES, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	return g_strdup(b64);
}

/* One row of the append-only audit log, in the caller's transaction. */
static int
audit(sqlite3 *db, const char *action, const char *user_id, const char *actor_id,
      const char *addr, json_t *detail /* transfer full, nullable */)
{
	char now[STORE_TIME_SIZE];
	sqlite3_stmt *st = NULL;
	char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
	json_decref(detail);
	store_time_now(now);
	int rc = sqlite3_prepare_v3(db,
				    "INSERT INTO audit_log (at, action, user_id, actor_id, "
				    "client_addr, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
				    -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, action, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, user_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, actor_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, addr && *addr ? addr : NULL, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, d, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	free(d);
	return rc == SQLITE_DONE ? 0 : -EIO;
}

/*
 * The user as PROTOCOL.md §3 shows it, and (when id is non-NULL) the identity
 * to bind: user_id, roles and grants. Disabled users are not found.
 */
static json_t *
load_user(sqlite3 *db, const char *user_id, struct rpc_identity *id)
{
	sqlite3_stmt *st = NULL;
	json_t *user = NULL;
	if (sqlite3_prepare_v2(db, "SELECT full_name FROM users WHERE id = ?1 AND disabled = 0", -1,
			       &st, NULL) != SQLITE_OK) {
		return NULL;
	}
	sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		user = json_pack("{s:s, s:s, s:[]}", "id", user_id, "full_name",
				 (const char *)sqlite3_column_text(st, 0), "roles");
	}
	sqlite3_finalize(st);
	if (!user) {
		return NULL;
	}
	if (sqlite3_prepare_v2(db,
			       "SELECT role, agency_id FROM user_roles WHERE user_id = ?1 "
			       "ORDER BY role, agency_id",
			       -1, &st, NULL) != SQLITE_OK) {
		json_decref(user);
		return NULL;
	}
	sqlite3_bind_text(st, 1, user_id, -1, SQLITE_STATIC);
	GArray *grants = g_array_new(FALSE, TRUE, sizeof(struct rpc_grant));
	json_t *roles = json_object_get(user, "roles");
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *role = (const char *)sqlite3_column_text(st, 0);
		const char *agency = (const char *)sqlite3_column_text(st, 1);
		json_array_append_new(roles, json_pack("{s:s, s:s?}", "role", role, "agency_id",
						       agency));
		if (!agency) {
			json_object_set_new(json_array_get(roles, json_array_size(roles) - 1),
					    "agency_id", json_null());
		}
		struct rpc_grant g = {.role = rpc_role_bit(role), .agency_id = g_strdup(agency)};
		g_array_append_val(grants, g);
	}
	sqlite3_finalize(st);
	if (id) {
		memset(id, 0, sizeof(*id));
		id->user_id = g_strdup(user_id);
		id->n_grants = grants->len;
		id->grants = (struct rpc_grant *)g_array_free(grants, FALSE);
		for (size_t i = 0; i < id->n_grants; i++) {
			id->roles |= id->grants[i].role;
		}
	} else {
		for (guint i = 0; i < grants->len; i++) {
			g_free(g_array_index(grants, struct rpc_grant, i).agency_id);
		}
		g_array_free(grants, TRUE);
	}
	return user;
}

/* Which of the identifying columns of another account already holds value, if any. */
static bool
taken(sqlite3 *db, const char *value)
{
	sqlite3_stmt *st = NULL;
	bool found = false;
	if (!value) {
		return false;
	}
	if (sqlite3_prepare_v3(db,
			       "SELECT 1 FROM users WHERE login = ?1 OR phone = ?1 OR email = ?1 "
			       "OR national_id = ?1 LIMIT 1",
			       -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
		found = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return found;
}

static void
reply_taken(struct rpc_call *call, const char *field)
{
	rpc_call_error(call, TD_ERR_CONFLICT, "already registered",
		       json_pack("{s:s, s:s}", "field", field, "reason", "already_registered"));
}

static void
reply_rate_limited(struct rpc_call *call, unsigned seconds)
{
	rpc_call_error(call, TD_ERR_RATE_LIMITED, NULL,
		       json_pack("{s:i}", "retry_after_s", (json_int_t)MAX(seconds, 1u)));
}

/* ---- accounts: shared by auth.register and admin.user.create ---- */

struct new_user {
	struct auth *auth;
	struct rpc_call *call;
	char *id;
	char *login;
	char *full_name;
	char *national_id;
	char *phone;
	char *email;
	char *address;
	char *hash;
	uint32_t role;
	char *agency_id;
	char *actor_id;
	char peer[64];
	const char *taken_field; /* set by the transaction on a race */
};

static void
new_user_free(struct new_user *u)
{
	g_free(u->id);
	g_free(u->login);
	g_free(u->full_name);
	g_free(u->national_id);
	g_free(u->phone);
	g_free(u->email);
	g_free(u->address);
	g_free(u->hash);
	g_free(u->agency_id);
	g_free(u->actor_id);
	g_free(u);
}

/* NULL when every identifying value is free, else the JSON pointer of the first taken one. */
static const char *
first_taken(sqlite3 *db, const struct new_user *u, bool admin)
{
	if (admin && taken(db, u->login)) {
		return "/login";
	}
	if (taken(db, u->national_id)) {
		return "/national_id";
	}
	if (taken(db, u->phone)) {
		return "/phone";
	}
	if (taken(db, u->email)) {
		return "/email";
	}
	return NULL;
}

static int
new_user_txn(sqlite3 *db, void *data)
{
	struct new_user *u = data;
	char now[STORE_TIME_SIZE];
	sqlite3_stmt *st = NULL;
	int rc;

	/* Checked again inside the transaction: two registrations may race. */
	u->taken_field = first_taken(db, u, u->actor_id != NULL);
	if (u->taken_field) {
		return -EEXIST;
	}
	store_time_now(now);
	rc = sqlite3_prepare_v2(db,
				"INSERT INTO users (id, login, full_name, national_id, phone, email, "
				"address, password_hash, created_at, password_changed_at) "
				"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
				-1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, u->login, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, u->full_name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, u->national_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, u->phone, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, u->email, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 7, u->address, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, u->hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 9, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		return store_errno(rc);
	}
	rc = sqlite3_prepare_v2(db, "INSERT INTO user_roles (user_id, role, agency_id) VALUES "
				    "(?1, ?2, ?3)",
				-1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, rpc_role_name(u->role), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, u->agency_id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		return store_errno(rc);
	}
	return audit(db, u->actor_id ? "user_create" : "register", u->id, u->actor_id, u->peer,
		     json_pack("{s:s, s:s?}", "role", rpc_role_name(u->role), "agency_id",
			       u->agency_id));
}

static void
new_user_done(int status, void *data)
{
	struct new_user *u = data;
	if (status == 0) {
		td_info(MOD, u->actor_id ? "user created" : "citizen registered", "user=%s role=%s",
			u->id, rpc_role_name(u->role));
		rpc_call_reply(u->call, json_pack("{s:s}", "user_id", u->id));
	} else if (status == -EEXIST) {
		reply_taken(u->call, u->taken_field ? u->taken_field : "/login");
	} else {
		td_error(MOD, "account not stored", "err=%d", status);
		rpc_call_error(u->call, TD_ERR_INTERNAL, NULL, NULL);
	}
	new_user_free(u);
}

static void
new_user_hashed(int result, char *hash, void *data)
{
	struct new_user *u = data;
	if (result < 0 || u->auth->quiescing) {
		if (result == -ECANCELED || u->auth->quiescing) {
			reply_rate_limited(u->call, 1);
		} else {
			rpc_call_error(u->call, TD_ERR_INTERNAL, NULL, NULL);
		}
		g_free(hash);
		new_user_free(u);
		return;
	}
	u->hash = hash;
	int r = store_write(u->auth->store, new_user_txn, new_user_done, u);
	if (r < 0) {
		rpc_call_error(u->call, r == -EAGAIN ? TD_ERR_RATE_LIMITED : TD_ERR_INTERNAL, NULL,
			       r == -EAGAIN ? json_pack("{s:i}", "retry_after_s", 1) : NULL);
		new_user_free(u);
	}
}

/* Validated fields in, taken values refused early (before 100 ms of hashing), then hash. */
static void
new_user_start(struct new_user *u, const char *password)
{
	struct auth *a = u->auth;
	const char *field = first_taken(store_reader(a->store), u, u->actor_id != NULL);
	if (field) {
		reply_taken(u->call, field);
		new_user_free(u);
		return;
	}
	u->id = g_malloc(23);
	store_new_id(u->id);
	int r = a->quiescing ? -EAGAIN : pw_worker_hash(a->worker, password, new_user_hashed, u);
	if (r < 0) {
		reply_rate_limited(u->call, 1);
		new_user_free(u);
	}
}

static void
auth_register(struct rpc_call *call, json_t *params, void *data)
{
	struct auth *a = data;
	const char *pw = json_string_value(json_object_get(params, "password"));
	const char *nid = json_string_value(json_object_get(params, "national_id"));
	const char *email = json_string_value(json_object_get(params, "email"));
	const char *address = json_string_value(json_object_get(params, "address"));
	char phone[11];
	const char *reason;

	struct new_user *u = g_new0(struct new_user, 1);
	u->auth = a;
	u->call = call;
	u->role = RPC_CITIZEN;
	g_strlcpy(u->peer, rpc_call_peer(call), sizeof(u->peer));
	u->full_name = normalize_name(json_string_value(json_object_get(params, "full_name")));
	if (!u->full_name) {
		rpc_call_invalid(call, "/full_name", "format");
		goto fail;
	}
	if (!valid_national_id(nid)) {
		rpc_call_invalid(call, "/national_id", "format");
		goto fail;
	}
	u->national_id = g_strdup(nid);
	if (!normalize_phone(json_string_value(json_object_get(params, "phone")), phone)) {
		rpc_call_invalid(call, "/phone", "format");
		goto fail;
	}
	u->phone = g_strdup(phone);
	u->login = g_strdup(phone);
	if (email && !(u->email = normalize_email(email))) {
		rpc_call_invalid(call, "/email", "format");
		goto fail;
	}
	if (address) {
		u->address = g_utf8_normalize(address, -1, G_NORMALIZE_NFC);
		g_strstrip(u->address);
		if (!*u->address) {
			rpc_call_invalid(call, "/address", "empty");
			goto fail;
		}
	}
	if ((reason = password_rule(pw, u->phone, u->national_id))) {
		rpc_call_invalid(call, "/password", reason);
		goto fail;
	}
	new_user_start(u, pw);
	return;
fail:
	new_user_free(u);
}

/* ---- login ---- */

struct login {
	struct auth *auth;
	struct rpc_call *call;
	uint64_t client_id;
	char *login_key;
	char *throttle_key; /* "u:<user id>" for an account, "l:<login>" for an unknown login */
	char *user_id;
	char *family_id;
	char *refresh;
	char peer[64];
	bool known;
};

static void
login_free(struct login *l)
{
	g_free(l->login_key);
	g_free(l->throttle_key);
	g_free(l->user_id);
	g_free(l->family_id);
	if (l->refresh) {
		sodium_memzero(l->refresh, strlen(l->refresh));
		g_free(l->refresh);
	}
	g_free(l);
}

/* A new refresh family with its first token, in the caller's transaction. */
static int
family_create(sqlite3 *db, struct auth *a, const char *family_id, const char *user_id,
	      const char *refresh, const char *peer)
{
	char now[STORE_TIME_SIZE], hash[65];
	sqlite3_stmt *st = NULL;
	store_time_now(now);
	int rc = sqlite3_prepare_v3(db,
				    "INSERT INTO refresh_families (id, user_id, created_at, "
				    "client_addr) VALUES (?1, ?2, ?3, ?4)",
				    -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, family_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, user_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, peer && *peer ? peer : NULL, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		return store_errno(rc);
	}
	sha256_hex(refresh, hash);
	rc = sqlite3_prepare_v3(db,
				"INSERT INTO refresh_tokens (token_hash, family_id, issued_at, "
				"expires_at) VALUES (?1, ?2, ?3, ?4)",
				-1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, family_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, g_get_real_time() / G_USEC_PER_SEC + a->opts.refresh_ttl_s);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_errno(rc);
}

static int
login_txn(sqlite3 *db, void *data)
{
	struct login *l = data;
	int r = family_create(db, l->auth, l->family_id, l->user_id, l->refresh, l->peer);
	return r < 0 ? r : audit(db, "login", l->user_id, NULL, l->peer, NULL);
}

static int
login_failed_txn(sqlite3 *db, void *data)
{
	struct login *l = data;
	return audit(db, "login_failed", l->known ? l->user_id : NULL, NULL, l->peer,
		     l->known ? NULL : json_pack("{s:b}", "unknown_login", 1));
}

static void
login_failed_done(int status, void *data)
{
	login_free(data);
}

/* Binds the caller's connection and builds {access_token, …, user}. NULL when the user is gone. */
static json_t *
issue_session(struct auth *a, uint64_t client_id, const char *user_id, const char *family_id,
	      bool bind)
{
	struct rpc_identity id;
	json_t *user = load_user(store_reader(a->store), user_id, &id);
	if (!user) {
		return NULL;
	}
	int64_t now = g_get_real_time() / G_USEC_PER_SEC;
	char *access = token_issue(a->keys, user_id, family_id, now, a->opts.access_ttl_s);
	if (!access) {
		rpc_identity_clear(&id);
		json_decref(user);
		return NULL;
	}
	id.session_id = g_strdup(family_id);
	id.expires_at_us = (now + a->opts.access_ttl_s) * G_USEC_PER_SEC;
	if (bind) {
		rpc_bind(a->rpc, client_id, &id);
	}
	rpc_identity_clear(&id);
	json_t *res = json_pack("{s:s, s:s, s:i, s:o}", "access_token", access, "token_type",
				"Bearer", "expires_in", (json_int_t)a->opts.access_ttl_s, "user", user);
	g_free(access);
	return res;
}

static void
login_done(int status, void *data)
{
	struct login *l = data;
	json_t *res = status == 0 ? issue_session(l->auth, l->client_id, l->user_id, l->family_id,
						  true)
				  : NULL;
	if (!res) {
		td_error(MOD, "login not stored", "err=%d", status);
		rpc_call_error(l->call, TD_ERR_INTERNAL, NULL, NULL);
	} else {
		json_object_set_new(res, "refresh_token", json_string(l->refresh));
		td_info(MOD, "login", "user=%s", l->user_id);
		rpc_call_reply(l->call, res);
	}
	login_free(l);
}

static void
login_verified(int result, char *hash, void *data)
{
	struct login *l = data;
	struct auth *a = l->auth;
	int64_t now = g_get_real_time();
	g_free(hash);
	if (result == -ECANCELED || result == -ENOMEM || result == -EIO) {
		throttle_abandon(a->by_login, l->throttle_key);
		if (result == -ECANCELED) {
			reply_rate_limited(l->call, 1);
		} else {
			rpc_call_error(l->call, TD_ERR_INTERNAL, NULL, NULL);
		}
		login_free(l);
		return;
	}
	if (result != 0) {
		throttle_fail(a->by_login, l->throttle_key, now);
		throttle_fail(a->by_addr, l->peer, now);
		rpc_call_error(l->call, TD_ERR_UNAUTHENTICATED, "invalid login or password", NULL);
		l->call = NULL;
		if (store_write(a->store, login_failed_txn, login_failed_done, l) < 0) {
			login_free(l);
		}
		return;
	}
	throttle_success(a->by_login, l->throttle_key);
	l->family_id = g_malloc(23);
	store_new_id(l->family_id);
	l->refresh = random_token();
	int r = store_write(a->store, login_txn, login_done, l);
	if (r < 0) {
		rpc_call_error(l->call, TD_ERR_INTERNAL, NULL, NULL);
		login_free(l);
	}
}

/* The login as typed, in the form it is stored: a phone normalised, the rest lower-cased. */
static char *
login_key(const char *login)
{
	char phone[11];
	if (normalize_phone(login, phone)) {
		return g_strdup(phone);
	}
	char *k = g_utf8_strdown(login, -1);
	return g_strstrip(k);
}

/*
 * The lock is per account (whichever of phone, email, national id or login
 * name was typed) and per address. Attempts on an account still on the
 * worker count as failures until they come back, so a burst of parallel
 * guesses gets no more tries than a sequence would; an address counts only
 * failures, since many people may share one (NAT).
 */
static void
auth_login(struct rpc_call *call, json_t *params, void *data)
{
	struct auth *a = data;
	const char *pw = json_string_value(json_object_get(params, "password"));
	int64_t now = g_get_real_time();
	struct login *l = g_new0(struct login, 1);
	l->auth = a;
	l->call = call;
	l->client_id = rpc_call_client_id(call);
	l->login_key = login_key(json_string_value(json_object_get(params, "login")));
	g_strlcpy(l->peer, rpc_call_peer(call), sizeof(l->peer));

	sqlite3_stmt *st = NULL;
	char *hash = NULL;
	if (sqlite3_prepare_v3(store_reader(a->store),
			       "SELECT id, password_hash FROM users WHERE disabled = 0 AND "
			       "(login = ?1 OR phone = ?1 OR email = ?1 OR national_id = ?1) LIMIT 1",
			       -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, l->login_key, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			l->user_id = column_dup(st, 0);
			hash = column_dup(st, 1);
			l->known = true;
		}
	}
	sqlite3_finalize(st);
	l->throttle_key = l->known ? g_strconcat("u:", l->user_id, NULL)
				   : g_strconcat("l:", l->login_key, NULL);

	unsigned wait = MAX(throttle_check(a->by_login, l->throttle_key, now),
			    throttle_check(a->by_addr, l->peer, now));
	if (wait || a->quiescing) {
		reply_rate_limited(call, MAX(wait, 1u));
		g_free(hash);
		login_free(l);
		return;
	}
	/* An unknown login is verified against a dummy hash: same answer, same time. */
	int r = pw_worker_verify(a->worker, hash, pw, login_verified, l);
	g_free(hash);
	if (r < 0) {
		reply_rate_limited(call, 1);
		login_free(l);
		return;
	}
	/* Only the account counts attempts in flight: many people share one address (NAT). */
	throttle_begin(a->by_login, l->throttle_key, now);
}

/* ---- tokens ---- */

/* Whether the login (refresh family) a token belongs to is still open. */
static bool
session_open(struct auth *a, const char *family_id, const char *user_id)
{
	sqlite3_stmt *st = NULL;
	bool open = false;
	if (sqlite3_prepare_v3(store_reader(a->store),
			       "SELECT 1 FROM refresh_families WHERE id = ?1 AND user_id = ?2 AND "
			       "revoked_at IS NULL",
			       -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, family_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, user_id, -1, SQLITE_STATIC);
		open = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return open;
}

static void
auth_authenticate(struct rpc_call *call, json_t *params, void *data)
{
	struct auth *a = data;
	char *sub = NULL, *sid = NULL;
	int64_t exp = 0;
	const char *token = json_string_value(json_object_get(params, "access_token"));
	int r = token_verify(a->keys, token, g_get_real_time() / G_USEC_PER_SEC, &sub, &sid, &exp);
	if (r < 0 || !session_open(a, sid, sub)) {
		td_info(MOD, "token refused", "reason=%s",
			r == -EINVAL ? "malformed"
			: r == -EPERM ? "signature"
			: r == -ETIMEDOUT ? "time"
			: r == -EACCES ? "claims" : "session");
		rpc_call_error(call, TD_ERR_UNAUTHENTICATED, NULL, NULL);
		g_free(sub);
		g_free(sid);
		return;
	}
	struct rpc_identity id;
	json_t *user = load_user(store_reader(a->store), sub, &id);
	if (!user) {
		rpc_call_error(call, TD_ERR_UNAUTHENTICATED, NULL, NULL);
	} else {
		id.session_id = g_strdup(sid);
		id.expires_at_us = exp * G_USEC_PER_SEC;
		rpc_bind(a->rpc, rpc_call_client_id(call), &id);
		rpc_identity_clear(&id);
		rpc_call_reply(call, json_pack("{s:o}", "user", user));
	}
	g_free(sub);
	g_free(sid);
}

enum refresh_outcome { REFRESH_OK, REFRESH_INVALID, REFRESH_REUSED };

struct refresh {
	struct auth *auth;
	struct rpc_call *call;
	char hash[65];
	char *next;
	char *user_id;
	char *family_id;
	char peer[64];
	enum refresh_outcome outcome;
};

static void
refresh_free(struct refresh *r)
{
	g_free(r->user_id);
	g_free(r->family_id);
	if (r->next) {
		sodium_memzero(r->next, strlen(r->next));
		g_free(r->next);
	}
	g_free(r);
}

static int
family_revoke(sqlite3 *db, const char *family_id, const char *reason)
{
	char now[STORE_TIME_SIZE];
	sqlite3_stmt *st = NULL;
	store_time_now(now);
	int rc = sqlite3_prepare_v3(db,
				    "UPDATE refresh_families SET revoked_at = ?2, revoked_reason = ?3 "
				    "WHERE id = ?1 AND revoked_at IS NULL",
				    -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, family_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_errno(rc);
}

/*
 * Rotation in one transaction: the presented token must be live; it is
 * marked used and its successor inserted. A token already used means it
 * was copied: the whole family is revoked (the outcome is kept, so the
 * transaction still commits the revocation and the audit row).
 */
static int
refresh_txn(sqlite3 *db, void *data)
{
	struct refresh *r = data;
	sqlite3_stmt *st = NULL;
	int rc;
	bool used = false, live = false;

	r->outcome = REFRESH_INVALID;
	rc = sqlite3_prepare_v3(db,
				"SELECT t.family_id, f.user_id, t.used_at IS NOT NULL, "
				"f.revoked_at IS NULL AND t.expires_at > ?2 AND u.disabled = 0 "
				"FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id "
				"JOIN users u ON u.id = f.user_id WHERE t.token_hash = ?1",
				-1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc != SQLITE_OK) {
		return -EIO;
	}
	sqlite3_bind_text(st, 1, r->hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, g_get_real_time() / G_USEC_PER_SEC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r->family_id = column_dup(st, 0);
		r->user_id = column_dup(st, 1);
		used = sqlite3_column_int(st, 2);
		live = sqlite3_column_int(st, 3);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		return -EIO;
	}
	if (!r->family_id) {
		return 0;
	}
	if (used) {
		r->outcome = REFRESH_REUSED;
		int e = family_revoke(db, r->family_id, "reuse");
		return e < 0 ? e
			     : audit(db, "refresh_reuse", r->user_id, NULL, r->peer,
				     json_pack("{s:s}", "session", r->family_id));
	}
	if (!live) {
		return 0;
	}
	char now[STORE_TIME_SIZE], next_hash[65];
	store_time_now(now);
	rc = sqlite3_prepare_v3(db, "UPDATE refresh_tokens SET used_at = ?2 WHERE token_hash = ?1",
				-1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, r->hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		return store_errno(rc);
	}
	r->next = random_token();
	sha256_hex(r->next, next_hash);
	rc = sqlite3_prepare_v3(db,
				"INSERT INTO refresh_tokens (token_hash, family_id, issued_at, "
				"expires_at) VALUES (?1, ?2, ?3, ?4)",
				-1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, next_hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, r->family_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4,
				   g_get_real_time() / G_USEC_PER_SEC + r->auth->opts.refresh_ttl_s);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		return store_errno(rc);
	}
	r->outcome = REFRESH_OK;
	return audit(db, "refresh", r->user_id, NULL, r->peer, NULL);
}

struct session_filter {
	const char *session_id;
	bool keep; /* false: unbind that session; true: unbind every other one */
};

static void
unbind_if(struct rpc *rpc, uint64_t client_id, const struct rpc_identity *current, void *data)
{
	const struct session_filter *f = data;
	bool same = g_strcmp0(current->session_id, f->session_id) == 0;
	if (same != f->keep) {
		rpc_bind(rpc, client_id, NULL);
		rpc_notify(rpc, client_id, "event.auth.expired", json_object());
	}
}

/* Unbinds the connections of user_id whose session is (or, with keep, is not) session_id. */
static void
unbind_sessions(struct auth *a, const char *user_id, const char *session_id, bool keep)
{
	struct session_filter f = {.session_id = session_id, .keep = keep};
	rpc_foreach_bound(a->rpc, user_id, unbind_if, &f);
}

static void
refresh_done(int status, void *data)
{
	struct refresh *r = data;
	struct auth *a = r->auth;
	if (status < 0) {
		rpc_call_error(r->call, TD_ERR_INTERNAL, NULL, NULL);
	} else if (r->outcome == REFRESH_REUSED) {
		td_warn(MOD, "refresh token reused; session revoked", "user=%s session=%s",
			r->user_id, r->family_id);
		unbind_sessions(a, r->user_id, r->family_id, false);
		rpc_call_error(r->call, TD_ERR_CONFLICT, "refresh token already used",
			       json_pack("{s:s}", "reason", "reused"));
	} else if (r->outcome == REFRESH_INVALID) {
		rpc_call_error(r->call, TD_ERR_UNAUTHENTICATED, NULL, NULL);
	} else {
		int64_t now = g_get_real_time() / G_USEC_PER_SEC;
		char *access = token_issue(a->keys, r->user_id, r->family_id, now,
					   a->opts.access_ttl_s);
		if (!access) {
			rpc_call_error(r->call, TD_ERR_INTERNAL, NULL, NULL);
		} else {
			rpc_call_reply(r->call, json_pack("{s:s, s:s, s:i, s:s}", "access_token",
							  access, "token_type", "Bearer",
							  "expires_in",
							  (json_int_t)a->opts.access_ttl_s,
							  "refresh_token", r->next));
			g_free(access);
		}
	}
	refresh_free(r);
}

static void
auth_refresh(struct rpc_call *call, json_t *params, void *data)
{
	struct auth *a = data;
	struct refresh *r = g_new0(struct refresh, 1);
	r->auth = a;
	r->call = call;
	g_strlcpy(r->peer, rpc_call_peer(call), sizeof(r->peer));
	sha256_hex(json_string_value(json_object_get(params, "refresh_token")), r->hash);
	int e = store_write(a->store, refresh_txn, refresh_done, r);
	if (e < 0) {
		rpc_call_error(call, e == -EAGAIN ? TD_ERR_RATE_LIMITED : TD_ERR_INTERNAL, NULL,
			       e == -EAGAIN ? json_pack("{s:i}", "retry_after_s", 1) : NULL);
		refresh_free(r);
	}
}

/* ---- logout, whoami, password change ---- */

struct session_op {
	struct auth *auth;
	struct rpc_call *call;
	char *user_id;
	char *session_id;
	char *hash;
	char *new_password;
	char peer[64];
};

static void
session_op_free(struct session_op *op)
{
	g_free(op->user_id);
	g_free(op->session_id);
	g_free(op->hash);
	if (op->new_password) {
		sodium_memzero(op->new_password, strlen(op->new_password));
		g_free(op->new_password);
	}
	g_free(op);
}

static struct session_op *
session_op_new(struct auth *a, struct rpc_call *call)
{
	const struct rpc_identity *id = rpc_call_identity(call);
	struct session_op *op = g_new0(struct session_op, 1);
	op->auth = a;
	op->call = call;
	op->user_id = g_strdup(id->user_id);
	op->session_id = g_strdup(id->session_id);
	g_strlcpy(op->peer, rpc_call_peer(call), sizeof(op->peer));
	return op;
}

static int
logout_txn(sqlite3 *db, void *data)
{
	struct session_op *op = data;
	int r = op->session_id ? family_revoke(db, op->session_id, "logout") : 0;
	return r < 0 ? r : audit(db, "logout", op->user_id, NULL, op->peer, NULL);
}

static void
logout_done(int status, void *data)
{
	struct session_op *op = data;
	if (status < 0) {
		rpc_call_error(op->call, TD_ERR_INTERNAL, NULL, NULL);
	} else {
		/* This connection and every other one bound in the same session. */
		rpc_bind(op->auth->rpc, rpc_call_client_id(op->call), NULL);
		if (op->session_id) {
			unbind_sessions(op->auth, op->user_id, op->session_id, false);
		}
		rpc_call_reply(op->call, json_object());
	}
	session_op_free(op);
}

static void
auth_logout(struct rpc_call *call, json_t *params, void *data)
{
	struct auth *a = data;
	struct session_op *op = session_op_new(a, call);
	if (store_write(a->store, logout_txn, logout_done, op) < 0) {
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		session_op_free(op);
	}
}

static void
auth_whoami(struct rpc_call *call, json_t *params, void *data)
{
	struct auth *a = data;
	json_t *user = load_user(store_reader(a->store), rpc_call_identity(call)->user_id, NULL);
	if (!user) {
		rpc_call_error(call, TD_ERR_UNAUTHENTICATED, NULL, NULL);
		return;
	}
	rpc_call_reply(call, json_pack("{s:o}", "user", user));
}

/* The new hash, other sessions revoked, in one transaction. */
static int
password_txn(sqlite3 *db, void *data)
{
	struct session_op *op = data;
	char now[STORE_TIME_SIZE];
	sqlite3_stmt *st = NULL;
	store_time_now(now);
	int rc = sqlite3_prepare_v2(db,
				    "UPDATE users SET password_hash = ?2, password_changed_at = ?3 "
				    "WHERE id = ?1",
				    -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, op->user_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, op->hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		return store_errno(rc);
	}
	rc = sqlite3_prepare_v2(db,
				"UPDATE refresh_families SET revoked_at = ?3, "
				"revoked_reason = 'password_change' WHERE user_id = ?1 AND "
				"revoked_at IS NULL AND id IS NOT ?2",
				-1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, op->user_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, op->session_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		return store_errno(rc);
	}
	return audit(db, "password_change", op->user_id, op->user_id, op->peer, NULL);
}

static void
password_done(int status, void *data)
{
	struct session_op *op = data;
	if (status < 0) {
		rpc_call_error(op->call, TD_ERR_INTERNAL, NULL, NULL);
	} else {
		unbind_sessions(op->auth, op->user_id, op->session_id, true);
		td_info(MOD, "password changed", "user=%s", op->user_id);
		rpc_call_reply(op->call, json_object());
	}
	session_op_free(op);
}

static void
password_hashed(int result, char *hash, void *data)
{
	struct session_op *op = data;
	if (result < 0) {
		rpc_call_error(op->call, TD_ERR_INTERNAL, NULL, NULL);
		session_op_free(op);
		return;
	}
	op->hash = hash;
	if (store_write(op->auth->store, password_txn, password_done, op) < 0) {
		rpc_call_error(op->call, TD_ERR_INTERNAL, NULL, NULL);
		session_op_free(op);
	}
}

static void
old_password_verified(int result, char *hash, void *data)
{
	struct session_op *op = data;
	struct auth *a = op->auth;
	g_free(hash);
	if (result != 0) {
		char *key = g_strconcat("u:", op->user_id, NULL);
		if (result == -EACCES) {
			throttle_fail(a->by_login, key, g_get_real_time());
		} else {
			throttle_abandon(a->by_login, key);
		}
		g_free(key);
		rpc_call_error(op->call, result == -EACCES ? TD_ERR_INVALID_PARAMS : TD_ERR_INTERNAL,
			       NULL,
			       result == -EACCES ? json_pack("{s:s, s:s}", "field", "/old_password",
							     "reason", "mismatch")
						 : NULL);
		session_op_free(op);
		return;
	}
	char *key = g_strconcat("u:", op->user_id, NULL);
	throttle_success(a->by_login, key);
	g_free(key);
	int r = pw_worker_hash(a->worker, op->new_password, password_hashed, op);
	if (r < 0) {
		reply_rate_limited(op->call, 1);
		session_op_free(op);
	}
}

static void
auth_change_password(struct rpc_call *call, json_t *params, void *data)
{
	struct auth *a = data;
	const char *old_pw = json_string_value(json_object_get(params, "old_password"));
	const char *new_pw = json_string_value(json_object_get(params, "new_password"));
	struct session_op *op = session_op_new(a, call);
	sqlite3_stmt *st = NULL;
	char *phone = NULL, *nid = NULL;
	const char *reason;

	char *tkey = g_strconcat("u:", op->user_id, NULL);
	unsigned wait = throttle_check(a->by_login, tkey, g_get_real_time());
	if (wait) {
		g_free(tkey);
		reply_rate_limited(call, wait);
		session_op_free(op);
		return;
	}
	if (sqlite3_prepare_v2(store_reader(a->store),
			       "SELECT password_hash, phone, national_id FROM users WHERE id = ?1",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, op->user_id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			op->hash = column_dup(st, 0);
			phone = column_dup(st, 1);
			nid = column_dup(st, 2);
		}
	}
	sqlite3_finalize(st);
	reason = password_rule(new_pw, phone, nid);
	g_free(phone);
	g_free(nid);
	if (!op->hash) {
		rpc_call_error(call, TD_ERR_UNAUTHENTICATED, NULL, NULL);
		session_op_free(op);
		g_free(tkey);
		return;
	}
	if (reason || strcmp(old_pw, new_pw) == 0) {
		rpc_call_invalid(call, "/new_password", reason ? reason : "unchanged");
		session_op_free(op);
		g_free(tkey);
		return;
	}
	op->new_password = g_strdup(new_pw);
	char *hash = op->hash;
	op->hash = NULL;
	int r = a->quiescing ? -EAGAIN
			     : pw_worker_verify(a->worker, hash, old_pw, old_password_verified, op);
	g_free(hash);
	if (r < 0) {
		reply_rate_limited(call, 1);
		session_op_free(op);
	} else {
		throttle_begin(a->by_login, tkey, g_get_real_time());
	}
	g_free(tkey);
}

/* ---- admin ---- */

static const char *const role_values[] = {"citizen", "official", "leader", "staff",
					  "inspector", "admin", NULL};

/* The level of an agency, or NULL when it does not exist (transfer full). */
static char *
agency_level(sqlite3 *db, const char *agency_id)
{
	return store_query_text(db, "SELECT level FROM agencies WHERE id = ?1",
				(const char *const[]){agency_id}, 1);
}

/* NULL when (role, agency) may be held, else the reason word. */
static const char *
grant_rule(sqlite3 *db, uint32_t role, const char *agency_id)
{
	bool needs_agency = role != RPC_CITIZEN && role != RPC_ADMIN;
	if (needs_agency != (agency_id != NULL)) {
		return needs_agency ? "agency_required" : "agency_not_allowed";
	}
	if (!agency_id) {
		return NULL;
	}
	char *level = agency_level(db, agency_id);
	const char *reason = NULL;
	if (!level) {
		reason = "unknown_agency";
	} else if (role == RPC_INSPECTOR && strcmp(level, "inspectorate") != 0) {
		reason = "not_an_inspectorate";
	}
	g_free(level);
	return reason;
}

static void
admin_user_create(struct rpc_call *call, json_t *params, void *data)
{
	struct auth *a = data;
	const char *pw = json_string_value(json_object_get(params, "password"));
	const char *login = json_string_value(json_object_get(params, "login"));
	const char *nid = json_string_value(json_object_get(params, "national_id"));
	const char *phone_in = json_string_value(json_object_get(params, "phone"));
	const char *email = json_string_value(json_object_get(params, "email"));
	const char *agency = json_string_value(json_object_get(params, "agency_id"));
	char phone[11];
	const char *reason;

	struct new_user *u = g_new0(struct new_user, 1);
	u->auth = a;
	u->call = call;
	u->role = rpc_role_bit(json_string_value(json_object_get(params, "role")));
	u->actor_id = g_strdup(rpc_call_identity(call)->user_id);
	g_strlcpy(u->peer, rpc_call_peer(call), sizeof(u->peer));
	if ((reason = grant_rule(store_reader(a->store), u->role, agency))) {
		rpc_call_invalid(call, "/agency_id", reason);
		goto fail;
	}
	u->agency_id = g_strdup(agency);
	u->full_name = normalize_name(json_string_value(json_object_get(params, "full_name")));
	if (!u->full_name) {
		rpc_call_invalid(call, "/full_name", "format");
		goto fail;
	}
	u->login = login_key(login);
	for (const char *p = u->login; *p; p++) {
		if (g_ascii_isspace(*p) || g_ascii_iscntrl(*p)) {
			rpc_call_invalid(call, "/login", "format");
			goto fail;
		}
	}
	if (nid && !valid_national_id(nid)) {
		rpc_call_invalid(call, "/national_id", "format");
		goto fail;
	}
	u->national_id = g_strdup(nid);
	if (phone_in) {
		if (!normalize_phone(phone_in, phone)) {
			rpc_call_invalid(call, "/phone", "format");
			goto fail;
		}
		u->phone = g_strdup(phone);
	}
	if (u->role == RPC_CITIZEN && (!u->national_id || !u->phone)) {
		rpc_call_invalid(call, u->national_id ? "/phone" : "/national_id", "required");
		goto fail;
	}
	if (email && !(u->email = normalize_email(email))) {
		rpc_call_invalid(call, "/email", "format");
		goto fail;
	}
	if ((reason = password_rule(pw, u->phone, u->national_id))) {
		rpc_call_invalid(call, "/password", reason);
		goto fail;
	}
	new_user_start(u, pw);
	return;
fail:
	new_user_free(u);
}

struct roles_op {
	struct auth *auth;
	struct rpc_call *call;
	char *user_id;
	char *actor_id;
	char peer[64];
	json_t *roles; /* [{role, agency_id}] validated */
	bool found;
};

static void
roles_op_free(struct roles_op *op)
{
	g_free(op->user_id);
	g_free(op->actor_id);
	json_decref(op->roles);
	g_free(op);
}

static int
roles_txn(sqlite3 *db, void *data)
{
	struct roles_op *op = data;
	sqlite3_stmt *st = NULL;
	int rc;
	json_t *before = load_user(db, op->user_id, NULL);
	op->found = before != NULL;
	if (!before) {
		return -ENOENT;
	}
	rc = sqlite3_prepare_v2(db, "DELETE FROM user_roles WHERE user_id = ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, op->user_id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(before);
		return store_errno(rc);
	}
	size_t i;
	json_t *g;
	json_array_foreach(op->roles, i, g)
	{
		rc = sqlite3_prepare_v2(db,
					"INSERT OR IGNORE INTO user_roles (user_id, role, agency_id) "
					"VALUES (?1, ?2, ?3)",
					-1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, op->user_id, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, json_string_value(json_object_get(g, "role")), -1,
					  SQLITE_STATIC);
			sqlite3_bind_text(st, 3,
					  json_string_value(json_object_get(g, "agency_id")), -1,
					  SQLITE_STATIC);
			rc = sqlite3_step(st);
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			json_decref(before);
			return store_errno(rc);
		}
	}
	json_t *detail = json_pack("{s:O, s:O}", "before", json_object_get(before, "roles"),
				   "after", op->roles);
	json_decref(before);
	return audit(db, "roles_change", op->user_id, op->actor_id, op->peer, detail);
}

/* Keeps the connection's session and expiry, with the grants held from now on. */
static void
regrant(struct rpc *rpc, uint64_t client_id, const struct rpc_identity *current, void *data)
{
	const struct rpc_identity *fresh = data;
	struct rpc_identity next;
	rpc_identity_copy(&next, fresh);
	g_free(next.session_id);
	next.session_id = g_strdup(current->session_id);
	next.expires_at_us = current->expires_at_us;
	rpc_bind(rpc, client_id, &next);
	rpc_identity_clear(&next);
}

static void
roles_done(int status, void *data)
{
	struct roles_op *op = data;
	if (status == -ENOENT || (status < 0 && !op->found)) {
		rpc_call_error(op->call, TD_ERR_NOT_FOUND, NULL, NULL);
	} else if (status < 0) {
		rpc_call_error(op->call, TD_ERR_INTERNAL, NULL, NULL);
	} else {
		/* Connections of that user hold the new roles from now on. */
		struct rpc_identity fresh = {0};
		json_t *user = load_user(store_reader(op->auth->store), op->user_id, &fresh);
		if (user) {
			rpc_foreach_bound(op->auth->rpc, op->user_id, regrant, &fresh);
		}
		rpc_identity_clear(&fresh);
		td_info(MOD, "roles changed", "user=%s actor=%s", op->user_id, op->actor_id);
		rpc_call_reply(op->call, json_pack("{s:o}", "user", user ? user : json_null()));
	}
	roles_op_free(op);
}

static void
admin_user_roles(struct rpc_call *call, json_t *params, void *data)
{
	struct auth *a = data;
	json_t *roles = json_object_get(params, "roles");
	sqlite3 *db = store_reader(a->store);
	size_t i;
	json_t *g;
	json_array_foreach(roles, i, g)
	{
		char ptr[64];
		const char *role = json_string_value(json_object_get(g, "role"));
		json_t *agency = json_object_get(g, "agency_id");
		uint32_t bit = rpc_role_bit(role);
		const char *reason = NULL;
		const char *field = "role";
		if (!json_is_object(g) || json_object_size(g) > 2 + 0 ||
		    (json_object_size(g) == 2 && !json_object_get(g, "agency_id"))) {
			reason = json_is_object(g) ? "unknown" : "type";
			field = "";
		} else if (!bit) {
			reason = "enum";
		} else if (agency && !json_is_null(agency) && !json_is_string(agency)) {
			reason = "type";
			field = "agency_id";
		} else if ((reason = grant_rule(db, bit, json_string_value(agency)))) {
			field = "agency_id";
		}
		if (reason) {
			g_snprintf(ptr, sizeof(ptr), "/roles/%zu%s%s", i, *field ? "/" : "", field);
			rpc_call_invalid(call, ptr, reason);
			return;
		}
	}
	struct roles_op *op = g_new0(struct roles_op, 1);
	op->auth = a;
	op->call = call;
	op->user_id = g_strdup(json_string_value(json_object_get(params, "user_id")));
	op->actor_id = g_strdup(rpc_call_identity(call)->user_id);
	op->roles = json_deep_copy(roles);
	g_strlcpy(op->peer, rpc_call_peer(call), sizeof(op->peer));
	if (store_write(a->store, roles_txn, roles_done, op) < 0) {
		rpc_call_error(call, TD_ERR_INTERNAL, NULL, NULL);
		roles_op_free(op);
	}
}

/* ---- the table ---- */

#define USER_SCHEMA                                                                               \
	"{\"type\":\"object\",\"required\":[\"id\",\"full_name\",\"roles\"],\"properties\":{"      \
	"\"id\":{\"type\":\"string\"},\"full_name\":{\"type\":\"string\"},\"roles\":{\"type\":"    \
	"\"array\",\"items\":{\"type\":\"object\",\"required\":[\"role\",\"agency_id\"],"          \
	"\"properties\":{\"role\":{\"enum\":[\"citizen\",\"official\",\"leader\",\"staff\","       \
	"\"inspector\",\"admin\"]},\"agency_id\":{\"type\":[\"string\",\"null\"]}}}}}}"

static const struct rpc_param register_params[] = {
	{.name = "full_name", .type = RPC_T_STRING, .required = true, .min = 1, .max = 200,
	 .description = "full name (Vietnamese letters with diacritics; NFC-normalised)"},
	{.name = "national_id", .type = RPC_T_STRING, .required = true, .max = 32,
	 .description = "12-digit citizen identity card number"},
	{.name = "phone", .type = RPC_T_STRING, .required = true, .max = 32,
	 .description = "Vietnamese mobile number, 0xxxxxxxxx or +84xxxxxxxxx; the login"},
	{.name = "password", .type = RPC_T_STRING, .required = true, .max = 1024,
	 .description = "at least 10 characters, not a common password"},
	{.name = "email", .type = RPC_T_STRING, .max = 254},
	{.name = "address", .type = RPC_T_STRING, .max = 500},
	{0},
};

static const struct rpc_param login_params[] = {
	{.name = "login", .type = RPC_T_STRING, .required = true, .min = 1, .max = 254,
	 .description = "phone, email, national id or login name"},
	{.name = "password", .type = RPC_T_STRING, .required = true, .max = 1024},
	{0},
};

static const struct rpc_param authenticate_params[] = {
	{.name = "access_token", .type = RPC_T_STRING, .required = true, .max = TOKEN_MAX_LEN},
	{0},
};

static const struct rpc_param refresh_params[] = {
	{.name = "refresh_token", .type = RPC_T_STRING, .required = true, .min = 1, .max = 256},
	{0},
};

static const struct rpc_param change_password_params[] = {
	{.name = "old_password", .type = RPC_T_STRING, .required = true, .max = 1024},
	{.name = "new_password", .type = RPC_T_STRING, .required = true, .max = 1024},
	{0},
};

static const struct rpc_param user_create_params[] = {
	{.name = "role", .type = RPC_T_ENUM, .required = true, .enum_values = role_values},
	{.name = "agency_id", .type = RPC_T_ID,
	 .description = "required for every role but citizen and admin"},
	{.name = "login", .type = RPC_T_STRING, .required = true, .min = 3, .max = 64},
	{.name = "password", .type = RPC_T_STRING, .required = true, .max = 1024},
	{.name = "full_name", .type = RPC_T_STRING, .required = true, .min = 1, .max = 200},
	{.name = "national_id", .type = RPC_T_STRING, .max = 32},
	{.name = "phone", .type = RPC_T_STRING, .max = 32},
	{.name = "email", .type = RPC_T_STRING, .max = 254},
	{0},
};

static const struct rpc_param user_roles_params[] = {
	{.name = "user_id", .type = RPC_T_ID, .required = true},
	{.name = "roles", .type = RPC_T_ARRAY, .required = true, .max = 64,
	 .description = "the complete set of roles the user holds from now on",
	 .schema = "{\"type\":\"array\",\"items\":{\"type\":\"object\",\"required\":[\"role\"],"
		   "\"additionalProperties\":false,\"properties\":{\"role\":{\"enum\":["
		   "\"citizen\",\"official\",\"leader\",\"staff\",\"inspector\",\"admin\"]},"
		   "\"agency_id\":{\"type\":[\"string\",\"null\"]}}}}"},
	{0},
};

static const struct rpc_method auth_methods[] = {
	{.name = "auth.register", .handler = auth_register, .who = RPC_ANYONE,
	 .summary = "Registers a citizen account (the phone is the login).",
	 .params = register_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"user_id\"]}"},
	{.name = "auth.login", .handler = auth_login, .who = RPC_ANYONE,
	 .summary = "Signs in and binds the connection.",
	 .params = login_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"access_token\",\"token_type\","
			  "\"expires_in\",\"refresh_token\",\"user\"],\"properties\":{\"user\":"
			  USER_SCHEMA "}}"},
	{.name = "auth.authenticate", .handler = auth_authenticate, .who = RPC_ANYONE,
	 .summary = "Binds the connection with an access token.",
	 .params = authenticate_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"user\"],\"properties\":{\"user\":"
			  USER_SCHEMA "}}"},
	{.name = "auth.refresh", .handler = auth_refresh, .who = RPC_ANYONE,
	 .summary = "Exchanges a refresh token for a new access and refresh token.",
	 .params = refresh_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"access_token\",\"expires_in\","
			  "\"refresh_token\"]}"},
	{.name = "auth.logout", .handler = auth_logout, .who = RPC_BOUND,
	 .summary = "Ends the session: its refresh tokens stop working; unbinds.",
	 .result_schema = "{\"type\":\"object\"}"},
	{.name = "auth.whoami", .handler = auth_whoami, .who = RPC_BOUND,
	 .summary = "The bound user.",
	 .result_schema = "{\"type\":\"object\",\"required\":[\"user\"],\"properties\":{\"user\":"
			  USER_SCHEMA "}}"},
	{.name = "auth.change_password", .handler = auth_change_password, .who = RPC_BOUND,
	 .summary = "Changes the password; every other session is ended.",
	 .params = change_password_params, .result_schema = "{\"type\":\"object\"}"},
	{.name = "admin.user.create", .handler = admin_user_create, .who = RPC_ADMIN,
	 .summary = "Creates an account holding one role (in an agency unless citizen or admin).",
	 .params = user_create_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"user_id\"]}"},
	{.name = "admin.user.roles", .handler = admin_user_roles, .who = RPC_ADMIN,
	 .summary = "Sets the complete set of roles a user holds.",
	 .params = user_roles_params,
	 .result_schema = "{\"type\":\"object\",\"required\":[\"user\"],\"properties\":{\"user\":"
			  USER_SCHEMA "}}"},
};

struct auth *
auth_create(struct rpc *rpc, struct store *store, const struct auth_options *opts, GError **error)
{
	struct auth *a = g_new0(struct auth, 1);
	a->rpc = rpc;
	a->store = store;
	a->opts = *opts;
	if (!a->opts.access_ttl_s) {
		a->opts.access_ttl_s = 900;
	}
	if (!a->opts.refresh_ttl_s) {
		a->opts.refresh_ttl_s = 30 * 86400;
	}
	struct token_options to = {.alg = opts->jwt_alg,
				   .private_key = opts->jwt_private_key,
				   .public_key = opts->jwt_public_key};
	a->keys = token_keys_load(opts->data_dir, &to, error);
	if (!a->keys) {
		g_free(a);
		return NULL;
	}
	a->worker = pw_worker_create(opts->password_queue ? opts->password_queue : 32,
				     opts->password_helper, error);
	if (!a->worker) {
		token_keys_destroy(a->keys);
		g_free(a);
		return NULL;
	}
	a->by_login = throttle_create(opts->login_max_failures ? opts->login_max_failures : 5, 1,
				      900, 100000);
	a->by_addr = throttle_create(opts->address_max_failures ? opts->address_max_failures : 20,
				     1, 900, 100000);
	if (rpc_register(rpc, auth_methods, G_N_ELEMENTS(auth_methods), a) < 0) {
		g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_EXIST, "auth methods registered twice");
		auth_destroy(a);
		return NULL;
	}
	return a;
}

void
auth_destroy(struct auth *a)
{
	if (!a) {
		return;
	}
	pw_worker_destroy(a->worker);
	throttle_destroy(a->by_login);
	throttle_destroy(a->by_addr);
	token_keys_destroy(a->keys);
	g_free(a);
}

char *
auth_identify(struct auth *a, const char *access_token)
{
	char *sub = NULL, *sid = NULL;
	int64_t exp = 0;
	int r = token_verify(a->keys, access_token, g_get_real_time() / G_USEC_PER_SEC, &sub, &sid,
			     &exp);
	bool ok = r == 0 && session_open(a, sid, sub);
	json_t *user = ok ? load_user(store_reader(a->store), sub, NULL) : NULL;
	g_free(sid);
	if (!user) {
		g_free(sub);
		return NULL;
	}
	json_decref(user);
	return sub;
}

int
auth_reload_keys(struct auth *a, GError **error)
{
	struct token_options to = {.alg = a->opts.jwt_alg,
				   .private_key = a->opts.jwt_private_key,
				   .public_key = a->opts.jwt_public_key};
	struct token_keys *k = token_keys_load(a->opts.data_dir, &to, error);
	if (!k) {
		return -1;
	}
	token_keys_destroy(a->keys);
	a->keys = k;
	return 0;
}

void
auth_quiesce(struct auth *a, void (*cb)(void *data), void *data)
{
	a->quiescing = true;
	pw_worker_when_idle(a->worker, cb, data);
}
