/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/rpc.h"

#include <errno.h>
#include <glib.h>
#include <string.h>

#include "metrics.h"
#include "tiepdan/log.h"

struct method_entry {
	const struct rpc_method *m;
	void *data;
};

struct rpc {
	struct rpc_options opts;
	const struct rpc_io *io;
	void *io_data;
	struct metrics *metrics;
	GHashTable *methods; /* name → struct method_entry* */
	GHashTable *clients; /* uint64_t id → struct rpc_client* */
	GTimeZone *tz;
	json_t *discover; /* (nullable) cached OpenRPC document */
	struct {
		void (*fn)(void *data, uint64_t client_id);
		void *data;
	} close_hooks[4];
	unsigned n_close_hooks;
};

struct rpc_client {
	struct rpc *rpc;
	uint64_t id;
	struct rpc_identity identity; /* user_id NULL when anonymous */
	guint expiry; /* source that unbinds an expired identity */
	char peer[64];
};

/* The answers of one batch, sent together once every call has answered. */
struct batch {
	struct rpc *rpc;
	uint64_t client_id;
	unsigned pending;
	json_t *responses;
};

struct rpc_call {
	struct rpc *rpc;
	uint64_t client_id;
	json_t *id; /* NULL for a notification */
	const char *method;
	const struct method_entry *entry; /* NULL when the method is unknown */
	int64_t start_us;
	struct batch *batch; /* (nullable) */
	struct rpc_identity identity;
	bool has_identity;
	char peer[64];
};

static const char *const role_names[] = {"bound", "citizen", "official", "leader",
					 "staff", "inspector", "admin"};

uint32_t
rpc_role_bit(const char *name)
{
	for (unsigned i = 1; i < G_N_ELEMENTS(role_names); i++) {
		if (name && strcmp(name, role_names[i]) == 0) {
			return 1u << i;
		}
	}
	return 0;
}

const char *
rpc_role_name(uint32_t bit)
{
	for (unsigned i = 1; i < G_N_ELEMENTS(role_names); i++) {
		if (bit == 1u << i) {
			return role_names[i];
		}
	}
	return NULL;
}

void
rpc_identity_clear(struct rpc_identity *id)
{
	g_free(id->user_id);
	g_free(id->session_id);
	for (size_t i = 0; i < id->n_grants; i++) {
		g_free(id->grants[i].agency_id);
	}
	g_free(id->grants);
	memset(id, 0, sizeof(*id));
}

void
rpc_identity_copy(struct rpc_identity *dst, const struct rpc_identity *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->user_id = g_strdup(src->user_id);
	dst->session_id = g_strdup(src->session_id);
	dst->roles = src->roles;
	dst->expires_at_us = src->expires_at_us;
	dst->n_grants = src->n_grants;
	dst->grants = src->n_grants ? g_new0(struct rpc_grant, src->n_grants) : NULL;
	for (size_t i = 0; i < src->n_grants; i++) {
		dst->grants[i].role = src->grants[i].role;
		dst->grants[i].agency_id = g_strdup(src->grants[i].agency_id);
		dst->roles |= src->grants[i].role;
	}
}

static void
identity_clear(struct rpc_identity *id)
{
	rpc_identity_clear(id);
}

struct rpc *
rpc_create(const struct rpc_options *opts, const struct rpc_io *io, void *io_data,
	   struct metrics *metrics)
{
	struct rpc *rpc = g_new0(struct rpc, 1);
	rpc->opts = *opts;
	if (rpc->opts.max_batch == 0) {
		rpc->opts.max_batch = 100;
	}
	rpc->io = io;
	rpc->io_data = io_data;
	rpc->metrics = metrics;
	rpc->methods = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	rpc->clients = g_hash_table_new(g_int64_hash, g_int64_equal);
	rpc->tz = g_time_zone_new_identifier(opts->timezone ? opts->timezone
							     : "Asia/Ho_Chi_Minh");
	if (!rpc->tz) {
		rpc->tz = g_time_zone_new_local();
	}
	rpc->opts.timezone = NULL;
	return rpc;
}

