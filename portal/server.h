/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * The transport: one libwebsockets context on the GLib main loop serving
 * static files, /healthz, /metrics and JSON-RPC over /ws. Each WebSocket
 * connection has an id, a bounded outgoing queue written only from the
 * writeable callback, and an rpc_client.
 */

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "tiepdan/config.h"
#include "tiepdan/rpc.h"

struct metrics;
struct server;

struct server_hooks {
#define SERVER_HOOKS_VERSION 0
	uint32_t version;
	/* 0 when that part is healthy; the name of the part goes into /healthz otherwise. */
	int (*check_db)(void *data);
	int (*check_media)(void *data);
	/* The user id (transfer full) a bearer access token names, or NULL. */
	char *(*identify)(void *data, const char *access_token);
	/* (transfer full, nullable) The iCalendar feed named by the last path segment. */
	char *(*calendar)(void *data, const char *name);
	/* (transfer full, nullable) A report export named by the last path segment; sets
	 * *content_type (transfer none). */
	GString *(*report)(void *data, const char *name, const char **content_type);
	/* (transfer full, nullable member) The JSON of GET /api/keys: the server's public keys. */
	char *(*keys)(void *data);
};

struct files;
/** Serves POST /api/files and GET /api/files/{id} with this store of attachments. */
void server_set_files(struct server *s, struct files *files);

/**
 * (transfer full) Creates the context on loop's context and starts listening; fails (NULL, a
 * log line saying why) when the address is taken or the GLib event loop could not be used.
 */
struct server *server_create(const struct td_config *cfg, GMainLoop *loop,
			     struct metrics *metrics, const struct server_hooks *hooks,
			     void *hooks_data);
void server_destroy(struct server *s);

/** The rpc_io whose data is the server; the dispatcher must be set before serving. */
const struct rpc_io *server_rpc_io(void);
void server_set_rpc(struct server *s, struct rpc *rpc);

/** The port actually listened on (useful with port 0). */
int server_port(struct server *s);

/** Stops accepting connections and reading new messages. */
void server_stop_accepting(struct server *s);

/**
 * Flushes every connection's queue, closes it with 1001 and calls done once none is left (or
 * after timeout_ms, dropping the connections that would not take their data).
 */
void server_close_all(struct server *s, unsigned timeout_ms, void (*done)(void *data), void *data);
