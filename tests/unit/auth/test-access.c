/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * Object-level rights over the agency tree (auth/access.c, PROTOCOL.md §5.2),
 * on a small tree in a temporary store:
 *
 *   C      city
 *   ├─ CTT   inspectorate (the city inspectorate)
 *   ├─ D     department
 *   ├─ W     ward
 *   │  ├─ X    commune below the ward
 *   │  └─ WTT  inspectorate of the ward
 *   └─ W2    another ward
 */
#include "tiepdan/access.h"
#include "tiepdan/store.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdarg.h>
#include <string.h>

static const struct {
	const char *id, *level, *parent;
} tree[] = {
	{"C", "city", NULL},   {"CTT", "inspectorate", "C"}, {"D", "department", "C"},
	{"W", "ward", "C"},    {"X", "commune", "W"},        {"WTT", "inspectorate", "W"},
	{"W2", "ward", "C"},
};

static const char *const all[] = {"C", "CTT", "D", "W", "X", "WTT", "W2"};

struct fx {
	char *dir;
	struct store *s;
	sqlite3 *db;
};

static int
insert_tree(sqlite3 *db, void *data)
{
	char now[STORE_TIME_SIZE];
	store_time_now(now);
	for (size_t i = 0; i < G_N_ELEMENTS(tree); i++) {
		const char *p[] = {tree[i].id, tree[i].id, tree[i].level, tree[i].parent, now};
		int r = store_exec_text(db,
					"INSERT INTO agencies (id, code, name, level, parent_id, "
					"created_at) VALUES (?1, ?2, 'Agency ' || ?2, ?3, ?4, ?5)",
					p, 5);
		if (r < 0) {
			return r;
		}
	}
	return 0;
}

static void
fx_setup(struct fx *f, gconstpointer unused)
{
	GError *error = NULL;
	f->dir = g_dir_make_tmp("tiepdan-access-XXXXXX", &error);
	g_assert_no_error(error);
	struct store_options o;
	store_options_init(&o);
	o.async = false;
	o.sync_full = false;
	f->s = store_open(f->dir, &o);
	g_assert_nonnull(f->s);
	g_assert_cmpint(store_write_sync(f->s, insert_tree, NULL), ==, 0);
	f->db = store_reader(f->s);
}

static void
rm_rf(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);
	if (d) {
		const char *name;
		while ((name = g_dir_read_name(d))) {
			char *child = g_build_filename(path, name, NULL);
			rm_rf(child);
			g_free(child);
		}
		g_dir_close(d);
		g_rmdir(path);
	} else {
		g_unlink(path);
	}
}

static void
fx_teardown(struct fx *f, gconstpointer unused)
{
	store_destroy(f->s);
	rm_rf(f->dir);
	g_free(f->dir);
}

/* An identity holding n grants: role bit, agency id (NULL for citizen and admin), … */
static struct rpc_identity
ident(size_t n, ...)
{
	struct rpc_identity id = {0};
	va_list ap;
	va_start(ap, n);
	id.user_id = g_strdup("user");
	id.n_grants = n;
	id.grants = n ? g_new0(struct rpc_grant, n) : NULL;
	for (size_t i = 0; i < n; i++) {
		id.grants[i].role = va_arg(ap, uint32_t);
		id.grants[i].agency_id = g_strdup(va_arg(ap, const char *));
		id.roles |= id.grants[i].role;
	}
	va_end(ap);
	return id;
}

/* Asserts that id sees exactly the agencies listed in `seen` (a space-separated list). */
static void
assert_sees(struct fx *f, const char *who, struct rpc_identity *id, const char *seen)
{
	char **want = g_strsplit(seen, " ", -1);
	for (size_t i = 0; i < G_N_ELEMENTS(all); i++) {
		bool expected = g_strv_contains((const char *const *)want, all[i]);
		bool got = access_sees_agency(f->db, id, all[i]);
		if (got != expected) {
			g_error("%s: sees %s = %d, expected %d", who, all[i], got, expected);
		}
	}
	g_assert_false(access_sees_agency(f->db, id, "NO-SUCH-AGENCY"));
	g_assert_false(access_sees_agency(f->db, id, NULL));
	g_strfreev(want);
	rpc_identity_clear(id);
}

static void
test_official_staff_own_agency(struct fx *f, gconstpointer unused)
{
	struct rpc_identity id = ident(1, (uint32_t)RPC_OFFICIAL, "W");
	assert_sees(f, "official of W", &id, "W");
	id = ident(1, (uint32_t)RPC_STAFF, "W");
	assert_sees(f, "staff of W", &id, "W");
	id = ident(1, (uint32_t)RPC_OFFICIAL, "D");
	assert_sees(f, "official of D", &id, "D");
	id = ident(1, (uint32_t)RPC_OFFICIAL, "X");
	assert_sees(f, "official of X", &id, "X");
}

static void
test_leader_sees_below(struct fx *f, gconstpointer unused)
{
	struct rpc_identity id = ident(1, (uint32_t)RPC_LEADER, "W");
	assert_sees(f, "leader of W", &id, "W X WTT");
	id = ident(1, (uint32_t)RPC_LEADER, "C");
	assert_sees(f, "leader of the city", &id, "C CTT D W X WTT W2");
	id = ident(1, (uint32_t)RPC_LEADER, "X");
	assert_sees(f, "leader of X", &id, "X");
}

