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

/*
 * Migration 2: sessions and the audit log.
 *  - A refresh family is one login's chain of refresh tokens; rotating a
 *    token marks it used and adds its successor to the same family; showing
 *    a used token again revokes the family. Tokens are stored only as
 *    SHA-256 hashes (they are 256-bit random, so a slow hash adds nothing).
 *  - The audit log is append-only: triggers refuse UPDATE and DELETE.
 */
/* clang-format off */
static const char migration_2[] =
	"CREATE TABLE refresh_families (\n"
	"  id TEXT PRIMARY KEY NOT NULL,\n"
	"  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,\n"
	"  created_at TEXT NOT NULL,\n"
	"  client_addr TEXT,\n"
	"  revoked_at TEXT,\n"
	"  revoked_reason TEXT CHECK (revoked_reason IN\n"
	"    ('logout', 'reuse', 'password_change', 'admin', 'disabled'))\n"
	") STRICT;\n"
	"CREATE INDEX refresh_families_user ON refresh_families(user_id) WHERE revoked_at IS NULL;\n"

	"CREATE TABLE refresh_tokens (\n"
	"  token_hash TEXT PRIMARY KEY NOT NULL CHECK (length(token_hash) = 64),\n"
	"  family_id TEXT NOT NULL REFERENCES refresh_families(id) ON DELETE CASCADE,\n"
	"  issued_at TEXT NOT NULL,\n"
	"  expires_at INTEGER NOT NULL,\n"
	"  used_at TEXT\n"
	") STRICT;\n"
	"CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);\n"
	/* At most one live (unused) token per family: rotation can never fork a family. */
	"CREATE UNIQUE INDEX refresh_tokens_one_live ON refresh_tokens(family_id)\n"
	"  WHERE used_at IS NULL;\n"

	"CREATE TABLE audit_log (\n"
	"  id INTEGER PRIMARY KEY,\n"
	"  at TEXT NOT NULL,\n"
	"  action TEXT NOT NULL CHECK (action <> ''),\n"
	"  user_id TEXT,\n"
	"  actor_id TEXT,\n"
	"  client_addr TEXT,\n"
	"  detail TEXT /* JSON written by the server */\n"
	") STRICT;\n"
	"CREATE INDEX audit_log_user ON audit_log(user_id, id);\n"
	"CREATE INDEX audit_log_action ON audit_log(action, id);\n"
	"CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log\n"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;\n"
	"CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log\n"
	"  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;\n"

	"ALTER TABLE users ADD COLUMN password_changed_at TEXT;\n";
/* clang-format on */

const char *const store_migrations[] = {
    migration_1,
    migration_2,
};

const size_t store_n_migrations = G_N_ELEMENTS(store_migrations);
