/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * The JSON-RPC 2.0 dispatcher (PROTOCOL.md §2).
 *
 * Every method is one row of a table (struct rpc_method): its name, its
 * handler, who may call it and its parameters. The dispatcher parses the
 * message (duplicate keys refused), checks the envelope, the caller's role
 * and the parameters against the row, and only then calls the handler. The
 * same rows generate the OpenRPC document of `rpc.discover`.
 *
 * The transport (portal/server.c) owns the sockets; the dispatcher knows a
 * connection only by its numeric id and hands outgoing text back through
 * struct rpc_io.
 */

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tiepdan/errors.h"

struct rpc;
struct rpc_client;
struct rpc_call;
struct metrics;

/* Who may call a method: RPC_ANYONE, or RPC_BOUND (any bound identity), or one or more roles. */
enum rpc_who {
	RPC_ANYONE = 0,
	RPC_BOUND = 1u << 0,
	RPC_CITIZEN = 1u << 1,
	RPC_OFFICIAL = 1u << 2,
	RPC_LEADER = 1u << 3,
	RPC_STAFF = 1u << 4,
	RPC_INSPECTOR = 1u << 5,
	RPC_ADMIN = 1u << 6,
};

enum rpc_type {
	RPC_T_STRING,
	RPC_T_INTEGER,
	RPC_T_NUMBER,
	RPC_T_BOOLEAN,
	RPC_T_OBJECT,
	RPC_T_ARRAY,
	RPC_T_ID,       /* an opaque identifier: a non-empty string of at most 64 characters */
	RPC_T_DATE,     /* YYYY-MM-DD, a real date */
	RPC_T_DATETIME, /* RFC 3339 with an offset */
	RPC_T_ENUM,     /* a string among enum_values */
};

struct rpc_param {
	const char *name;
	enum rpc_type type;
	bool required;
	const char *description;
	const char *const *enum_values; /* NULL-terminated, for RPC_T_ENUM */
	/* Strings: length bounds in characters; integers: value bounds. max 0 = none. */
	int64_t min, max;
	/* (nullable) JSON Schema text for RPC_T_OBJECT and RPC_T_ARRAY, shown in rpc.discover;
	 * the handler validates their inside. */
	const char *schema;
};

/*
 * A handler is called on the loop with the validated params object (transfer
 * none; never NULL: {} when the call had none). It must answer exactly once,
 * now or later, with rpc_call_reply() or rpc_call_error().
 */
typedef void (*rpc_handler_fn)(struct rpc_call *call, json_t *params, void *data);

struct rpc_method {
	const char *name;
	rpc_handler_fn handler;
	uint32_t who; /* enum rpc_who bits */
	const char *summary;
	const struct rpc_param *params; /* terminated by an entry with name NULL; NULL = none */
	const char *result_schema;      /* JSON Schema text of the result */
};

/* One role held: citizen and admin with agency_id NULL, the others in an agency. */
struct rpc_grant {
	uint32_t role; /* one enum rpc_who role bit */
	char *agency_id;
};

/* The identity bound to a connection (auth.login, auth.authenticate). */
struct rpc_identity {
	char *user_id;
	char *session_id;      /* (nullable) the login (refresh family) the token belongs to */
	uint32_t roles;        /* the union of the grants' role bits */
	int64_t expires_at_us; /* real time; 0 = never */
	struct rpc_grant *grants;
	size_t n_grants;
};

/** Deep copy into dst (which is overwritten) / release of an identity's contents. */
void rpc_identity_copy(struct rpc_identity *dst, const struct rpc_identity *src);
void rpc_identity_clear(struct rpc_identity *id);

/** The role bit of "citizen", "official", … or 0. */
uint32_t rpc_role_bit(const char *name);
/** The name of one role bit, or NULL. */
const char *rpc_role_name(uint32_t bit);

struct rpc_io {
#define RPC_IO_VERSION 0
	uint32_t version;
	/* Queue one outgoing text message for a connection; text is (transfer none).
	 * Returns 0, or a negative code when the connection is gone or its queue overflowed
	 * (the transport then drops the connection). */
	int (*send)(void *data, uint64_t client_id, const char *text, size_t len);
};

