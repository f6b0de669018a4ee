/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/demo.h"

#include "tiepdan/log.h"
#include "tiepdan/password.h"

#include <errno.h>
#include <string.h>

/*
 * The demo city follows the Đồng Nai plan 64/KH-UBND (seed/000): the city
 * People's Committee, the city inspectorate that monitors and reports, the
 * departments that manage the fields the plan names (land, environment,
 * ethnicity, religion, labour policy), and wards and communes that exist in
 * today's Đồng Nai. Parents come before their children.
 */
struct demo_agency {
	const char *code;
	const char *level;
	const char *parent_code; /* NULL for the city */
	const char *name;
	const char *name_en;
};

static const struct demo_agency agencies[] = {
    {"DN", "city", NULL, "Ủy ban nhân dân thành phố Đồng Nai", "Dong Nai City People's Committee"},
    {"DN-TTTP", "inspectorate", "DN", "Thanh tra thành phố Đồng Nai", "Dong Nai City Inspectorate"},
    {"DN-VPUB", "department", "DN", "Văn phòng Ủy ban nhân dân thành phố",
     "Office of the City People's Committee"},
    {"DN-SNNMT", "department", "DN", "Sở Nông nghiệp và Môi trường",
     "Department of Agriculture and Environment"},
    {"DN-SNV", "department", "DN", "Sở Nội vụ", "Department of Home Affairs"},
    {"DN-SDTTG", "department", "DN", "Sở Dân tộc và Tôn giáo",
     "Department of Ethnic and Religious Affairs"},
    {"DN-STP", "department", "DN", "Sở Tư pháp", "Department of Justice"},
    {"DN-SYT", "department", "DN", "Sở Y tế", "Department of Health"},
    {"DN-P-TRANBIEN", "ward", "DN", "Phường Trấn Biên", "Tran Bien Ward"},
    {"DN-P-BIENHOA", "ward", "DN", "Phường Biên Hòa", "Bien Hoa Ward"},
    {"DN-P-TAMHIEP", "ward", "DN", "Phường Tam Hiệp", "Tam Hiep Ward"},
    {"DN-P-LONGBINH", "ward", "DN", "Phường Long Bình", "Long Binh Ward"},
    {"DN-P-TRANGDAI", "ward", "DN", "Phường Trảng Dài", "Trang Dai Ward"},
    {"DN-P-HONAI", "ward", "DN", "Phường Hố Nai", "Ho Nai Ward"},
    {"DN-P-LONGKHANH", "ward", "DN", "Phường Long Khánh", "Long Khanh Ward"},
    {"DN-P-BINHLOC", "ward", "DN", "Phường Bình Lộc", "Binh Loc Ward"},
    {"DN-X-NHONTRACH", "commune", "DN", "Xã Nhơn Trạch", "Nhon Trach Commune"},
    {"DN-X-DAIPHUOC", "commune", "DN", "Xã Đại Phước", "Dai Phuoc Commune"},
    {"DN-X-PHUOCAN", "commune", "DN", "Xã Phước An", "Phuoc An Commune"},
    {"DN-X-LONGTHANH", "commune", "DN", "Xã Long Thành", "Long Thanh Commune"},
    {"DN-X-TRANGBOM", "commune", "DN", "Xã Trảng Bom", "Trang Bom Commune"},
    {"DN-X-XUANLOC", "commune", "DN", "Xã Xuân Lộc", "Xuan Loc Commune"},
};

/* DOMAIN.md §4: the department that manages each field in the demo city. */
static const struct {
	const char *field;
	const char *agency_code;
} field_agencies[] = {
    {"land", "DN-SNNMT"},         {"environment", "DN-SNNMT"}, {"labour_policy", "DN-SNV"},
    {"administration", "DN-SNV"}, {"ethnicity", "DN-SDTTG"},   {"religion", "DN-SDTTG"},
    {"justice", "DN-STP"},        {"social_policy", "DN-SYT"}, {"other", "DN-VPUB"},
};

struct demo_account {
	const char *role;
	const char *login;
	const char *password;
	const char *agency_code; /* NULL for citizen and admin */
	const char *name;
	const char *national_id;
	const char *phone;
	const char *email;
	const char *address;
};

static const struct demo_account accounts[] = {
    {"citizen", "0912345678", "demo-citizen-2026", NULL, "Nguyễn Văn An", "075088001234",
     "0912345678", "nguyenvanan@example.org", "Khu phố 3, phường Trấn Biên, thành phố Đồng Nai"},
    {"official", "canbo.tranbien", "demo-official-2026", "DN-P-TRANBIEN", "Trần Thị Bình"},
    {"leader", "chutich.tranbien", "demo-leader-2026", "DN-P-TRANBIEN", "Lê Văn Cường"},
    {"staff", "vanthu.tranbien", "demo-staff-2026", "DN-P-TRANBIEN", "Phạm Thị Dung"},
    {"leader", "chutich.dongnai", "demo-cityleader-2026", "DN", "Hoàng Minh Đức"},
    {"inspector", "thanhtra.dongnai", "demo-inspector-2026", "DN-TTTP", "Võ Thị Hạnh"},
    {"admin", "admin", "demo-admin-2026", NULL, "Đặng Quốc Khánh"},
};

