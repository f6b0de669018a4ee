/* SPDX-License-Identifier: AGPL-3.0-or-later */
/* The dispatcher on its own: a fake transport records what would be sent. */
#include <glib.h>
#include <jansson.h>
#include <string.h>

#include "portal/metrics.h"
#include "portal/portal.h"
#include "tiepdan/rpc.h"

struct fixture {
	struct rpc *rpc;
	struct rpc_client *client;
	struct metrics *metrics;
	GPtrArray *sent; /* of json_t* */
	struct rpc_call *held; /* a call left unanswered by the "later" method */
};

static int
fake_send(void *data, uint64_t client_id, const char *text, size_t len)
{
	struct fixture *f = data;
	json_error_t err;
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &err);
	g_assert_nonnull(j);
	g_ptr_array_add(f->sent, j);
	return 0;
}

static const struct rpc_io fake_io = {.version = RPC_IO_VERSION, .send = fake_send};

static void
echo(struct rpc_call *call, json_t *params, void *data)
{
	rpc_call_reply(call, json_deep_copy(params));
}

static void
later(struct rpc_call *call, json_t *params, void *data)
{
	struct fixture *f = data;
	f->held = call;
}

static const char *const colours[] = {"red", "green", NULL};

static const struct rpc_param echo_params[] = {
	{.name = "s", .type = RPC_T_STRING, .min = 1, .max = 5},
	{.name = "n", .type = RPC_T_INTEGER, .min = 1, .max = 10},
	{.name = "b", .type = RPC_T_BOOLEAN},
	{.name = "d", .type = RPC_T_DATE},
	{.name = "t", .type = RPC_T_DATETIME},
	{.name = "e", .type = RPC_T_ENUM, .enum_values = colours},
	{.name = "id", .type = RPC_T_ID},
	{.name = "o", .type = RPC_T_OBJECT},
	{.name = "a/b", .type = RPC_T_ARRAY, .max = 2},
	{.name = "req", .type = RPC_T_STRING, .required = true},
	{0},
};

static const struct rpc_method test_methods[] = {
	{.name = "test.echo", .handler = echo, .who = RPC_ANYONE, .params = echo_params},
	{.name = "test.bound", .handler = echo, .who = RPC_BOUND},
	{.name = "test.leader", .handler = echo, .who = RPC_LEADER | RPC_INSPECTOR},
	{.name = "test.later", .handler = later, .who = RPC_ANYONE},
};

static void
setup(struct fixture *f, gconstpointer data)
{
	struct rpc_options o = {.max_batch = 10};
	f->sent = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
	f->metrics = metrics_create();
	f->rpc = rpc_create(&o, &fake_io, f, f->metrics);
	g_assert_cmpint(portal_system_register(f->rpc), ==, 0);
	g_assert_cmpint(rpc_register(f->rpc, test_methods, G_N_ELEMENTS(test_methods), f), ==, 0);
	f->client = rpc_client_create(f->rpc, 7);
}

static void
teardown(struct fixture *f, gconstpointer data)
{
	rpc_client_destroy(f->client);
	rpc_destroy(f->rpc);
	metrics_destroy(f->metrics);
	g_ptr_array_free(f->sent, TRUE);
}

static void
feed(struct fixture *f, const char *text)
{
	rpc_client_receive(f->client, text, strlen(text));
}

/* The only message sent since the last call (asserting there was exactly one). */
static json_t *
only(struct fixture *f)
{
	g_assert_cmpuint(f->sent->len, ==, 1);
	json_t *j = json_incref(f->sent->pdata[0]);
	g_ptr_array_set_size(f->sent, 0);
	return j;
}

static int
error_code(json_t *resp)
{
	json_t *e = json_object_get(resp, "error");
	g_assert_nonnull(e);
	g_assert_true(json_is_string(json_object_get(e, "message")));
	return (int)json_integer_value(json_object_get(e, "code"));
}

static void
assert_error(struct fixture *f, const char *text, int code)
{
	feed(f, text);
	json_t *r = only(f);
	g_assert_cmpint(error_code(r), ==, code);
	json_decref(r);
}