void
rpc_destroy(struct rpc *rpc)
{
	if (!rpc) {
		return;
	}
	/* Clients belong to the transport, which destroys them before the dispatcher. */
	g_warn_if_fail(g_hash_table_size(rpc->clients) == 0);
	g_hash_table_destroy(rpc->clients);
	g_hash_table_destroy(rpc->methods);
	g_time_zone_unref(rpc->tz);
	json_decref(rpc->discover);
	g_free(rpc);
}

int
rpc_register(struct rpc *rpc, const struct rpc_method *methods, size_t n, void *data)
{
	for (size_t i = 0; i < n; i++) {
		if (g_hash_table_contains(rpc->methods, methods[i].name)) {
			return -EEXIST;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct method_entry *e = g_new0(struct method_entry, 1);
		e->m = &methods[i];
		e->data = data;
		g_hash_table_insert(rpc->methods, (gpointer)methods[i].name, e);
	}
	json_decref(rpc->discover);
	rpc->discover = NULL;
	return 0;
}

const struct rpc_method *
rpc_lookup(struct rpc *rpc, const char *name)
{
	struct method_entry *e = g_hash_table_lookup(rpc->methods, name);
	return e ? e->m : NULL;
}

/* ---- time ---- */

/*
 * Answers carry the time with the portal's offset. Formatting a GDateTime
 * costs more than the rest of a ping, so the text is kept for the current
 * second.
 */
const char *
rpc_now_rfc3339(void)
{
	static GTimeZone *tz;
	static gint64 cached_sec = -1;
	static char text[40];

	if (!tz) {
		tz = g_time_zone_new_identifier("Asia/Ho_Chi_Minh");
		if (!tz) {
			tz = g_time_zone_new_local();
		}
	}
	gint64 sec = g_get_real_time() / G_USEC_PER_SEC;
	if (sec != cached_sec) {
		GDateTime *dt = g_date_time_new_from_unix_utc(sec);
		GDateTime *local = g_date_time_to_timezone(dt, tz);
		char *s = g_date_time_format(local, "%Y-%m-%dT%H:%M:%S%:z");
		g_strlcpy(text, s, sizeof(text));
		g_free(s);
		g_date_time_unref(local);
		g_date_time_unref(dt);
		cached_sec = sec;
	}
	return text;
}

/* ---- clients ---- */

struct rpc_client *
rpc_client_create(struct rpc *rpc, uint64_t client_id)
{
	struct rpc_client *c = g_new0(struct rpc_client, 1);
	c->rpc = rpc;
	c->id = client_id;
	g_hash_table_insert(rpc->clients, &c->id, c);
	return c;
}

void
rpc_client_destroy(struct rpc_client *client)
{
	if (!client) {
		return;
	}
	if (client->expiry) {
		g_source_remove(client->expiry);
	}
	for (unsigned i = 0; i < client->rpc->n_close_hooks; i++) {
		client->rpc->close_hooks[i].fn(client->rpc->close_hooks[i].data, client->id);
	}
	g_hash_table_remove(client->rpc->clients, &client->id);
	identity_clear(&client->identity);
	g_free(client);
}

int
rpc_add_close_hook(struct rpc *rpc, void (*fn)(void *data, uint64_t client_id), void *data)
{
	if (rpc->n_close_hooks >= G_N_ELEMENTS(rpc->close_hooks)) {
		return -ENOSPC;
	}
	rpc->close_hooks[rpc->n_close_hooks].fn = fn;
	rpc->close_hooks[rpc->n_close_hooks].data = data;
	rpc->n_close_hooks++;
	return 0;
}

void
rpc_client_set_peer(struct rpc_client *client, const char *addr)
{
	g_strlcpy(client->peer, addr ? addr : "", sizeof(client->peer));
}

/* The bound token ran out: tell the client and answer -32001 from now on. */
static gboolean
identity_expired(gpointer data)
{
	struct rpc_client *c = data;
	c->expiry = 0;
	td_debug("rpc", "identity expired", "client=%" G_GUINT64_FORMAT, c->id);
	identity_clear(&c->identity);
	rpc_notify(c->rpc, c->id, "event.auth.expired", json_object());
	return G_SOURCE_REMOVE;
}

void
rpc_client_set_identity(struct rpc_client *client, const struct rpc_identity *identity)
{
	identity_clear(&client->identity);
	if (client->expiry) {
		g_source_remove(client->expiry);
		client->expiry = 0;
	}
	if (identity) {
		rpc_identity_copy(&client->identity, identity);
		if (identity->expires_at_us) {
			int64_t ms = (identity->expires_at_us - g_get_real_time()) / 1000;
			client->expiry = g_timeout_add((guint)CLAMP(ms, 0, G_MAXINT32),
						       identity_expired, client);
		}
	}
}

int
rpc_bind(struct rpc *rpc, uint64_t client_id, const struct rpc_identity *identity)
{
	struct rpc_client *c = g_hash_table_lookup(rpc->clients, &client_id);
	if (!c) {
		return -ENOTCONN;
	}
	rpc_client_set_identity(c, identity);
	return 0;
}

void
rpc_foreach_identity(struct rpc *rpc,
		     void (*fn)(struct rpc *rpc, uint64_t client_id,
				const struct rpc_identity *current, void *data),
		     void *data)
{
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, rpc->clients);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct rpc_client *c = v;
		if (c->identity.user_id) {
			g_array_append_val(ids, c->id);
		}
	}
	for (guint i = 0; i < ids->len; i++) {
		uint64_t id = g_array_index(ids, uint64_t, i);
		struct rpc_client *c = g_hash_table_lookup(rpc->clients, &id);
		if (c && c->identity.user_id) {
			fn(rpc, id, &c->identity, data);
		}
	}
	g_array_free(ids, TRUE);
}

