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

/*
 * Migration 3: competence routing as data (DOMAIN.md §4; docs/routing.md).
 *  - routing_rules: match columns (NULL = any), a target, an explanation in
 *    Vietnamese and English with its legal basis; the engine
 *    (portal/routing.c) takes the first enabled rule, by priority then code,
 *    that matches and whose target resolves. The seeded rules name no agency,
 *    only roles ("the respondent's agency", "the city", "the field's managing
 *    department", "outside the portal"), so every database gets them; ids are
 *    random, codes are stable.
 *  - agencies_no_cycle: a move (parent_id) may never put an agency under
 *    itself or one of its descendants, whatever C code runs.
 */
/* clang-format off */
#define ROUTING_LEVELS "('city', 'department', 'inspectorate', 'ward', 'commune')"
static const char migration_3[] =
	"CREATE TABLE routing_rules (\n"
	"  id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),\n"
	"  code TEXT NOT NULL UNIQUE\n"
	"    CHECK (code <> '' AND code NOT GLOB '*[^a-z0-9_.]*' AND length(code) <= 64),\n"
	"  priority INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 1000000),\n"
	"  kind TEXT CHECK (kind IN ('complaint', 'denunciation', 'recommendation', 'feedback')),\n"
	"  instance INTEGER CHECK (instance IN (1, 2)),\n"
	"  respondent_type TEXT CHECK (respondent_type IN ('agency', 'official', 'decision', 'none')),\n"
	"  respondent_level TEXT CHECK (respondent_level IN " ROUTING_LEVELS "),\n"
	"  respondent_parent_level TEXT CHECK (respondent_parent_level IN " ROUTING_LEVELS "),\n"
	"  respondent_position TEXT CHECK (respondent_position IN ('staff', 'leader')),\n"
	"  first_resolver_level TEXT CHECK (first_resolver_level IN " ROUTING_LEVELS "),\n"
	"  target TEXT NOT NULL CHECK (target IN ('respondent_agency', 'respondent_parent',\n"
	"    'first_resolver_parent', 'city', 'field_department', 'locality', 'outside')),\n"
	"  text_vi TEXT NOT NULL CHECK (text_vi <> ''),\n"
	"  text_en TEXT NOT NULL CHECK (text_en <> ''),\n"
	"  legal_basis TEXT NOT NULL CHECK (legal_basis <> ''),\n"
	"  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),\n"
	"  updated_at TEXT NOT NULL\n"
	") STRICT;\n"
	"CREATE INDEX routing_rules_order ON routing_rules(priority, code) WHERE enabled = 1;\n"

	"CREATE TRIGGER agencies_no_cycle BEFORE UPDATE OF parent_id ON agencies\n"
	"  WHEN NEW.parent_id IS NOT NULL\n"
	"BEGIN\n"
	"  SELECT RAISE(ABORT, 'an agency cannot be moved under itself or its descendants')\n"
	"  WHERE EXISTS (WITH RECURSIVE up(id) AS (\n"
	"      SELECT NEW.parent_id\n"
	"      UNION SELECT a.parent_id FROM agencies a JOIN up ON a.id = up.id\n"
	"        WHERE a.parent_id IS NOT NULL)\n"
	"    SELECT 1 FROM up WHERE up.id = NEW.id);\n"
	"END;\n"

	/* (code, priority, kind, instance, respondent_type, respondent_level,
	 *  respondent_parent_level, respondent_position, first_resolver_level, target,
	 *  text_vi, text_en, legal_basis) */
	"INSERT INTO routing_rules (id, code, priority, kind, instance, respondent_type,\n"
	"  respondent_level, respondent_parent_level, respondent_position, first_resolver_level,\n"
	"  target, text_vi, text_en, legal_basis, updated_at)\n"
	"SELECT lower(hex(randomblob(11))), column1, column2, column3, column4, column5, column6,\n"
	"  column7, column8, column9, column10, column11, column12, column13,\n"
	"  strftime('%Y-%m-%dT%H:%M:%S+07:00', 'now', '+7 hours')\n"
	"FROM (VALUES\n"

	/* Complaints, second instance (LKN 33: to the direct superior of the first resolver). */
	"('complaint.appeal_from_city', 100, 'complaint', 2, NULL, NULL, NULL, NULL, 'city',\n"
	" 'outside',\n"
	" 'Khiếu nại lần hai đối với quyết định giải quyết lần đầu của Chủ tịch Ủy ban nhân dân "
	"thành phố thuộc thẩm quyền của Bộ trưởng quản lý ngành, lĩnh vực, ngoài Cổng: hướng dẫn "
	"công dân gửi đơn đến bộ đó.',\n"
	" 'A second-instance complaint against a first-instance decision of the city chairman "
	"goes to the minister of the sector, outside the portal: the citizen is guided to file "
	"it there.',\n"
	" 'LKN 2011 art. 23'),\n"
	"('complaint.appeal', 110, 'complaint', 2, NULL, NULL, NULL, NULL, NULL,\n"
	" 'first_resolver_parent',\n"
	" 'Khiếu nại lần hai do người đứng đầu cơ quan cấp trên trực tiếp của người đã giải quyết "
	"lần đầu giải quyết: {agency}.',\n"
	" 'A second-instance complaint is settled by the direct superior of the first resolver: "
	"{agency}.',\n"
	" 'LKN 2011 art. 20, 21, 33; Law 136/2025'),\n"

	/* Complaints, first instance: by the level of the agency complained about. */
	"('complaint.city', 200, 'complaint', 1, NULL, 'city', NULL, NULL, NULL, 'city',\n"
	" 'Khiếu nại quyết định, hành vi hành chính của Ủy ban nhân dân thành phố hoặc Chủ tịch Ủy "
	"ban nhân dân thành phố do Chủ tịch Ủy ban nhân dân thành phố giải quyết lần đầu: {agency}.',\n"
	" 'A complaint about a decision or act of the city People''s Committee or its chairman is "
	"settled first by the city chairman: {agency}.',\n"
	" 'LKN 2011 art. 21'),\n"
	"('complaint.department_unit', 210, 'complaint', 1, NULL, 'department', 'department', NULL,\n"
	" NULL, 'respondent_parent',\n"
	" 'Khiếu nại quyết định, hành vi hành chính của đơn vị thuộc sở hoặc công chức của đơn vị "
	"đó do Giám đốc sở giải quyết lần đầu: {agency}.',\n"
	" 'A complaint about a unit under a department, or its staff, is settled first by the "
	"department''s director: {agency}.',\n"
	" 'LKN 2011 art. 20'),\n"
	"('complaint.department', 220, 'complaint', 1, NULL, 'department', NULL, NULL, NULL,\n"
	" 'respondent_agency',\n"
	" 'Khiếu nại quyết định, hành vi hành chính của sở hoặc công chức thuộc sở do Giám đốc sở "
	"giải quyết lần đầu: {agency}.',\n"
	" 'A complaint about a decision or act of a department, or of its staff, is settled first "
	"by its director: {agency}.',\n"
	" 'LKN 2011 art. 20'),\n"
	"('complaint.inspectorate', 230, 'complaint', 1, NULL, 'inspectorate', NULL, NULL, NULL,\n"
	" 'respondent_agency',\n"
	" 'Khiếu nại quyết định, hành vi hành chính của Thanh tra thành phố hoặc công chức thuộc "
	"Thanh tra do Chánh Thanh tra giải quyết lần đầu: {agency}.',\n"
	" 'A complaint about a decision or act of the city inspectorate, or of its staff, is "
	"settled first by the chief inspector: {agency}.',\n"
	" 'LKN 2011 art. 20'),\n"
	"('complaint.ward', 240, 'complaint', 1, NULL, 'ward', NULL, NULL, NULL,\n"
	" 'respondent_agency',\n"
	" 'Khiếu nại quyết định, hành vi hành chính của Ủy ban nhân dân phường, Chủ tịch Ủy ban "
	"nhân dân phường hoặc cán bộ, công chức của phường do Chủ tịch Ủy ban nhân dân phường giải "
	"quyết lần đầu: {agency}.',\n"
	" 'A complaint about a decision or act of a ward, its chairman or its staff is settled "
	"first by the ward chairman: {agency}.',\n"
	" 'LKN 2011 art. 17, 18; Law 136/2025'),\n"
	"('complaint.commune', 250, 'complaint', 1, NULL, 'commune', NULL, NULL, NULL,\n"
	" 'respondent_agency',\n"
	" 'Khiếu nại quyết định, hành vi hành chính của Ủy ban nhân dân xã, Chủ tịch Ủy ban nhân "
	"dân xã hoặc cán bộ, công chức của xã do Chủ tịch Ủy ban nhân dân xã giải quyết lần đầu: "
	"{agency}.',\n"
	" 'A complaint about a decision or act of a commune, its chairman or its staff is settled "
	"first by the commune chairman: {agency}.',\n"
	" 'LKN 2011 art. 17, 18; Law 136/2025'),\n"

	/* Denunciations of an official: by the official's agency and position. */
	"('denunciation.city_leader', 300, 'denunciation', NULL, 'official', 'city', NULL,\n"
	" 'leader', NULL, 'outside',\n"
	" 'Tố cáo Chủ tịch, Phó Chủ tịch Ủy ban nhân dân thành phố thuộc thẩm quyền của Thủ tướng "
	"Chính phủ, ngoài Cổng: hướng dẫn công dân gửi đơn đến Thủ tướng Chính phủ.',\n"
	" 'A denunciation of the city chairman or a vice-chairman is settled by the Prime "
	"Minister, outside the portal: the citizen is guided to file it there.',\n"
	" 'LTC 2018 art. 13'),\n"
	"('denunciation.unit_leader', 310, 'denunciation', NULL, 'official', 'department',\n"
	" 'department', 'leader', NULL, 'respondent_parent',\n"
	" 'Tố cáo người đứng đầu, cấp phó của đơn vị thuộc sở do Giám đốc sở giải quyết: "
	"{agency}.',\n"
	" 'A denunciation of the head or a deputy head of a unit under a department is settled "
	"by the department''s director: {agency}.',\n"
	" 'LTC 2018 art. 13'),\n"
	"('denunciation.department_leader', 320, 'denunciation', NULL, 'official', 'department',\n"
	" NULL, 'leader', NULL, 'city',\n"
	" 'Tố cáo Giám đốc, Phó Giám đốc sở do Chủ tịch Ủy ban nhân dân thành phố giải quyết: "
	"{agency}.',\n"
	" 'A denunciation of a department''s director or deputy director is settled by the city "
	"chairman: {agency}.',\n"
	" 'LTC 2018 art. 13'),\n"
	"('denunciation.inspectorate_leader', 330, 'denunciation', NULL, 'official',\n"
	" 'inspectorate', NULL, 'leader', NULL, 'city',\n"
	" 'Tố cáo Chánh Thanh tra, Phó Chánh Thanh tra thành phố do Chủ tịch Ủy ban nhân dân "
	"thành phố giải quyết: {agency}.',\n"
	" 'A denunciation of the chief or a deputy chief of the city inspectorate is settled by "
	"the city chairman: {agency}.',\n"
	" 'LTC 2018 art. 13'),\n"
	"('denunciation.ward_leader', 340, 'denunciation', NULL, 'official', 'ward', NULL,\n"
	" 'leader', NULL, 'city',\n"
	" 'Tố cáo Chủ tịch, Phó Chủ tịch Ủy ban nhân dân phường do Chủ tịch Ủy ban nhân dân thành "
	"phố giải quyết: {agency}.',\n"
	" 'A denunciation of a ward''s chairman or vice-chairman is settled by the city chairman: "
	"{agency}.',\n"
	" 'LTC 2018 art. 13; Law 136/2025'),\n"
	"('denunciation.commune_leader', 350, 'denunciation', NULL, 'official', 'commune', NULL,\n"
	" 'leader', NULL, 'city',\n"
	" 'Tố cáo Chủ tịch, Phó Chủ tịch Ủy ban nhân dân xã do Chủ tịch Ủy ban nhân dân thành phố "
	"giải quyết: {agency}.',\n"
	" 'A denunciation of a commune''s chairman or vice-chairman is settled by the city "
	"chairman: {agency}.',\n"
	" 'LTC 2018 art. 13; Law 136/2025'),\n"
	"('denunciation.official', 360, 'denunciation', NULL, 'official', NULL, NULL, NULL, NULL,\n"
	" 'respondent_agency',\n"
	" 'Tố cáo cán bộ, công chức do người đứng đầu cơ quan quản lý người bị tố cáo giải quyết: "
	"{agency}.',\n"
	" 'A denunciation of a staff member is settled by the head of the agency the person works "
	"for: {agency}.',\n"
	" 'LTC 2018 art. 12, 13'),\n"
	/* Anything else denounced (an agency, a decision, no one named): state management. */
	"('denunciation.state_management', 370, 'denunciation', NULL, NULL, NULL, NULL, NULL,\n"
	" NULL, 'field_department',\n"
	" 'Tố cáo hành vi vi phạm pháp luật về quản lý nhà nước trong ngành, lĩnh vực do cơ quan "
	"quản lý nhà nước về lĩnh vực đó giải quyết: {agency}.',\n"
	" 'A denunciation of a violation in the state management of a sector is settled by the "
	"agency that manages the field: {agency}.',\n"
	" 'LTC 2018 art. 15'),\n"

	/* Recommendations and feedback: a policy of a field, or a local matter. */
	"('recommendation.policy_department', 400, 'recommendation', NULL, NULL, 'department',\n"
	" NULL, NULL, NULL, 'field_department',\n"
	" 'Kiến nghị về chính sách, quản lý của ngành, lĩnh vực do sở quản lý lĩnh vực đó xem xét, "
	"trả lời: {agency}.',\n"
	" 'A recommendation on a policy of a field is answered by the department that manages the "
	"field: {agency}.',\n"
	" 'Circular 05/2021/TT-TTCP'),\n"
	"('recommendation.policy_inspectorate', 401, 'recommendation', NULL, NULL, 'inspectorate',\n"
	" NULL, NULL, NULL, 'field_department',\n"
	" 'Kiến nghị về chính sách, quản lý của ngành, lĩnh vực do sở quản lý lĩnh vực đó xem xét, "
	"trả lời: {agency}.',\n"
	" 'A recommendation on a policy of a field is answered by the department that manages the "
	"field: {agency}.',\n"
	" 'Circular 05/2021/TT-TTCP'),\n"
	"('recommendation.policy_city', 402, 'recommendation', NULL, NULL, 'city', NULL, NULL,\n"
	" NULL, 'field_department',\n"
	" 'Kiến nghị về chính sách, quản lý của ngành, lĩnh vực do sở quản lý lĩnh vực đó xem xét, "
	"trả lời: {agency}.',\n"
	" 'A recommendation on a policy of a field is answered by the department that manages the "
	"field: {agency}.',\n"
	" 'Circular 05/2021/TT-TTCP'),\n"
	"('recommendation.local', 410, 'recommendation', NULL, NULL, NULL, NULL, NULL, NULL,\n"
	" 'locality',\n"
	" 'Kiến nghị về vụ việc tại địa phương do Ủy ban nhân dân phường, xã nơi phát sinh vụ việc "
	"xem xét, trả lời: {agency}.',\n"
	" 'A recommendation on a local matter is answered by the ward or commune where it arose: "
	"{agency}.',\n"
	" 'Circular 05/2021/TT-TTCP'),\n"
	"('feedback.policy_department', 420, 'feedback', NULL, NULL, 'department', NULL, NULL,\n"
	" NULL, 'field_department',\n"
	" 'Phản ánh về chính sách, quản lý của ngành, lĩnh vực do sở quản lý lĩnh vực đó xem xét, "
	"trả lời: {agency}.',\n"
	" 'Feedback on a policy of a field is answered by the department that manages the field: "
	"{agency}.',\n"
	" 'Circular 05/2021/TT-TTCP'),\n"
	"('feedback.policy_inspectorate', 421, 'feedback', NULL, NULL, 'inspectorate', NULL,\n"
	" NULL, NULL, 'field_department',\n"
	" 'Phản ánh về chính sách, quản lý của ngành, lĩnh vực do sở quản lý lĩnh vực đó xem xét, "
	"trả lời: {agency}.',\n"
	" 'Feedback on a policy of a field is answered by the department that manages the field: "
	"{agency}.',\n"
	" 'Circular 05/2021/TT-TTCP'),\n"
	"('feedback.policy_city', 422, 'feedback', NULL, NULL, 'city', NULL, NULL, NULL,\n"
	" 'field_department',\n"
	" 'Phản ánh về chính sách, quản lý của ngành, lĩnh vực do sở quản lý lĩnh vực đó xem xét, "
	"trả lời: {agency}.',\n"
	" 'Feedback on a policy of a field is answered by the department that manages the field: "
	"{agency}.',\n"
	" 'Circular 05/2021/TT-TTCP'),\n"
	"('feedback.local', 430, 'feedback', NULL, NULL, NULL, NULL, NULL, NULL, 'locality',\n"
	" 'Phản ánh về vụ việc tại địa phương do Ủy ban nhân dân phường, xã nơi phát sinh vụ việc "
	"xem xét, trả lời: {agency}.',\n"
	" 'Feedback on a local matter is answered by the ward or commune where it arose: "
	"{agency}.',\n"
	" 'Circular 05/2021/TT-TTCP'),\n"

	/* Whatever no rule above resolves (e.g. a field without a managing department). */
	"('fallback.city', 9000, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'city',\n"
	" 'Không có quy tắc riêng: Ủy ban nhân dân thành phố tiếp nhận và xác định cơ quan có "
	"thẩm quyền: {agency}.',\n"
	" 'No specific rule applies: the city People''s Committee receives the petition and "
	"decides who is competent: {agency}.',\n"
	" 'LTCD 2013; Circular 05/2021/TT-TTCP'));\n";
