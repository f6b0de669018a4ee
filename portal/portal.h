/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* Registration of the portal's own method tables with the dispatcher. */

#include "tiepdan/rpc.h"
#include "tiepdan/store.h"

/** system.ping, system.version, rpc.discover. */
int portal_system_register(struct rpc *rpc) __attribute__((warn_unused_result));

struct directory;

/**
 * (transfer full) Registers directory.agencies and directory.fields (public reads of the agency
 * directory). Destroy it after the dispatcher and before the store. NULL with errno on failure.
 */
struct directory *portal_directory_create(struct rpc *rpc, struct store *store);
void portal_directory_destroy(struct directory *d);

struct routing_methods;

/**
 * (transfer full) Registers directory.route and the admin methods of the routing data
 * (admin.agency.*, admin.field.update, admin.rule.*; docs/routing.md). Destroy it after the
 * dispatcher and before the store. NULL with errno on failure.
 */
struct routing_methods *portal_routing_create(struct rpc *rpc, struct store *store);
void portal_routing_destroy(struct routing_methods *m);

struct calendar_feed;
struct seal;

/** (transfer full) Registers calendar.ticket; NULL when registered twice. */
struct calendar_feed *calendar_feed_create(struct rpc *rpc, struct store *store, struct seal *seal);
void calendar_feed_destroy(struct calendar_feed *f);
/** (transfer full, nullable) The feed named by the last path segment of its URL, or NULL. */
char *calendar_feed_render(struct calendar_feed *f, const char *name);