struct load {
	char agency_ids[G_N_ELEMENTS(agencies)][23];
	char hashes[G_N_ELEMENTS(accounts)][crypto_pwhash_STRBYTES];
	char now[STORE_TIME_SIZE];
};

static const char *
agency_id(const struct load *l, const char *code)
{
	for (size_t i = 0; code && i < G_N_ELEMENTS(agencies); i++) {
		if (strcmp(agencies[i].code, code) == 0) {
			return l->agency_ids[i];
		}
	}
	return NULL;
}

static int
has_agency(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT EXISTS (SELECT 1 FROM agencies)", -1, &st, NULL);
	int err = rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW
	              ? (sqlite3_column_int(st, 0) ? -EEXIST : 0)
	              : -EIO;
	sqlite3_finalize(st);
	return err;
}

static int
insert_all(sqlite3 *db, void *data)
{
	struct load *l = data;
	int err = has_agency(db);

	for (size_t i = 0; !err && i < G_N_ELEMENTS(agencies); i++) {
		const struct demo_agency *a = &agencies[i];
		const char *p[] = {l->agency_ids[i],
		                   a->code,
		                   a->name,
		                   a->name_en,
		                   a->level,
		                   agency_id(l, a->parent_code),
		                   l->now};
		err = store_exec_text(db,
		                      "INSERT INTO agencies (id, code, name, name_en, level, "
		                      "parent_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
		                      p, G_N_ELEMENTS(p));
	}
	for (size_t i = 0; !err && i < G_N_ELEMENTS(field_agencies); i++) {
		const char *p[] = {agency_id(l, field_agencies[i].agency_code),
		                   field_agencies[i].field};
		err =
		    store_exec_text(db, "UPDATE fields SET managing_agency_id = ?1 WHERE code = ?2",
		                    p, G_N_ELEMENTS(p));
		if (!err && sqlite3_changes(db) != 1) {
			err = -EIO;
		}
	}
	for (size_t i = 0; !err && i < G_N_ELEMENTS(accounts); i++) {
		const struct demo_account *a = &accounts[i];
		char id[23];
		store_new_id(id);
		const char *u[] = {id,       a->login,   a->name,      a->national_id, a->phone,
		                   a->email, a->address, l->hashes[i], l->now};
		err =
		    store_exec_text(db,
		                    "INSERT INTO users (id, login, full_name, national_id, phone, "
		                    "email, address, password_hash, created_at) "
		                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
		                    u, G_N_ELEMENTS(u));
		const char *r[] = {id, a->role, agency_id(l, a->agency_code)};
		if (!err) {
			err = store_exec_text(db,
			                      "INSERT INTO user_roles (user_id, role, agency_id) "
			                      "VALUES (?1, ?2, ?3)",
			                      r, G_N_ELEMENTS(r));
		}
	}
	if (!err) {
		const char *m[] = {l->now};
		err = store_exec_text(
		    db, "INSERT INTO meta (key, value) VALUES ('demo_loaded_at', ?1)", m, 1);
	}
	return err;
}

static char *
account_line(const struct demo_account *a)
{
	return g_strdup_printf("%s\t%s\t%s\t%s\t%s", a->role, a->login, a->password,
	                       a->agency_code ? a->agency_code : "", a->name);
}

void
demo_accounts(GPtrArray *out)
{
	for (size_t i = 0; i < G_N_ELEMENTS(accounts); i++) {
		g_ptr_array_add(out, account_line(&accounts[i]));
	}
}

/*
 * The emptiness check runs twice: once on the reader before the costly
 * hashing, and again inside the transaction, where it is authoritative (the
 * server and tiepdan-admin may race to load).
 */
int
demo_load(struct store *s, GPtrArray *accounts_out)
{
	int err = has_agency(store_reader(s));
	if (err) {
		return err;
	}
	struct load *l = g_new0(struct load, 1);
	for (size_t i = 0; i < G_N_ELEMENTS(agencies); i++) {
		store_new_id(l->agency_ids[i]);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(accounts); i++) {
		if ((err = auth_password_hash(accounts[i].password, l->hashes[i])) < 0) {
			goto out;
		}
	}
	store_time_now(l->now);

	err = store_write_sync(s, insert_all, l);
	if (err < 0) {
		goto out;
	}
	td_info("demo", "demo data loaded", "agencies=%zu accounts=%zu", G_N_ELEMENTS(agencies),
	        G_N_ELEMENTS(accounts));
	if (accounts_out) {
		demo_accounts(accounts_out);
	}
	err = 0;

out:
	if (err < 0 && err != -EEXIST) {
		td_error("demo", "demo data not loaded", "errno=%d", -err);
	}
	sodium_memzero(l, sizeof(*l));
	g_free(l);
	return err;
}