#undef ROUTING_LEVELS
/* clang-format on */

/*
 * Migration 4: cases (PROTOCOL.md §5). The invariants the law and the
 * contract need live here as constraints:
 *  - a case has exactly one responsible agency (agency_id NOT NULL); the
 *    agencies that held it before are in case_holders;
 *  - a denunciation's identity is sealed (petitioner_sealed), every other
 *    kind's is plain; never both, never neither;
 *  - the timeline is append-only (triggers) and hash-chained (timeline.c);
 *  - time limits are data (time_limits), edited without a new build.
 * Title and content are indexed by FTS5 with diacritics folded, for case.list
 * q and the search for related cases; portal/cases.c writes the index in the
 * same transaction as the case (no trigger: with trusted_schema off, schema
 * triggers may not touch a virtual table).
 */
/* clang-format off */
static const char migration_4[] =
	"CREATE TABLE time_limits (\n"
	"  step TEXT NOT NULL CHECK (step IN ('process', 'settle')),\n"
	"  kind TEXT NOT NULL CHECK (kind IN ('complaint', 'denunciation', 'recommendation', 'feedback')),\n"
	"  instance INTEGER NOT NULL CHECK (instance IN (1, 2)),\n"
	"  complex INTEGER NOT NULL CHECK (complex IN (0, 1, 2)),\n"
	"  unit TEXT NOT NULL CHECK (unit IN ('working_days', 'calendar_days')),\n"
	"  days INTEGER NOT NULL CHECK (days > 0),\n"
	"  source TEXT NOT NULL,\n"
	"  PRIMARY KEY (step, kind, instance, complex)\n"
	") STRICT;\n"
	"INSERT INTO time_limits VALUES\n"
	"  ('process', 'complaint', 1, 0, 'working_days', 7, 'LKN 27 as amended by Law 136/2025 (from 1 July 2026; 10 days before)'),\n"
	"  ('process', 'complaint', 2, 0, 'working_days', 10, 'Circular 05/2021/TT-TTCP; LKN 36'),\n"
	"  ('process', 'denunciation', 1, 0, 'working_days', 7, 'LTC 24 (initial check)'),\n"
	"  ('process', 'denunciation', 1, 1, 'working_days', 10, 'LTC 24 (several places to check)'),\n"
	"  ('process', 'recommendation', 1, 0, 'working_days', 10, 'Circular 05/2021/TT-TTCP'),\n"
	"  ('process', 'feedback', 1, 0, 'working_days', 10, 'Circular 05/2021/TT-TTCP'),\n"
	"  ('settle', 'complaint', 1, 0, 'calendar_days', 30, 'LKN 28'),\n"
	"  ('settle', 'complaint', 1, 1, 'calendar_days', 45, 'LKN 28 (complex)'),\n"
	"  ('settle', 'complaint', 2, 0, 'calendar_days', 45, 'LKN 37'),\n"
	"  ('settle', 'complaint', 2, 1, 'calendar_days', 60, 'LKN 37 (complex)'),\n"
	"  ('settle', 'denunciation', 1, 0, 'calendar_days', 30, 'LTC 30'),\n"
	"  ('settle', 'denunciation', 1, 1, 'calendar_days', 60, 'LTC 30 (complex: extended once by 30)'),\n"
	"  ('settle', 'denunciation', 1, 2, 'calendar_days', 90, 'LTC 30 (especially complex: extended twice by 30)'),\n"
	"  ('settle', 'recommendation', 1, 0, 'working_days', 15, 'portal default (configurable)'),\n"
	"  ('settle', 'feedback', 1, 0, 'working_days', 15, 'portal default (configurable)');\n"
	"CREATE TABLE cases (\n"
	"  id TEXT PRIMARY KEY NOT NULL,\n"
	"  tracking_code TEXT NOT NULL UNIQUE,\n"
	"  kind TEXT NOT NULL CHECK (kind IN ('complaint', 'denunciation', 'recommendation', 'feedback')),\n"
	"  field TEXT NOT NULL REFERENCES fields(code),\n"
	"  title TEXT NOT NULL CHECK (title <> ''),\n"
	"  content TEXT NOT NULL CHECK (content <> ''),\n"
	"  status TEXT NOT NULL CHECK (status IN ('received', 'accepted', 'suspended', 'forwarded',\n"
	"    'guided', 'rejected', 'filed', 'withdrawn', 'decided', 'closed', 'terminated')),\n"
	"  instance INTEGER NOT NULL DEFAULT 1 CHECK (instance IN (1, 2)),\n"
	"  agency_id TEXT NOT NULL REFERENCES agencies(id),\n"
	"  first_resolver_id TEXT REFERENCES agencies(id),\n"
	"  assigned_official_id TEXT REFERENCES users(id),\n"
	"  petitioner_user_id TEXT REFERENCES users(id),\n"
	"  petitioner_mac TEXT NOT NULL,\n"
	"  petitioner TEXT,\n"
	"  petitioner_sealed BLOB,\n"
	"  mass INTEGER NOT NULL DEFAULT 0 CHECK (mass IN (0, 1)),\n"
	"  complex INTEGER NOT NULL DEFAULT 0 CHECK (complex IN (0, 1, 2)),\n"
	"  locality_code TEXT NOT NULL,\n"
	"  respondent TEXT,\n"
	"  incident_date TEXT,\n"
	"  via TEXT NOT NULL CHECK (via IN ('online', 'in_person', 'post', 'forwarded_in')),\n"
	"  received_on TEXT NOT NULL,\n"
	"  received_at TEXT NOT NULL,\n"
	"  stage_started_on TEXT NOT NULL,\n"
	"  forwards INTEGER NOT NULL DEFAULT 0,\n"
	"  extensions INTEGER NOT NULL DEFAULT 0,\n"
	"  suspended_days TEXT NOT NULL DEFAULT '[]',\n"
	"  duplicate_of TEXT REFERENCES cases(id),\n"
	"  repeat_after_termination INTEGER NOT NULL DEFAULT 0,\n"
	"  outcome TEXT CHECK (outcome IN ('upheld', 'partly_upheld', 'rejected')),\n"
	"  decided_on TEXT,\n"
	"  effective_on TEXT,\n"
	"  updated_at TEXT NOT NULL,\n"
	"  CHECK ((petitioner IS NULL) <> (petitioner_sealed IS NULL)),\n"
	"  CHECK ((kind = 'denunciation') = (petitioner_sealed IS NOT NULL)),\n"
	"  CHECK (duplicate_of IS NULL OR duplicate_of <> id)\n"
	") STRICT;\n"
	"CREATE INDEX cases_agency_status ON cases(agency_id, status);\n"
	"CREATE INDEX cases_petitioner_user ON cases(petitioner_user_id);\n"
	"CREATE INDEX cases_petitioner_mac ON cases(petitioner_mac);\n"
	"CREATE INDEX cases_received ON cases(received_at);\n"
	"CREATE TABLE case_persons (\n"
	"  case_id TEXT NOT NULL REFERENCES cases(id),\n"
	"  seq INTEGER NOT NULL,\n"
	"  mac TEXT NOT NULL,\n"
	"  person TEXT,\n"
	"  person_sealed BLOB,\n"
	"  representative INTEGER NOT NULL DEFAULT 0 CHECK (representative IN (0, 1)),\n"
	"  PRIMARY KEY (case_id, seq),\n"
	"  CHECK ((person IS NULL) <> (person_sealed IS NULL))\n"
	") STRICT;\n"
	"CREATE INDEX case_persons_mac ON case_persons(mac);\n"
	"CREATE TABLE timeline (\n"
	"  case_id TEXT NOT NULL REFERENCES cases(id),\n"
	"  seq INTEGER NOT NULL CHECK (seq > 0),\n"
	"  at TEXT NOT NULL,\n"
	"  actor_id TEXT,\n"
	"  action TEXT NOT NULL CHECK (action <> ''),\n"
	"  data TEXT NOT NULL,\n"
	"  prev_hash TEXT NOT NULL CHECK (length(prev_hash) = 64),\n"
	"  hash TEXT NOT NULL CHECK (length(hash) = 64),\n"
	"  PRIMARY KEY (case_id, seq)\n"
	") STRICT;\n"
	"CREATE TRIGGER timeline_no_update BEFORE UPDATE ON timeline\n"
	"  BEGIN SELECT RAISE(ABORT, 'the case timeline is append-only'); END;\n"
	"CREATE TRIGGER timeline_no_delete BEFORE DELETE ON timeline\n"
	"  BEGIN SELECT RAISE(ABORT, 'the case timeline is append-only'); END;\n"
	"CREATE VIRTUAL TABLE cases_fts USING fts5(title, content, content='cases', content_rowid='rowid',\n"
	"  tokenize='unicode61 remove_diacritics 2');\n"
	"CREATE TABLE case_holders (\n"
	"  case_id TEXT NOT NULL REFERENCES cases(id),\n"
	"  agency_id TEXT NOT NULL REFERENCES agencies(id),\n"
	"  since TEXT NOT NULL,\n"
	"  PRIMARY KEY (case_id, agency_id)\n"
	") STRICT;\n"
	"CREATE INDEX case_holders_agency ON case_holders(agency_id);\n"
	"CREATE TABLE receptions (\n"
	"  id TEXT PRIMARY KEY NOT NULL,\n"
	"  agency_id TEXT NOT NULL REFERENCES agencies(id),\n"
	"  official_id TEXT NOT NULL REFERENCES users(id),\n"
	"  received_at TEXT NOT NULL,\n"
	"  mode TEXT NOT NULL CHECK (mode IN ('in_person', 'online')),\n"
	"  leader_day INTEGER NOT NULL DEFAULT 0 CHECK (leader_day IN (0, 1)),\n"
	"  kind TEXT CHECK (kind IN ('complaint', 'denunciation', 'recommendation', 'feedback')),\n"
	"  people_count INTEGER NOT NULL CHECK (people_count >= 1),\n"
	"  citizens TEXT,\n"
	"  citizens_sealed BLOB,\n"
	"  summary TEXT NOT NULL,\n"
	"  guidance TEXT,\n"
	"  case_id TEXT REFERENCES cases(id),\n"
	"  refused_reason TEXT,\n"
	"  created_at TEXT NOT NULL,\n"
	"  CHECK ((citizens IS NULL) <> (citizens_sealed IS NULL))\n"
	") STRICT;\n"
	"CREATE INDEX receptions_agency ON receptions(agency_id, received_at);\n";