void
rpc_foreach_bound(struct rpc *rpc, const char *user_id,
		  void (*fn)(struct rpc *rpc, uint64_t client_id, const struct rpc_identity *current,
			     void *data),
		  void *data)
{
	GArray *ids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, rpc->clients);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		struct rpc_client *c = v;
		if (c->identity.user_id && strcmp(c->identity.user_id, user_id) == 0) {
			g_array_append_val(ids, c->id);
		}
	}
	/* fn may unbind or re-bind; the ids were collected first. */
	for (guint i = 0; i < ids->len; i++) {
		uint64_t id = g_array_index(ids, uint64_t, i);
		struct rpc_client *c = g_hash_table_lookup(rpc->clients, &id);
		if (c && c->identity.user_id) {
			fn(rpc, id, &c->identity, data);
		}
	}
	g_array_free(ids, TRUE);
}

const struct rpc_identity *
rpc_client_identity(struct rpc_client *client)
{
	return client->identity.user_id ? &client->identity : NULL;
}

static int
send_json(struct rpc *rpc, uint64_t client_id, json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	if (!text) {
		return -ENOMEM;
	}
	int r = rpc->io->send(rpc->io_data, client_id, text, strlen(text));
	free(text);
	return r;
}

int
rpc_notify(struct rpc *rpc, uint64_t client_id, const char *method, json_t *params)
{
	json_t *msg = json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params",
				params ? params : json_object());
	if (!msg) {
		return -ENOMEM;
	}
	int r = send_json(rpc, client_id, msg);
	json_decref(msg);
	return r;
}

/* ---- answers ---- */

static json_t *
error_object(int code, const char *message, json_t *data)
{
	json_t *err = json_pack("{s:i, s:s}", "code", code, "message",
				message ? message : td_rpc_error_message(code));
	if (data) {
		json_object_set_new(err, "data", data);
	}
	return err;
}

static void
batch_add(struct batch *b, json_t *response /* transfer full, nullable */)
{
	if (response) {
		json_array_append_new(b->responses, response);
	}
	if (--b->pending > 0) {
		return;
	}
	/* A batch of notifications only gets no answer at all. */
	if (json_array_size(b->responses) > 0) {
		send_json(b->rpc, b->client_id, b->responses);
	}
	json_decref(b->responses);
	g_free(b);
}

static void
deliver(struct rpc *rpc, uint64_t client_id, struct batch *b, json_t *response)
{
	if (b) {
		batch_add(b, response);
	} else if (response) {
		send_json(rpc, client_id, response);
		json_decref(response);
	}
}

static void
call_free(struct rpc_call *call)
{
	json_decref(call->id);
	identity_clear(&call->identity);
	g_free(call);
}