static void
assert_invalid(struct fixture *f, const char *text, const char *field, const char *reason)
{
	feed(f, text);
	json_t *r = only(f);
	g_assert_cmpint(error_code(r), ==, TD_ERR_INVALID_PARAMS);
	json_t *d = json_object_get(json_object_get(r, "error"), "data");
	g_assert_cmpstr(json_string_value(json_object_get(d, "field")), ==, field);
	g_assert_cmpstr(json_string_value(json_object_get(d, "reason")), ==, reason);
	json_decref(r);
}

static void
test_ping(struct fixture *f, gconstpointer data)
{
	feed(f, "{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\",\"id\":1}");
	json_t *r = only(f);
	g_assert_cmpint(json_integer_value(json_object_get(r, "id")), ==, 1);
	json_t *res = json_object_get(r, "result");
	g_assert_true(json_is_true(json_object_get(res, "pong")));
	const char *t = json_string_value(json_object_get(res, "time"));
	g_assert_nonnull(t);
	g_assert_true(g_str_has_suffix(t, "+07:00"));
	GDateTime *dt = g_date_time_new_from_iso8601(t, NULL);
	g_assert_nonnull(dt);
	g_date_time_unref(dt);
	json_decref(r);
}

static void
test_envelope(struct fixture *f, gconstpointer data)
{
	assert_error(f, "{\"jsonrpc\":\"2.0\",\"method\":\"foobar,", TD_ERR_PARSE);
	assert_error(f, "", TD_ERR_PARSE);
	assert_error(f, "{\"a\":1,\"a\":2}", TD_ERR_PARSE);
	assert_error(f, "\"just a string\"", TD_ERR_INVALID_REQUEST);
	assert_error(f, "{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}",
		     TD_ERR_INVALID_REQUEST);
	assert_error(f, "{\"method\":\"system.ping\",\"id\":1}", TD_ERR_INVALID_REQUEST);
	assert_error(f, "{\"jsonrpc\":\"1.0\",\"method\":\"system.ping\",\"id\":1}",
		     TD_ERR_INVALID_REQUEST);
	assert_error(f, "{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\",\"params\":3,\"id\":1}",
		     TD_ERR_INVALID_REQUEST);
	assert_error(f, "{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\",\"id\":{}}",
		     TD_ERR_INVALID_REQUEST);
	assert_error(f, "{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\",\"id\":1,\"x\":1}",
		     TD_ERR_INVALID_REQUEST);
	assert_error(f, "{\"jsonrpc\":\"2.0\",\"method\":\"foobar\",\"id\":\"1\"}",
		     TD_ERR_METHOD_NOT_FOUND);
	/* The id of an invalid request is echoed when it is usable, null otherwise. */
	feed(f, "{\"jsonrpc\":\"1.0\",\"method\":\"system.ping\",\"id\":\"x\"}");
	json_t *r = only(f);
	g_assert_cmpstr(json_string_value(json_object_get(r, "id")), ==, "x");
	json_decref(r);
	feed(f, "{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\",\"id\":[1]}");
	r = only(f);
	g_assert_true(json_is_null(json_object_get(r, "id")));
	json_decref(r);
	/* A null id is a request, answered with id null. */
	feed(f, "{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\",\"id\":null}");
	r = only(f);
	g_assert_true(json_is_null(json_object_get(r, "id")));
	g_assert_nonnull(json_object_get(r, "result"));
	json_decref(r);
}

static void
test_notifications(struct fixture *f, gconstpointer data)
{
	feed(f, "{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\"}");
	feed(f, "{\"jsonrpc\":\"2.0\",\"method\":\"foobar\"}");
	feed(f, "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"params\":{\"zzz\":1}}");
	g_assert_cmpuint(f->sent->len, ==, 0);
	feed(f, "[{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\"},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\"}]");
	g_assert_cmpuint(f->sent->len, ==, 0);
}