/* clang-format on */

/*
 * Migration 5: attachments. A file is stored once per SHA-256; who uploaded
 * it (and so may attach it) and which cases hold it are separate tables.
 * Also the anchor of each case's timeline: its length and head hash, kept in
 * the case row by timeline_append().
 */
/* clang-format off */
static const char migration_5[] =
	"CREATE TABLE files (\n"
	"  id TEXT PRIMARY KEY NOT NULL,\n"
	"  sha256 TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),\n"
	"  bytes INTEGER NOT NULL CHECK (bytes > 0),\n"
	"  content_type TEXT NOT NULL CHECK (content_type IN ('application/pdf', 'image/jpeg',\n"
	"    'image/png', 'video/webm')),\n"
	"  created_at TEXT NOT NULL\n"
	") STRICT;\n"
	"CREATE TABLE file_owners (\n"
	"  file_id TEXT NOT NULL REFERENCES files(id),\n"
	"  user_id TEXT NOT NULL REFERENCES users(id),\n"
	"  uploaded_at TEXT NOT NULL,\n"
	"  PRIMARY KEY (file_id, user_id)\n"
	") STRICT;\n"
	"CREATE TABLE case_files (\n"
	"  case_id TEXT NOT NULL REFERENCES cases(id),\n"
	"  file_id TEXT NOT NULL REFERENCES files(id),\n"
	"  added_at TEXT NOT NULL,\n"
	"  PRIMARY KEY (case_id, file_id)\n"
	") STRICT;\n"
	"CREATE INDEX case_files_file ON case_files(file_id);\n"
	/* The chain's head and length, so that cutting events off its end is seen too. */
	"ALTER TABLE cases ADD COLUMN timeline_length INTEGER NOT NULL DEFAULT 0;\n"
	"ALTER TABLE cases ADD COLUMN timeline_head TEXT;\n";
