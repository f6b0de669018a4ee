/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "store-private.h"

#include <glib.h>

/*
 * Migration 1: the directory (agencies, fields), accounts (users, roles) and
 * meta. Invariants that must hold whatever C code runs live here as
 * constraints:
 *  - the city is the only agency without a parent, and there is at most one
 *    city (partial unique index);
 *  - citizen and admin are held outside any agency, every other role inside
 *    one, and a user holds a role in an agency at most once (expression
 *    index, since UNIQUE treats NULLs as distinct);
 *  - a national id is 12 digits, a password hash is an argon2id string.
 * Text columns are compared case-insensitively where people type them
 * (login, email).
 */
/* clang-format off */
static const char migration_1[] =
	"PRAGMA application_id = " G_STRINGIFY(STORE_APPLICATION_ID) ";\n"

	"CREATE TABLE meta (\n"
	"  key TEXT PRIMARY KEY NOT NULL,\n"
	"  value TEXT NOT NULL\n"
	") STRICT;\n"

	"CREATE TABLE agencies (\n"
	"  id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),\n"
	"  code TEXT NOT NULL UNIQUE CHECK (code <> '' AND code NOT GLOB '*[^A-Z0-9-]*'),\n"
	"  name TEXT NOT NULL CHECK (name <> ''),\n"
	"  name_en TEXT,\n"
	"  level TEXT NOT NULL\n"
	"    CHECK (level IN ('city', 'department', 'inspectorate', 'ward', 'commune')),\n"
	"  parent_id TEXT REFERENCES agencies(id),\n"
	"  created_at TEXT NOT NULL,\n"
	"  CHECK ((level = 'city') = (parent_id IS NULL)),\n"
	"  CHECK (parent_id IS NULL OR parent_id <> id)\n"
	") STRICT;\n"
	"CREATE UNIQUE INDEX agencies_one_city ON agencies(level) WHERE level = 'city';\n"
	"CREATE INDEX agencies_parent ON agencies(parent_id);\n"

	"CREATE TABLE users (\n"
	"  id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),\n"
	"  login TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (login <> ''),\n"
	"  full_name TEXT NOT NULL CHECK (full_name <> ''),\n"
	"  national_id TEXT UNIQUE\n"
	"    CHECK (length(national_id) = 12 AND national_id NOT GLOB '*[^0-9]*'),\n"
	"  phone TEXT UNIQUE CHECK (phone <> '' AND phone NOT GLOB '*[^0-9+]*'),\n"
	"  email TEXT UNIQUE COLLATE NOCASE CHECK (email LIKE '%_@_%'),\n"
	"  address TEXT,\n"
	"  password_hash TEXT NOT NULL CHECK (password_hash GLOB '$argon2id$*'),\n"
	"  created_at TEXT NOT NULL,\n"
	"  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))\n"
	") STRICT;\n"

	"CREATE TABLE user_roles (\n"
	"  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,\n"
	"  role TEXT NOT NULL\n"
	"    CHECK (role IN ('citizen', 'official', 'leader', 'staff', 'inspector', 'admin')),\n"
	"  agency_id TEXT REFERENCES agencies(id),\n"
	"  CHECK ((role IN ('citizen', 'admin')) = (agency_id IS NULL))\n"
	") STRICT;\n"
	"CREATE UNIQUE INDEX user_roles_unique ON user_roles(user_id, role, ifnull(agency_id, ''));\n"
	"CREATE INDEX user_roles_agency ON user_roles(agency_id, role);\n"

	"CREATE TABLE fields (\n"
	"  code TEXT PRIMARY KEY NOT NULL CHECK (code <> '' AND code NOT GLOB '*[^a-z_]*'),\n"
	"  name TEXT NOT NULL CHECK (name <> ''),\n"
	"  name_en TEXT NOT NULL CHECK (name_en <> ''),\n"
	"  managing_agency_id TEXT REFERENCES agencies(id)\n"
	") STRICT;\n"
	"INSERT INTO fields (code, name, name_en) VALUES\n"
	"  ('land', 'Đất đai', 'Land'),\n"
	"  ('environment', 'Môi trường', 'Environment'),\n"
	"  ('ethnicity', 'Dân tộc', 'Ethnic affairs'),\n"
	"  ('religion', 'Tôn giáo', 'Religion'),\n"
	"  ('labour_policy', 'Chế độ, chính sách đối với người lao động', 'Labour policy'),\n"
	"  ('social_policy', 'Chính sách xã hội', 'Social policy'),\n"
	"  ('administration', 'Hành chính, công vụ', 'Administration and civil service'),\n"
	"  ('justice', 'Tư pháp', 'Justice'),\n"
	"  ('other', 'Lĩnh vực khác', 'Other');\n";
/* clang-format on */

const char *const store_migrations[] = {
    migration_1,
};

const size_t store_n_migrations = G_N_ELEMENTS(store_migrations);