static void
test_batch(struct fixture *f, gconstpointer data)
{
	assert_error(f, "[]", TD_ERR_INVALID_REQUEST);
	assert_error(f, "[1,2,3,4,5,6,7,8,9,10,11]", TD_ERR_INVALID_REQUEST);
	feed(f, "[1,2,3]");
	json_t *r = only(f);
	g_assert_true(json_is_array(r));
	g_assert_cmpuint(json_array_size(r), ==, 3);
	for (size_t i = 0; i < 3; i++) {
		g_assert_cmpint(error_code(json_array_get(r, i)), ==, TD_ERR_INVALID_REQUEST);
	}
	json_decref(r);
	feed(f, "[{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\",\"id\":\"1\"},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\"},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"foobar\",\"id\":\"2\"},"
		"{\"foo\":\"boo\"}]");
	r = only(f);
	g_assert_cmpuint(json_array_size(r), ==, 3);
	json_decref(r);
}

static void
test_async_batch(struct fixture *f, gconstpointer data)
{
	feed(f, "[{\"jsonrpc\":\"2.0\",\"method\":\"test.later\",\"id\":1},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\",\"id\":2}]");
	/* Nothing is sent until the held call answers: one array, both answers. */
	g_assert_cmpuint(f->sent->len, ==, 0);
	g_assert_nonnull(f->held);
	rpc_call_reply(f->held, json_string("done"));
	json_t *r = only(f);
	g_assert_cmpuint(json_array_size(r), ==, 2);
	json_decref(r);
}

static void
test_params(struct fixture *f, gconstpointer data)
{
	const char *pre = "{\"jsonrpc\":\"2.0\",\"method\":\"test.echo\",\"id\":1,\"params\":";
#define P(body) g_strconcat(pre, body, "}", NULL)
	struct {
		const char *params, *field, *reason;
	} cases[] = {
		{"{}", "/req", "required"},
		{"{\"req\":null}", "/req", "required"},
		{"{\"req\":1}", "/req", "type"},
		{"{\"req\":\"x\",\"zzz\":1}", "/zzz", "unknown"},
		{"{\"req\":\"x\",\"s\":\"\"}", "/s", "empty"},
		{"{\"req\":\"x\",\"s\":\"ḁḁḁḁḁḁ\"}", "/s", "too_long"},
		{"{\"req\":\"x\",\"n\":0}", "/n", "range"},
		{"{\"req\":\"x\",\"n\":1.5}", "/n", "type"},
		{"{\"req\":\"x\",\"b\":\"true\"}", "/b", "type"},
		{"{\"req\":\"x\",\"d\":\"2026-02-30\"}", "/d", "format"},
		{"{\"req\":\"x\",\"d\":\"2026-2-3\"}", "/d", "format"},
		{"{\"req\":\"x\",\"t\":\"2026-02-03T10:00:00\"}", "/t", "format"},
		{"{\"req\":\"x\",\"e\":\"blue\"}", "/e", "enum"},
		{"{\"req\":\"x\",\"id\":\"a b\"}", "/id", "format"},
		{"{\"req\":\"x\",\"o\":[]}", "/o", "type"},
		{"{\"req\":\"x\",\"a/b\":[1,2,3]}", "/a~1b", "too_long"},
		{"[\"x\"]", "", "by_name"},
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		char *m = P(cases[i].params);
		assert_invalid(f, m, cases[i].field, cases[i].reason);
		g_free(m);
	}
	/* Valid values pass through; an optional null is dropped. */
	char *m = P("{\"req\":\"x\",\"s\":\"ḁḁḁḁḁ\",\"n\":10,\"d\":\"2028-02-29\","
		    "\"t\":\"2026-11-27T08:00:00+07:00\",\"e\":\"red\",\"id\":\"Ab_-9\",\"o\":null}");
	feed(f, m);
	g_free(m);
	json_t *r = only(f);
	json_t *res = json_object_get(r, "result");
	g_assert_nonnull(res);
	g_assert_null(json_object_get(res, "o"));
	g_assert_cmpint(json_integer_value(json_object_get(res, "n")), ==, 10);
	json_decref(r);
	/* Params are by name only, even for a method without any. */
	assert_invalid(f, "{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\",\"id\":1,\"params\":[]}",
		       "", "by_name");
#undef P
}