/* clang-format on */

/*
 * Migration 6: reception schedules and appointments (PROTOCOL.md §6). The
 * invariants that must hold under any concurrency are in the schema:
 *  - a seat of a slot is held by at most one active appointment (partial
 *    unique index on (slot_id, seat) WHERE status = 'active'), and no seat
 *    number exceeds the slot's capacity (triggers on insert and update), so a
 *    slot never holds more active appointments than its capacity;
 *  - a citizen holds at most one active appointment per slot and waits at
 *    most once per slot;
 *  - a slot's capacity and times never change once published;
 *  - a reminder is one row per (appointment, offset, recipient): sent_at is
 *    set once.
 * Times are stored twice: as RFC 3339 text in the portal's zone (what the
 * wire shows) and as Unix seconds (what comparisons use).
 */
/* clang-format off */
static const char migration_6[] =
	"CREATE TABLE schedules (\n"
	"  id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),\n"
	"  agency_id TEXT NOT NULL REFERENCES agencies(id),\n"
	"  host_id TEXT NOT NULL REFERENCES users(id),\n"
	"  mode TEXT NOT NULL CHECK (mode IN ('in_person', 'online')),\n"
	"  location TEXT,\n"
	"  leader_day INTEGER NOT NULL DEFAULT 0 CHECK (leader_day IN (0, 1)),\n"
	"  ad_hoc INTEGER NOT NULL DEFAULT 0 CHECK (ad_hoc IN (0, 1)),\n"
	"  created_by TEXT NOT NULL REFERENCES users(id),\n"
	"  created_at TEXT NOT NULL\n"
	") STRICT;\n"
	"CREATE TABLE slots (\n"
	"  id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),\n"
	"  schedule_id TEXT NOT NULL REFERENCES schedules(id),\n"
	"  agency_id TEXT NOT NULL REFERENCES agencies(id),\n"
	"  host_id TEXT NOT NULL REFERENCES users(id),\n"
	"  start_at TEXT NOT NULL,\n"
	"  end_at TEXT NOT NULL,\n"
	"  start_s INTEGER NOT NULL,\n"
	"  end_s INTEGER NOT NULL,\n"
	"  capacity INTEGER NOT NULL CHECK (capacity BETWEEN 1 AND 1000),\n"
	"  mode TEXT NOT NULL CHECK (mode IN ('in_person', 'online')),\n"
	"  location TEXT,\n"
	"  leader_day INTEGER NOT NULL DEFAULT 0 CHECK (leader_day IN (0, 1)),\n"
	"  CHECK (end_s > start_s)\n"
	") STRICT;\n"
	"CREATE INDEX slots_start ON slots(start_s);\n"
	"CREATE INDEX slots_agency ON slots(agency_id, start_s);\n"
	"CREATE INDEX slots_schedule ON slots(schedule_id);\n"
	"CREATE TRIGGER slots_fixed BEFORE UPDATE OF capacity, start_s, end_s, agency_id ON slots\n"
	"  BEGIN SELECT RAISE(ABORT, 'a published slot does not change'); END;\n"
	"CREATE TABLE appointments (\n"
	"  id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),\n"
	"  slot_id TEXT NOT NULL REFERENCES slots(id),\n"
	"  citizen_id TEXT NOT NULL REFERENCES users(id),\n"
	"  seat INTEGER NOT NULL CHECK (seat >= 1),\n"
	"  status TEXT NOT NULL CHECK (status IN ('active', 'cancelled')),\n"
	"  topic TEXT NOT NULL,\n"
	"  case_id TEXT REFERENCES cases(id),\n"
	"  created_at TEXT NOT NULL,\n"
	"  cancelled_at TEXT,\n"
	"  cancel_reason TEXT,\n"
	"  cancelled_by TEXT REFERENCES users(id),\n"
	"  CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))\n"
	") STRICT;\n"
	"CREATE UNIQUE INDEX appointments_one_seat ON appointments(slot_id, seat)\n"
	"  WHERE status = 'active';\n"
	"CREATE UNIQUE INDEX appointments_once_per_slot ON appointments(slot_id, citizen_id)\n"
	"  WHERE status = 'active';\n"
	"CREATE INDEX appointments_citizen ON appointments(citizen_id, status);\n"
	"CREATE TRIGGER appointments_seat_in_capacity BEFORE INSERT ON appointments\n"
	"  WHEN NEW.seat > (SELECT capacity FROM slots WHERE id = NEW.slot_id)\n"
	"  BEGIN SELECT RAISE(ABORT, 'seat beyond the capacity of the slot'); END;\n"
	"CREATE TRIGGER appointments_seat_in_capacity_update\n"
	"  BEFORE UPDATE OF slot_id, seat, status ON appointments\n"
	"  WHEN NEW.status = 'active' AND NEW.seat > (SELECT capacity FROM slots WHERE id = NEW.slot_id)\n"
	"  BEGIN SELECT RAISE(ABORT, 'seat beyond the capacity of the slot'); END;\n"
	"CREATE TABLE waitlist (\n"
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,\n"
	"  slot_id TEXT NOT NULL REFERENCES slots(id),\n"
	"  citizen_id TEXT NOT NULL REFERENCES users(id),\n"
	"  topic TEXT NOT NULL,\n"
	"  case_id TEXT REFERENCES cases(id),\n"
	"  joined_at TEXT NOT NULL,\n"
	"  UNIQUE (slot_id, citizen_id)\n"
	") STRICT;\n"
	"CREATE TABLE reminders (\n"
	"  appointment_id TEXT NOT NULL REFERENCES appointments(id),\n"
	"  offset_min INTEGER NOT NULL CHECK (offset_min > 0),\n"
	"  user_id TEXT NOT NULL REFERENCES users(id),\n"
	"  due_s INTEGER NOT NULL,\n"
	"  sent_at TEXT,\n"
	"  PRIMARY KEY (appointment_id, offset_min, user_id)\n"
	") STRICT;\n"
	"CREATE INDEX reminders_due ON reminders(due_s) WHERE sent_at IS NULL;\n"
	"CREATE TRIGGER reminders_sent_once BEFORE UPDATE OF sent_at ON reminders\n"
	"  WHEN OLD.sent_at IS NOT NULL\n"
	"  BEGIN SELECT RAISE(ABORT, 'a reminder is sent once'); END;\n";