static void
call_finish(struct rpc_call *call, json_t *result, json_t *error)
{
	struct rpc *rpc = call->rpc;
	int code = error ? (int)json_integer_value(json_object_get(error, "code")) : 0;
	if (rpc->metrics) {
		metrics_rpc(rpc->metrics, call->entry ? call->method : "unknown", code,
			    (double)(g_get_monotonic_time() - call->start_us) / 1e6);
	}
	json_t *response = NULL;
	if (call->id) {
		response = json_pack("{s:s, s:O}", "jsonrpc", "2.0", "id", call->id);
		if (error) {
			json_object_set_new(response, "error", error);
		} else {
			json_object_set_new(response, "result", result ? result : json_null());
		}
	} else {
		json_decref(result);
		json_decref(error);
	}
	deliver(rpc, call->client_id, call->batch, response);
	call_free(call);
}

void
rpc_call_reply(struct rpc_call *call, json_t *result)
{
	call_finish(call, result, NULL);
}

void
rpc_call_error(struct rpc_call *call, int code, const char *message, json_t *data)
{
	call_finish(call, NULL, error_object(code, message, data));
}

static char *
pointer_escape(const char *name)
{
	GString *s = g_string_new("/");
	for (const char *p = name; *p; p++) {
		if (*p == '~') {
			g_string_append(s, "~0");
		} else if (*p == '/') {
			g_string_append(s, "~1");
		} else {
			g_string_append_c(s, *p);
		}
	}
	return g_string_free(s, FALSE);
}

void
rpc_call_invalid(struct rpc_call *call, const char *pointer, const char *reason)
{
	rpc_call_error(call, TD_ERR_INVALID_PARAMS, NULL,
		       json_pack("{s:s, s:s}", "field", pointer, "reason", reason));
}

const char *
rpc_call_method(struct rpc_call *call)
{
	return call->method;
}

uint64_t
rpc_call_client_id(struct rpc_call *call)
{
	return call->client_id;
}

const struct rpc_identity *
rpc_call_identity(struct rpc_call *call)
{
	return call->has_identity ? &call->identity : NULL;
}

struct rpc *
rpc_call_rpc(struct rpc_call *call)
{
	return call->rpc;
}

const char *
rpc_call_peer(struct rpc_call *call)
{
	return call->peer;
}

/* ---- validation ---- */

static bool
valid_date(const char *s)
{
	guint64 y, m, d;
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-') {
		return false;
	}
	for (int i = 0; i < 10; i++) {
		if (i != 4 && i != 7 && !g_ascii_isdigit(s[i])) {
			return false;
		}
	}
	y = g_ascii_strtoull(s, NULL, 10);
	m = g_ascii_strtoull(s + 5, NULL, 10);
	d = g_ascii_strtoull(s + 8, NULL, 10);
	return g_date_valid_dmy((GDateDay)d, (GDateMonth)m, (GDateYear)y) && y >= 1900;
}

static bool
valid_datetime(const char *s)
{
	/* RFC 3339 needs the date, 'T', the time and an explicit offset ('Z' or ±hh:mm). */
	size_t n = strlen(s);
	char date[11];
	if (n < 20 || n > 40) {
		return false;
	}
	memcpy(date, s, 10);
	date[10] = '\0';
	if (!valid_date(date) || (s[10] != 'T' && s[10] != 't')) {
		return false;
	}
	bool offset = s[n - 1] == 'Z' || s[n - 1] == 'z' ||
		      (n >= 6 && (s[n - 6] == '+' || s[n - 6] == '-') && s[n - 3] == ':');
	if (!offset) {
		return false;
	}
	GDateTime *dt = g_date_time_new_from_iso8601(s, NULL);
	if (!dt) {
		return false;
	}
	g_date_time_unref(dt);
	return true;
}