static void
test_roles(struct fixture *f, gconstpointer data)
{
	assert_error(f, "{\"jsonrpc\":\"2.0\",\"method\":\"test.bound\",\"id\":1}",
		     TD_ERR_UNAUTHENTICATED);
	assert_error(f, "{\"jsonrpc\":\"2.0\",\"method\":\"test.leader\",\"id\":1}",
		     TD_ERR_UNAUTHENTICATED);
	struct rpc_identity citizen = {.user_id = "u1", .roles = RPC_CITIZEN};
	rpc_client_set_identity(f->client, &citizen);
	assert_error(f, "{\"jsonrpc\":\"2.0\",\"method\":\"test.leader\",\"id\":1}",
		     TD_ERR_FORBIDDEN);
	feed(f, "{\"jsonrpc\":\"2.0\",\"method\":\"test.bound\",\"id\":1}");
	json_t *r = only(f);
	g_assert_nonnull(json_object_get(r, "result"));
	json_decref(r);
	struct rpc_identity leader = {.user_id = "u2", .roles = RPC_LEADER};
	rpc_client_set_identity(f->client, &leader);
	feed(f, "{\"jsonrpc\":\"2.0\",\"method\":\"test.leader\",\"id\":1}");
	r = only(f);
	g_assert_nonnull(json_object_get(r, "result"));
	json_decref(r);
	/* An expired identity is unauthenticated again. */
	struct rpc_identity expired = {.user_id = "u2", .roles = RPC_LEADER, .expires_at_us = 1};
	rpc_client_set_identity(f->client, &expired);
	assert_error(f, "{\"jsonrpc\":\"2.0\",\"method\":\"test.leader\",\"id\":1}",
		     TD_ERR_UNAUTHENTICATED);
	rpc_client_set_identity(f->client, NULL);
	g_assert_null(rpc_client_identity(f->client));
}

static void
test_discover(struct fixture *f, gconstpointer data)
{
	feed(f, "{\"jsonrpc\":\"2.0\",\"method\":\"rpc.discover\",\"id\":1}");
	json_t *r = only(f);
	json_t *doc = json_object_get(r, "result");
	g_assert_true(g_str_has_prefix(json_string_value(json_object_get(doc, "openrpc")), "1."));
	json_t *methods = json_object_get(doc, "methods");
	size_t i;
	json_t *m;
	bool seen_echo = false, seen_self = false;
	json_array_foreach(methods, i, m)
	{
		const char *name = json_string_value(json_object_get(m, "name"));
		g_assert_true(json_is_array(json_object_get(m, "params")));
		g_assert_true(json_is_object(json_object_get(m, "result")));
		if (strcmp(name, "rpc.discover") == 0) {
			seen_self = true;
		}
		if (strcmp(name, "test.echo") == 0) {
			seen_echo = true;
			json_t *p = json_array_get(json_object_get(m, "params"), 5);
			g_assert_cmpstr(json_string_value(json_object_get(p, "name")), ==, "e");
			json_t *en = json_object_get(json_object_get(p, "schema"), "enum");
			g_assert_cmpuint(json_array_size(en), ==, 2);
		}
	}
	g_assert_true(seen_echo && seen_self);
	json_decref(r);
}

static void
test_metrics(struct fixture *f, gconstpointer data)
{
	feed(f, "{\"jsonrpc\":\"2.0\",\"method\":\"system.ping\",\"id\":1}");
	feed(f, "{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":1}");
	GString *s = metrics_render(f->metrics);
	g_assert_nonnull(strstr(s->str, "tiepdan_rpc_calls_total{method=\"system.ping\"} 1\n"));
	g_assert_nonnull(strstr(s->str, "tiepdan_rpc_errors_total{code=\"-32601\"} 1\n"));
	g_string_free(s, TRUE);
}

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define T(name, fn) g_test_add("/rpc/" name, struct fixture, NULL, setup, fn, teardown)
	T("ping", test_ping);
	T("envelope", test_envelope);
	T("notifications", test_notifications);
	T("batch", test_batch);
	T("async-batch", test_async_batch);
	T("params", test_params);
	T("roles", test_roles);
	T("discover", test_discover);
	T("metrics", test_metrics);
	return g_test_run();
}