/* clang-format on */

/*
 * Migration 7: dialogues of a case (DOMAIN.md §6) and their participants.
 * A dialogue's minutes are written once (trigger); they also go to the case
 * timeline, which stays the record.
 */
/* clang-format off */
static const char migration_7[] =
	"CREATE TABLE dialogues (\n"
	"  id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),\n"
	"  case_id TEXT NOT NULL REFERENCES cases(id),\n"
	"  agency_id TEXT NOT NULL REFERENCES agencies(id),\n"
	"  start_at TEXT NOT NULL,\n"
	"  end_at TEXT NOT NULL,\n"
	"  start_s INTEGER NOT NULL,\n"
	"  end_s INTEGER NOT NULL,\n"
	"  mode TEXT NOT NULL CHECK (mode IN ('in_person', 'online')),\n"
	"  location TEXT,\n"
	"  created_by TEXT NOT NULL REFERENCES users(id),\n"
	"  created_at TEXT NOT NULL,\n"
	"  minutes_seq INTEGER,\n"
	"  minutes TEXT,\n"
	"  CHECK (end_s > start_s)\n"
	") STRICT;\n"
	"CREATE INDEX dialogues_case ON dialogues(case_id);\n"
	"CREATE INDEX dialogues_agency ON dialogues(agency_id, start_s);\n"
	"CREATE TRIGGER dialogues_minutes_once BEFORE UPDATE OF minutes_seq ON dialogues\n"
	"  WHEN OLD.minutes_seq IS NOT NULL\n"
	"  BEGIN SELECT RAISE(ABORT, 'the minutes of a dialogue are written once'); END;\n"
	"CREATE TABLE dialogue_participants (\n"
	"  dialogue_id TEXT NOT NULL REFERENCES dialogues(id),\n"
	"  user_id TEXT NOT NULL REFERENCES users(id),\n"
	"  role TEXT NOT NULL CHECK (role IN ('resolver', 'complainant', 'representative',\n"
	"    'respondent', 'interested_party', 'related_agency', 'official')),\n"
	"  PRIMARY KEY (dialogue_id, user_id)\n"
	") STRICT;\n"
	"CREATE INDEX dialogue_participants_user ON dialogue_participants(user_id);\n";
