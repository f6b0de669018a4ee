/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include <glib.h>
#include <jansson.h>

#include "portal.h"
#include "td-config.h"

static void
system_ping(struct rpc_call *call, json_t *params, void *data)
{
	rpc_call_reply(call, json_pack("{s:b, s:s}", "pong", 1, "time", rpc_now_rfc3339()));
}

static void
system_version(struct rpc_call *call, json_t *params, void *data)
{
	rpc_call_reply(call, json_pack("{s:s, s:s}", "version", TD_VERSION, "protocol", TD_PROTOCOL));
}

static void
rpc_discover(struct rpc_call *call, json_t *params, void *data)
{
	rpc_call_reply(call, rpc_discover_document(rpc_call_rpc(call)));
}

static const struct rpc_method system_methods[] = {
	{
		.name = "system.ping",
		.handler = system_ping,
		.who = RPC_ANYONE,
		.summary = "Liveness check: answers anyone with the server's time.",
		.result_schema = "{\"type\":\"object\",\"required\":[\"pong\",\"time\"],"
				 "\"properties\":{\"pong\":{\"const\":true},"
				 "\"time\":{\"type\":\"string\",\"format\":\"date-time\"}}}",
	},
	{
		.name = "system.version",
		.handler = system_version,
		.who = RPC_ANYONE,
		.summary = "The server's version and the protocol it speaks.",
		.result_schema = "{\"type\":\"object\",\"required\":[\"version\",\"protocol\"],"
				 "\"properties\":{\"version\":{\"type\":\"string\"},"
				 "\"protocol\":{\"const\":\"tiepdan.v1\"}}}",
	},
	{
		.name = "rpc.discover",
		.handler = rpc_discover,
		.who = RPC_ANYONE,
		.summary = "The OpenRPC 1.x document describing every method.",
		.result_schema = "{\"type\":\"object\",\"required\":[\"openrpc\",\"info\","
				 "\"methods\"]}",
	},
};

int
portal_system_register(struct rpc *rpc)
{
	return rpc_register(rpc, system_methods, G_N_ELEMENTS(system_methods), NULL);
}