/* Returns the reason word, or NULL when the value fits the row. */
static const char *
check_value(const struct rpc_param *p, json_t *v)
{
	switch (p->type) {
	case RPC_T_STRING:
	case RPC_T_ID:
	case RPC_T_DATE:
	case RPC_T_DATETIME:
	case RPC_T_ENUM: {
		if (!json_is_string(v)) {
			return "type";
		}
		const char *s = json_string_value(v);
		size_t bytes = json_string_length(v);
		if (memchr(s, '\0', bytes)) {
			return "format";
		}
		if (p->type == RPC_T_ID) {
			if (bytes == 0 || bytes > 64) {
				return "format";
			}
			for (size_t i = 0; i < bytes; i++) {
				if (!g_ascii_isalnum(s[i]) && s[i] != '-' && s[i] != '_') {
					return "format";
				}
			}
		} else if (p->type == RPC_T_DATE) {
			return valid_date(s) ? NULL : "format";
		} else if (p->type == RPC_T_DATETIME) {
			return valid_datetime(s) ? NULL : "format";
		} else if (p->type == RPC_T_ENUM) {
			for (const char *const *e = p->enum_values; e && *e; e++) {
				if (strcmp(*e, s) == 0) {
					return NULL;
				}
			}
			return "enum";
		}
		if (p->type == RPC_T_STRING) {
			glong chars = g_utf8_strlen(s, (gssize)bytes);
			if (chars < p->min) {
				return chars == 0 ? "empty" : "too_short";
			}
			if (p->max && chars > p->max) {
				return "too_long";
			}
		}
		return NULL;
	}
	case RPC_T_INTEGER:
		if (!json_is_integer(v)) {
			return "type";
		}
		if (json_integer_value(v) < p->min ||
		    (p->max && json_integer_value(v) > p->max)) {
			return "range";
		}
		return NULL;
	case RPC_T_NUMBER:
		return json_is_number(v) ? NULL : "type";
	case RPC_T_BOOLEAN:
		return json_is_boolean(v) ? NULL : "type";
	case RPC_T_OBJECT:
		return json_is_object(v) ? NULL : "type";
	case RPC_T_ARRAY:
		if (!json_is_array(v)) {
			return "type";
		}
		if (p->max && (int64_t)json_array_size(v) > p->max) {
			return "too_long";
		}
		return NULL;
	}
	return "type";
}

/*
 * Checks params against the row; on failure answers -32602 and returns false.
 * An optional parameter given as null counts as absent and is removed, so
 * handlers see either a valid value or nothing.
 */
static bool
validate_params(struct rpc_call *call, json_t *params)
{
	const struct rpc_param *rows = call->entry->m->params;
	const char *key;
	json_t *value;
	void *tmp;

	json_object_foreach_safe(params, tmp, key, value)
	{
		const struct rpc_param *p = NULL;
		for (const struct rpc_param *r = rows; r && r->name; r++) {
			if (strcmp(r->name, key) == 0) {
				p = r;
				break;
			}
		}
		char *ptr = pointer_escape(key);
		const char *reason = NULL;
		if (!p) {
			reason = "unknown";
		} else if (json_is_null(value)) {
			if (p->required) {
				reason = "required";
			} else {
				json_object_del(params, key);
			}
		} else {
			reason = check_value(p, value);
		}
		if (reason) {
			rpc_call_invalid(call, ptr, reason);
			g_free(ptr);
			return false;
		}
		g_free(ptr);
	}
	for (const struct rpc_param *r = rows; r && r->name; r++) {
		if (r->required && !json_object_get(params, r->name)) {
			char *ptr = pointer_escape(r->name);
			rpc_call_invalid(call, ptr, "required");
			g_free(ptr);
			return false;
		}
	}
	return true;
}

/* ---- dispatch ---- */

static bool
valid_id(json_t *id)
{
	return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

/* An error answer for a message that is not a valid request; the id is echoed when usable. */
static void
answer_invalid(struct rpc *rpc, uint64_t client_id, struct batch *b, json_t *id, int code)
{
	json_t *response = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id",
				     id && valid_id(id) ? id : json_null(), "error",
				     error_object(code, NULL, NULL));
	if (rpc->metrics) {
		metrics_rpc(rpc->metrics, "invalid", code, 0);
	}
	if (b) {
		b->pending++;
	}
	deliver(rpc, client_id, b, response);
}

/*
 * One request object: the envelope (jsonrpc, method, params, id and nothing
 * else), then the method, the caller's right to call it, the params, and only
 * then the handler.
 */