/* clang-format on */

/*
 * Migration 8: scheduling, continued.
 *  - SEQUENCE of the iCalendar feed: a counter per appointment and dialogue
 *    that the schema raises itself on every change of time or status (an
 *    appointment moved to another slot or cancelled; a dialogue's time, mode
 *    or place), so no code path can change an event without calendar clients
 *    seeing a higher SEQUENCE. A cancelled appointment already showed
 *    SEQUENCE 1: it starts at 1.
 *  - A dialogue participant is never double-booked: scheduling a dialogue
 *    whose participant holds an active appointment (as citizen or host) or
 *    another dialogue overlapping it is refused by a trigger unless the
 *    dialogue carries an override reason (staff's explicit override).
 *  - The warnings that a leader's reception days fall short for a month
 *    (DOMAIN.md §5): one row per agency and month holding the last day (in
 *    the portal's zone) it was announced, so a month is announced at most once
 *    a day, across restarts.
 *  - An index on the slots of a host, for the double-booking check.
 */
/* clang-format off */
static const char migration_8[] =
	"ALTER TABLE appointments ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0\n"
	"  CHECK (sequence >= 0);\n"
	"UPDATE appointments SET sequence = 1 WHERE status = 'cancelled';\n"
	"CREATE TRIGGER appointments_sequence AFTER UPDATE OF slot_id, status ON appointments\n"
	"  WHEN NEW.slot_id IS NOT OLD.slot_id OR NEW.status IS NOT OLD.status\n"
	"  BEGIN UPDATE appointments SET sequence = OLD.sequence + 1 WHERE id = NEW.id; END;\n"
	"CREATE TRIGGER appointments_sequence_grows BEFORE UPDATE OF sequence ON appointments\n"
	"  WHEN NEW.sequence < OLD.sequence\n"
	"  BEGIN SELECT RAISE(ABORT, 'the sequence of an appointment never decreases'); END;\n"
	"ALTER TABLE dialogues ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0\n"
	"  CHECK (sequence >= 0);\n"
	"ALTER TABLE dialogues ADD COLUMN override_reason TEXT\n"
	"  CHECK (override_reason IS NULL OR length(override_reason) BETWEEN 1 AND 500);\n"
	"CREATE TRIGGER dialogues_sequence AFTER UPDATE OF start_s, end_s, mode, location ON dialogues\n"
	"  WHEN NEW.start_s IS NOT OLD.start_s OR NEW.end_s IS NOT OLD.end_s\n"
	"    OR NEW.mode IS NOT OLD.mode OR NEW.location IS NOT OLD.location\n"
	"  BEGIN UPDATE dialogues SET sequence = OLD.sequence + 1 WHERE id = NEW.id; END;\n"
	"CREATE TRIGGER dialogues_sequence_grows BEFORE UPDATE OF sequence ON dialogues\n"
	"  WHEN NEW.sequence < OLD.sequence\n"
	"  BEGIN SELECT RAISE(ABORT, 'the sequence of a dialogue never decreases'); END;\n"
	"CREATE INDEX slots_host ON slots(host_id, start_s);\n"
	"CREATE TRIGGER dialogue_participants_free BEFORE INSERT ON dialogue_participants\n"
	"  WHEN (SELECT override_reason FROM dialogues WHERE id = NEW.dialogue_id) IS NULL AND (\n"
	"    EXISTS (SELECT 1 FROM dialogues d, dialogue_participants p JOIN dialogues o\n"
	"      ON o.id = p.dialogue_id WHERE d.id = NEW.dialogue_id AND p.user_id = NEW.user_id\n"
	"      AND o.id <> d.id AND o.start_s < d.end_s AND o.end_s > d.start_s)\n"
	"    OR EXISTS (SELECT 1 FROM dialogues d, appointments a JOIN slots s ON s.id = a.slot_id\n"
	"      WHERE d.id = NEW.dialogue_id AND a.citizen_id = NEW.user_id AND a.status = 'active'\n"
	"      AND s.start_s < d.end_s AND s.end_s > d.start_s)\n"
	"    OR EXISTS (SELECT 1 FROM dialogues d, slots s JOIN appointments a ON a.slot_id = s.id\n"
	"      WHERE d.id = NEW.dialogue_id AND s.host_id = NEW.user_id AND a.status = 'active'\n"
	"      AND s.start_s < d.end_s AND s.end_s > d.start_s))\n"
	"  BEGIN SELECT RAISE(ABORT, 'a participant of the dialogue is double-booked'); END;\n"
	"CREATE TABLE leader_days_warnings (\n"
	"  agency_id TEXT NOT NULL REFERENCES agencies(id),\n"
	"  month TEXT NOT NULL CHECK (month GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]'),\n"
	"  day TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),\n"
	"  sent_at TEXT NOT NULL,\n"
	"  PRIMARY KEY (agency_id, month)\n"
	") STRICT;\n";