struct rpc_options {
	unsigned max_batch;    /* most requests in one batch (a larger batch is -32600) */
	const char *timezone;  /* (nullable) for times in answers; default Asia/Ho_Chi_Minh */
};

/** (transfer full) A dispatcher; io and metrics (nullable) outlive it. */
struct rpc *rpc_create(const struct rpc_options *opts, const struct rpc_io *io, void *io_data,
		       struct metrics *metrics);
void rpc_destroy(struct rpc *rpc);

/** Adds n rows; data is passed to their handlers. Names must be unique. 0 or -EEXIST. */
int rpc_register(struct rpc *rpc, const struct rpc_method *methods, size_t n, void *data)
	__attribute__((warn_unused_result));

/** (transfer none, nullable) The row of a method. */
const struct rpc_method *rpc_lookup(struct rpc *rpc, const char *name);

/** (transfer full) The OpenRPC document of every registered method. */
json_t *rpc_discover_document(struct rpc *rpc);

/** A connection was opened / closed. Calls still running for a closed client are answered
 * into the void. */
struct rpc_client *rpc_client_create(struct rpc *rpc, uint64_t client_id);
void rpc_client_destroy(struct rpc_client *client);

/**
 * Binds (identity non-NULL, copied) or unbinds (NULL) the connection's identity. When the
 * identity expires, the client gets event.auth.expired and is unbound.
 */
void rpc_client_set_identity(struct rpc_client *client, const struct rpc_identity *identity);
/** (transfer none, nullable) The identity bound to a connection. */
const struct rpc_identity *rpc_client_identity(struct rpc_client *client);
/** The same, by connection id; -ENOTCONN when the connection is gone. */
int rpc_bind(struct rpc *rpc, uint64_t client_id, const struct rpc_identity *identity);
/** Calls fn for every bound connection (e.g. to send an event to those allowed to see it). */
void rpc_foreach_identity(struct rpc *rpc,
			  void (*fn)(struct rpc *rpc, uint64_t client_id,
				     const struct rpc_identity *current, void *data),
			  void *data);
/**
 * Calls fn(data, client_id) on the loop whenever a connection closes, before its client is
 * freed (live sessions start a participant's reconnect window). At most 4 hooks.
 * 0, -ENOSPC.
 */
int rpc_add_close_hook(struct rpc *rpc, void (*fn)(void *data, uint64_t client_id), void *data)
	__attribute__((warn_unused_result));
/** Records the peer's address (for throttling and the audit log). */
void rpc_client_set_peer(struct rpc_client *client, const char *addr);
/**
 * Calls fn for every connection bound to user_id, with its current identity (e.g. to unbind
 * or re-bind it; fn may do either).
 */
void rpc_foreach_bound(struct rpc *rpc, const char *user_id,
		       void (*fn)(struct rpc *rpc, uint64_t client_id,
				  const struct rpc_identity *current, void *data),
		       void *data);

/** One complete text message from a client. */
void rpc_client_receive(struct rpc_client *client, const char *text, size_t len);

/** Sends a server notification (an event) to one client; params is (transfer full). */
int rpc_notify(struct rpc *rpc, uint64_t client_id, const char *method, json_t *params);

/* Inside a handler. Answering frees the call: do not touch it after rpc_call_reply(),
 * rpc_call_error() or rpc_call_invalid(). */
void rpc_call_reply(struct rpc_call *call, json_t *result /* transfer full */);
void rpc_call_error(struct rpc_call *call, int code, const char *message /* nullable */,
		    json_t *data /* transfer full, nullable */);
/** -32602 with data {field: pointer, reason}. */
void rpc_call_invalid(struct rpc_call *call, const char *pointer, const char *reason);
const char *rpc_call_method(struct rpc_call *call);
uint64_t rpc_call_client_id(struct rpc_call *call);
/** (transfer none, nullable) The identity bound to the caller's connection when it called. */
const struct rpc_identity *rpc_call_identity(struct rpc_call *call);
/** (transfer none) The caller's address ("" when unknown). */
const char *rpc_call_peer(struct rpc_call *call);
struct rpc *rpc_call_rpc(struct rpc_call *call);

/** The current time as RFC 3339 with the portal's offset (transfer none; valid until the next
 * call on this thread). */
const char *rpc_now_rfc3339(void);