static void
dispatch_one(struct rpc_client *client, json_t *req, struct batch *b, int64_t start_us)
{
	struct rpc *rpc = client->rpc;
	if (!json_is_object(req)) {
		answer_invalid(rpc, client->id, b, NULL, TD_ERR_INVALID_REQUEST);
		return;
	}
	json_t *version = json_object_get(req, "jsonrpc");
	json_t *method = json_object_get(req, "method");
	json_t *params = json_object_get(req, "params");
	json_t *id = json_object_get(req, "id");
	size_t members = 2 + (params != NULL) + (id != NULL);
	if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0 ||
	    !json_is_string(method) || (params && !json_is_object(params) && !json_is_array(params)) ||
	    (id && !valid_id(id)) || json_object_size(req) != members) {
		answer_invalid(rpc, client->id, b, id, TD_ERR_INVALID_REQUEST);
		return;
	}

	struct rpc_call *call = g_new0(struct rpc_call, 1);
	call->rpc = rpc;
	call->client_id = client->id;
	call->id = json_incref(id);
	call->start_us = start_us;
	call->batch = b;
	call->method = json_string_value(method);
	call->entry = g_hash_table_lookup(rpc->methods, call->method);
	if (call->entry) {
		call->method = call->entry->m->name; /* outlives the request */
	}
	if (b) {
		b->pending++;
	}
	if (!call->entry) {
		call->method = "unknown";
		rpc_call_error(call, TD_ERR_METHOD_NOT_FOUND, NULL, NULL);
		return;
	}
	const struct rpc_method *m = call->entry->m;

	memcpy(call->peer, client->peer, sizeof(call->peer));
	if (client->identity.user_id) {
		call->has_identity = true;
		rpc_identity_copy(&call->identity, &client->identity);
	}
	if (m->who != RPC_ANYONE) {
		if (!call->has_identity || (call->identity.expires_at_us &&
					    call->identity.expires_at_us <= g_get_real_time())) {
			rpc_call_error(call, TD_ERR_UNAUTHENTICATED, NULL, NULL);
			return;
		}
		uint32_t roles = m->who & ~(uint32_t)RPC_BOUND;
		if (roles && !(roles & call->identity.roles)) {
			rpc_call_error(call, TD_ERR_FORBIDDEN, NULL, NULL);
			return;
		}
	}

	json_t *obj;
	if (!params) {
		obj = json_object();
	} else if (json_is_array(params)) {
		rpc_call_invalid(call, "", "by_name");
		return;
	} else {
		obj = json_incref(params);
	}
	if (!validate_params(call, obj)) {
		json_decref(obj);
		return;
	}
	m->handler(call, obj, call->entry->data);
	json_decref(obj);
}

void
rpc_client_receive(struct rpc_client *client, const char *text, size_t len)
{
	struct rpc *rpc = client->rpc;
	int64_t start_us = g_get_monotonic_time();
	json_error_t err;
	json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
	if (!msg) {
		td_debug("rpc", "parse error", "client=%" G_GUINT64_FORMAT " line=%d column=%d",
			 client->id, err.line, err.column);
		answer_invalid(rpc, client->id, NULL, NULL, TD_ERR_PARSE);
		return;
	}
	if (!json_is_array(msg)) {
		dispatch_one(client, msg, NULL, start_us);
		json_decref(msg);
		return;
	}
	size_t n = json_array_size(msg);
	if (n == 0 || n > rpc->opts.max_batch) {
		answer_invalid(rpc, client->id, NULL, NULL, TD_ERR_INVALID_REQUEST);
		json_decref(msg);
		return;
	}
	struct batch *b = g_new0(struct batch, 1);
	b->rpc = rpc;
	b->client_id = client->id;
	b->responses = json_array();
	/* Held by the loop itself, so that calls answered at once do not send a partial array. */
	b->pending = 1;
	for (size_t i = 0; i < n; i++) {
		dispatch_one(client, json_array_get(msg, i), b, start_us);
	}
	batch_add(b, NULL);
	json_decref(msg);
}

/* ---- rpc.discover ---- */