/*
 * 9: what finding a petitioner's related cases compares, kept so that it is
 * read from one index instead of every earlier case's row: the telling words
 * of each case (folded, distinct, space-separated) and the respondent's
 * agency, both written at intake. NULL words mark the cases of before, whose
 * title, content and respondent are read then, as before. The new index
 * begins with petitioner_mac, so the old one on that column alone goes.
 */
static const char migration_9[] =
	"ALTER TABLE cases ADD COLUMN words TEXT;\n"
	"ALTER TABLE cases ADD COLUMN respondent_agency TEXT;\n"
	"CREATE INDEX cases_petitioner_related\n"
	"  ON cases(petitioner_mac, received_at, status, field, respondent_agency, words);\n"
	"DROP INDEX cases_petitioner_mac;\n";
/* clang-format on */


/*
 * Migration 10: reports (PROTOCOL.md §7; docs/reports.md).
 *  - report_stints: one narrow row per stay of a case at an agency (a forward
 *    or an appeal starts a new one), kept by triggers on `cases`, so that no
 *    code path can change a case without the reports seeing it, and a report
 *    over a million cases reads this table only, never the wide case rows.
 *    Days are the portal's local dates as day numbers (days since 1970-01-01,
 *    so that a million rows compare integers): received_day (the day this
 *    agency got it: the case's received_on, or the day of the forward or
 *    appeal), accepted_day, settled_day (the day it stopped pending here: a
 *    decision, a forward, guidance, rejection, filing or withdrawal),
 *    decided_day, stage_day (the start of the current stage).
 *    Existing cases get one stint each, at their current agency.
 *  - report_refusals: a forward refused because the target was not competent.
 *  - hotspots and hotspot_cases: early warnings (many petitions on one
 *    locality and field, or against one respondent, within a window; a mass
 *    petition) and the cases that make them; hotspot_intake: what the rules
 *    match on, one row per case received since.
 */