static void
test_inspectors(struct fx *f, gconstpointer unused)
{
	/* The city inspectorate monitors the whole city. */
	struct rpc_identity id = ident(1, (uint32_t)RPC_INSPECTOR, "CTT");
	assert_sees(f, "city inspector", &id, "C CTT D W X WTT W2");
	/* The ward's inspectorate monitors the ward's tree only. */
	id = ident(1, (uint32_t)RPC_INSPECTOR, "WTT");
	assert_sees(f, "ward inspector", &id, "W X WTT");
	/* An inspector role held outside an inspectorate gives no sight at all. */
	id = ident(1, (uint32_t)RPC_INSPECTOR, "W");
	assert_sees(f, "inspector held in a ward", &id, "");
	id = ident(1, (uint32_t)RPC_INSPECTOR, "C");
	assert_sees(f, "inspector held in the city", &id, "");
	id = ident(1, (uint32_t)RPC_INSPECTOR, "NO-SUCH-AGENCY");
	assert_sees(f, "inspector of an unknown agency", &id, "");
}

static void
test_no_agency_roles(struct fx *f, gconstpointer unused)
{
	struct rpc_identity id = ident(1, (uint32_t)RPC_CITIZEN, NULL);
	assert_sees(f, "citizen", &id, "");
	id = ident(1, (uint32_t)RPC_ADMIN, NULL);
	assert_sees(f, "admin", &id, "");
	id = ident(0);
	assert_sees(f, "no grants", &id, "");
	g_assert_false(access_sees_agency(f->db, NULL, "W"));
}

static void
test_several_grants(struct fx *f, gconstpointer unused)
{
	struct rpc_identity id = ident(2, (uint32_t)RPC_OFFICIAL, "D", (uint32_t)RPC_LEADER, "W");
	assert_sees(f, "official of D and leader of W", &id, "D W X WTT");
	id = ident(3, (uint32_t)RPC_CITIZEN, NULL, (uint32_t)RPC_STAFF, "W2",
		   (uint32_t)RPC_INSPECTOR, "WTT");
	assert_sees(f, "citizen, staff of W2, ward inspector", &id, "W W2 X WTT");
}

static void
test_chain(struct fx *f, gconstpointer unused)
{
	GPtrArray *chain = g_ptr_array_new_with_free_func(g_free);
	g_assert_cmpint(access_agency_chain(f->db, "X", chain), ==, 0);
	g_assert_cmpuint(chain->len, ==, 3);
	g_assert_cmpstr(chain->pdata[0], ==, "X");
	g_assert_cmpstr(chain->pdata[1], ==, "W");
	g_assert_cmpstr(chain->pdata[2], ==, "C");
	g_ptr_array_set_size(chain, 0);
	g_assert_cmpint(access_agency_chain(f->db, "C", chain), ==, 0);
	g_assert_cmpuint(chain->len, ==, 1);
	g_ptr_array_set_size(chain, 0);
	g_assert_cmpint(access_agency_chain(f->db, "NO-SUCH-AGENCY", chain), ==, -ENOENT);
	g_assert_cmpuint(chain->len, ==, 0);
	g_ptr_array_free(chain, TRUE);
}

static void
test_holds_and_acts(struct fx *f, gconstpointer unused)
{
	struct rpc_identity id = ident(2, (uint32_t)RPC_OFFICIAL, "W", (uint32_t)RPC_LEADER, "C");
	g_assert_true(access_holds(&id, RPC_OFFICIAL, "W"));
	g_assert_false(access_holds(&id, RPC_LEADER, "W"));
	g_assert_true(access_holds(&id, RPC_OFFICIAL | RPC_LEADER, "C"));
	g_assert_false(access_holds(&id, RPC_OFFICIAL, "X"));
	/* Acting needs the role held in exactly that agency: a leader of the city does not act in
	 * a ward, even though they see it. */
	g_assert_true(access_acts_in_agency(&id, RPC_OFFICIAL | RPC_LEADER, "W"));
	g_assert_false(access_acts_in_agency(&id, RPC_LEADER, "W"));
	g_assert_true(access_sees_agency(f->db, &id, "W2"));
	g_assert_false(access_acts_in_agency(&id, RPC_LEADER | RPC_OFFICIAL, "W2"));
	g_assert_false(access_acts_in_agency(&id, RPC_OFFICIAL, NULL));
	g_assert_false(access_holds(NULL, RPC_OFFICIAL, "W"));
	rpc_identity_clear(&id);

	struct rpc_identity admin = ident(1, (uint32_t)RPC_ADMIN, NULL);
	g_assert_true(access_holds(&admin, RPC_ADMIN, NULL));
	g_assert_false(access_acts_in_agency(&admin, RPC_ADMIN, NULL));
	rpc_identity_clear(&admin);
}

/* See tests/unit/portal/test-store.c: GLib leaks the old user dirs on purpose. */
const char *__lsan_default_suppressions(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:g_set_user_dirs\n";
}

#define FX_TEST(path, fn) g_test_add(path, struct fx, NULL, fx_setup, fn, fx_teardown)

int
main(int argc, char **argv)
{
	g_test_init(&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
	FX_TEST("/access/official-staff-own-agency", test_official_staff_own_agency);
	FX_TEST("/access/leader-sees-below", test_leader_sees_below);
	FX_TEST("/access/inspectors", test_inspectors);
	FX_TEST("/access/no-agency-roles", test_no_agency_roles);
	FX_TEST("/access/several-grants", test_several_grants);
	FX_TEST("/access/chain", test_chain);
	FX_TEST("/access/holds-and-acts", test_holds_and_acts);
	return g_test_run();
}