static json_t *
param_schema(const struct rpc_param *p)
{
	json_t *s = NULL;
	if (p->schema) {
		s = json_loads(p->schema, 0, NULL);
		g_warn_if_fail(s != NULL);
		if (s) {
			return s;
		}
	}
	switch (p->type) {
	case RPC_T_STRING:
		s = json_pack("{s:s}", "type", "string");
		if (p->min) {
			json_object_set_new(s, "minLength", json_integer(p->min));
		}
		if (p->max) {
			json_object_set_new(s, "maxLength", json_integer(p->max));
		}
		break;
	case RPC_T_ID:
		s = json_pack("{s:s, s:s, s:i}", "type", "string", "pattern", "^[A-Za-z0-9_-]+$",
			      "maxLength", 64);
		break;
	case RPC_T_DATE:
		s = json_pack("{s:s, s:s}", "type", "string", "format", "date");
		break;
	case RPC_T_DATETIME:
		s = json_pack("{s:s, s:s}", "type", "string", "format", "date-time");
		break;
	case RPC_T_ENUM: {
		json_t *e = json_array();
		for (const char *const *v = p->enum_values; v && *v; v++) {
			json_array_append_new(e, json_string(*v));
		}
		s = json_pack("{s:s, s:o}", "type", "string", "enum", e);
		break;
	}
	case RPC_T_INTEGER:
		s = json_pack("{s:s}", "type", "integer");
		if (p->min) {
			json_object_set_new(s, "minimum", json_integer(p->min));
		}
		if (p->max) {
			json_object_set_new(s, "maximum", json_integer(p->max));
		}
		break;
	case RPC_T_NUMBER:
		s = json_pack("{s:s}", "type", "number");
		break;
	case RPC_T_BOOLEAN:
		s = json_pack("{s:s}", "type", "boolean");
		break;
	case RPC_T_OBJECT:
		s = json_pack("{s:s}", "type", "object");
		break;
	case RPC_T_ARRAY:
		s = json_pack("{s:s}", "type", "array");
		break;
	}
	return s;
}

static json_t *
who_json(uint32_t who)
{
	json_t *a = json_array();
	if (who == RPC_ANYONE) {
		json_array_append_new(a, json_string("anyone"));
	}
	for (unsigned i = 0; i < G_N_ELEMENTS(role_names); i++) {
		if (who & (1u << i)) {
			json_array_append_new(a, json_string(role_names[i]));
		}
	}
	return a;
}

static gint
cmp_names(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *
rpc_discover_document(struct rpc *rpc)
{
	if (rpc->discover) {
		return json_incref(rpc->discover);
	}
	GPtrArray *names = g_ptr_array_new();
	GHashTableIter it;
	gpointer k;
	g_hash_table_iter_init(&it, rpc->methods);
	while (g_hash_table_iter_next(&it, &k, NULL)) {
		g_ptr_array_add(names, k);
	}
	g_ptr_array_sort(names, cmp_names);

	json_t *methods = json_array();
	for (guint i = 0; i < names->len; i++) {
		const struct method_entry *e = g_hash_table_lookup(rpc->methods, names->pdata[i]);
		const struct rpc_method *m = e->m;
		json_t *params = json_array();
		for (const struct rpc_param *p = m->params; p && p->name; p++) {
			json_t *jp = json_pack("{s:s, s:b, s:o}", "name", p->name, "required",
					       p->required, "schema", param_schema(p));
			if (p->description) {
				json_object_set_new(jp, "description", json_string(p->description));
			}
			json_array_append_new(params, jp);
		}
		json_t *result_schema = m->result_schema ? json_loads(m->result_schema, 0, NULL)
							 : NULL;
		g_warn_if_fail(!m->result_schema || result_schema);
		json_t *jm = json_pack(
			"{s:s, s:s, s:s, s:o, s:{s:s, s:o}, s:s, s:o}", "name", m->name, "summary",
			m->summary ? m->summary : "", "description", m->summary ? m->summary : "",
			"params", params, "result", "name", "result", "schema",
			result_schema ? result_schema : json_object(), "paramStructure", "by-name",
			"x-tiepdan-who", who_json(m->who));
		json_array_append_new(methods, jm);
	}
	g_ptr_array_free(names, TRUE);

	rpc->discover = json_pack("{s:s, s:{s:s, s:s, s:s}, s:[{s:s, s:s}], s:o}", "openrpc",
				  "1.2.6", "info", "title", "tiepdan", "version", "tiepdan.v1",
				  "description",
				  "The tiepdan citizen reception portal: JSON-RPC 2.0 over "
				  "WebSocket (PROTOCOL.md, docs/protocol.md).",
				  "servers", "name", "tiepdan", "url", "/ws", "methods", methods);
	return json_incref(rpc->discover);
}