/* clang-format off */
#define OPEN_STATUSES "('received', 'accepted', 'suspended')"
#define CURRENT_STINT "(SELECT max(stint) FROM report_stints WHERE case_rowid = NEW.rowid)"
/* The day number (days since 1970-01-01) of the date that starts a text. */
#define DAY(x) "CAST(julianday(substr(" x ", 1, 10)) - 2440587.5 AS INTEGER)"
static const char migration_10[] =
	"CREATE TABLE report_stints (\n"
	"  case_rowid INTEGER NOT NULL,\n"
	"  stint INTEGER NOT NULL CHECK (stint >= 1),\n"
	"  agency_id TEXT NOT NULL,\n"
	"  kind TEXT NOT NULL,\n"
	"  field TEXT NOT NULL,\n"
	"  status TEXT NOT NULL,\n"
	"  instance INTEGER NOT NULL,\n"
	"  mass INTEGER NOT NULL,\n"
	"  complex INTEGER NOT NULL,\n"
	"  repeat INTEGER NOT NULL,\n"
	"  duplicate INTEGER NOT NULL,\n"
	"  received_day INTEGER NOT NULL,\n"
	"  accepted_day INTEGER,\n"
	"  settled_day INTEGER,\n"
	"  decided_day INTEGER,\n"
	"  outcome TEXT,\n"
	"  stage_day INTEGER NOT NULL,\n"
	"  extensions INTEGER NOT NULL,\n"
	"  suspended_days TEXT NOT NULL,\n"
	"  PRIMARY KEY (case_rowid, stint)\n"
	") STRICT, WITHOUT ROWID;\n"
	"CREATE INDEX report_stints_agency ON report_stints(agency_id, received_day);\n"
	"INSERT INTO report_stints SELECT rowid, 1, agency_id, kind, field, status, instance, mass,\n"
	"  complex, repeat_after_termination, duplicate_of IS NOT NULL, " DAY("received_on") ",\n"
	"  CASE WHEN status NOT IN ('received', 'guided', 'rejected', 'filed') THEN " DAY("stage_started_on") " END,\n"
	"  CASE WHEN status NOT IN " OPEN_STATUSES " THEN " DAY("coalesce(decided_on, updated_at)") " END,\n"
	"  " DAY("decided_on") ", outcome, " DAY("stage_started_on") ", extensions, suspended_days\n"
	"FROM cases;\n"
	"CREATE TRIGGER report_stints_insert AFTER INSERT ON cases BEGIN\n"
	"  INSERT INTO report_stints VALUES (NEW.rowid, 1, NEW.agency_id, NEW.kind, NEW.field,\n"
	"    NEW.status, NEW.instance, NEW.mass, NEW.complex, NEW.repeat_after_termination,\n"
	"    NEW.duplicate_of IS NOT NULL, " DAY("NEW.received_on") ",\n"
	"    CASE WHEN NEW.status NOT IN ('received', 'guided', 'rejected', 'filed') THEN " DAY("NEW.stage_started_on") " END,\n"
	"    CASE WHEN NEW.status NOT IN " OPEN_STATUSES " THEN " DAY("coalesce(NEW.decided_on, NEW.updated_at)") " END,\n"
	"    " DAY("NEW.decided_on") ", NEW.outcome, " DAY("NEW.stage_started_on") ", NEW.extensions,\n"
	"    NEW.suspended_days);\n"
	"END;\n"
	/* A forward (same instance) ends the stint as 'forwarded'; an appeal leaves it decided. */
	"CREATE TRIGGER report_stints_move AFTER UPDATE OF agency_id, instance ON cases\n"
	"  WHEN NEW.agency_id IS NOT OLD.agency_id OR NEW.instance IS NOT OLD.instance\n"
	"BEGIN\n"
	"  UPDATE report_stints SET\n"
	"    status = CASE WHEN NEW.instance = OLD.instance THEN 'forwarded' ELSE status END,\n"
	"    settled_day = coalesce(settled_day, " DAY("NEW.updated_at") ")\n"
	"  WHERE case_rowid = NEW.rowid AND stint = " CURRENT_STINT ";\n"
	"  INSERT INTO report_stints SELECT NEW.rowid, max(stint) + 1, NEW.agency_id, NEW.kind,\n"
	"    NEW.field, NEW.status, NEW.instance, NEW.mass, NEW.complex,\n"
	"    NEW.repeat_after_termination, NEW.duplicate_of IS NOT NULL,\n"
	"    " DAY("NEW.updated_at") ", NULL, NULL, NULL, NULL, " DAY("NEW.stage_started_on") ",\n"
	"    NEW.extensions, NEW.suspended_days FROM report_stints WHERE case_rowid = NEW.rowid;\n"
	"END;\n"
	"CREATE TRIGGER report_stints_update AFTER UPDATE OF status, kind, field, mass, complex,\n"
	"  repeat_after_termination, duplicate_of, outcome, decided_on, stage_started_on, extensions,\n"
	"  suspended_days ON cases\n"
	"  WHEN NEW.agency_id IS OLD.agency_id AND NEW.instance IS OLD.instance\n"
	"BEGIN\n"
	"  UPDATE report_stints SET kind = NEW.kind, field = NEW.field, mass = NEW.mass,\n"
	"    complex = NEW.complex, repeat = NEW.repeat_after_termination,\n"
	"    duplicate = NEW.duplicate_of IS NOT NULL\n"
	"  WHERE case_rowid = NEW.rowid;\n"
	"  UPDATE report_stints SET status = NEW.status,\n"
	"    accepted_day = CASE WHEN NEW.status = 'accepted' AND OLD.status = 'received'\n"
	"      THEN " DAY("NEW.updated_at") " ELSE accepted_day END,\n"
	"    settled_day = CASE WHEN OLD.status IN " OPEN_STATUSES " AND NEW.status NOT IN " OPEN_STATUSES "\n"
	"      THEN " DAY("NEW.updated_at") " ELSE settled_day END,\n"
	"    decided_day = coalesce(" DAY("NEW.decided_on") ", decided_day),\n"
	"    outcome = coalesce(NEW.outcome, outcome),\n"
	"    stage_day = " DAY("NEW.stage_started_on") ", extensions = NEW.extensions,\n"
	"    suspended_days = NEW.suspended_days\n"
	"  WHERE case_rowid = NEW.rowid AND stint = " CURRENT_STINT ";\n"
	"END;\n"
	"CREATE TABLE report_refusals (\n"
	"  case_rowid INTEGER NOT NULL,\n"
	"  agency_id TEXT NOT NULL,\n"
	"  to_agency_id TEXT NOT NULL,\n"
	"  day TEXT NOT NULL\n"
	") STRICT;\n"
	"CREATE INDEX report_refusals_day ON report_refusals(day);\n"
	"CREATE TABLE hotspots (\n"
	"  id TEXT PRIMARY KEY NOT NULL CHECK (id <> ''),\n"
	"  kind TEXT NOT NULL CHECK (kind IN ('locality_field', 'respondent', 'mass')),\n"
	"  key TEXT NOT NULL,\n"
	"  locality_code TEXT,\n"
	"  field TEXT,\n"
	"  respondent_agency_id TEXT,\n"
	"  threshold INTEGER NOT NULL,\n"
	"  window_days INTEGER NOT NULL,\n"
	"  first_on TEXT NOT NULL,\n"
	"  last_on TEXT NOT NULL,\n"
	"  created_at TEXT NOT NULL\n"
	") STRICT;\n"
	"CREATE INDEX hotspots_key ON hotspots(key, last_on);\n"
	"CREATE TABLE hotspot_cases (\n"
	"  hotspot_id TEXT NOT NULL REFERENCES hotspots(id),\n"
	"  case_id TEXT NOT NULL REFERENCES cases(id),\n"
	"  agency_id TEXT NOT NULL,\n"
	"  PRIMARY KEY (hotspot_id, case_id)\n"
	") STRICT;\n"
	"CREATE INDEX hotspot_cases_case ON hotspot_cases(case_id);\n"
	"CREATE INDEX hotspot_cases_agency ON hotspot_cases(agency_id);\n"
	/* What the hot spot rules match on, written at intake (reports.c, spot_txn). */
	"CREATE TABLE hotspot_intake (\n"
	"  case_id TEXT PRIMARY KEY NOT NULL REFERENCES cases(id),\n"
	"  agency_id TEXT NOT NULL,\n"
	"  locality_code TEXT NOT NULL,\n"
	"  field TEXT NOT NULL,\n"
	"  respondent_agency_id TEXT,\n"
	"  day TEXT NOT NULL\n"
	") STRICT;\n"
	"CREATE INDEX hotspot_intake_locality ON hotspot_intake(locality_code, field, day);\n"
	"CREATE INDEX hotspot_intake_respondent ON hotspot_intake(respondent_agency_id, day)\n"
	"  WHERE respondent_agency_id IS NOT NULL;\n";
/* clang-format on */

const char *const store_migrations[] = {
    migration_1,
    migration_2,
    migration_3,
    migration_4,
    migration_5,
    migration_6,
    migration_7,
    migration_8,
    migration_9,
    migration_10,
};

const size_t store_n_migrations = G_N_ELEMENTS(store_migrations);
