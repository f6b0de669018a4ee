/* SPDX-License-Identifier: AGPL-3.0-or-later */
#include "tiepdan/files.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sodium.h>
#include <string.h>
#include <unistd.h>

#include "tiepdan/log.h"

#define MOD "files"
#define TICKET_TTL_US (5 * 60 * G_USEC_PER_SEC)

struct ticket {
	char *file_id;
	char *user_id;
	int64_t expires_us;
};

struct files {
	struct store *store;
	char *dir;    /* DATA_DIR/files */
	char *tmp;    /* DATA_DIR/files/tmp */
	size_t max_bytes;
	GHashTable *tickets; /* ticket → struct ticket* */
};

struct files_upload {
	struct files *f;
	char *user_id;
	char *declared;
	char *tmp_path;
	int fd;
	size_t bytes;
	unsigned char head[8];
	crypto_hash_sha256_state sha;
	/* filled when finishing */
	char sha_hex[65];
	char id[23];
	const char *type;
	char *final_path;
	bool created;
	void (*done)(int status, json_t *body, void *data);
	void *data;
};

static void
ticket_free(gpointer p)
{
	struct ticket *t = p;
	g_free(t->file_id);
	g_free(t->user_id);
	g_free(t);
}

struct files *
files_create(struct store *store, const char *data_dir, size_t max_bytes, GError **error)
{
	struct files *f = g_new0(struct files, 1);
	f->store = store;
	f->dir = g_build_filename(data_dir, "files", NULL);
	f->tmp = g_build_filename(f->dir, "tmp", NULL);
	f->max_bytes = max_bytes ? max_bytes : 10 * 1024 * 1024;
	f->tickets = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, ticket_free);
	if (g_mkdir_with_parents(f->tmp, 0700) < 0) {
		g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot create %s: %s", f->tmp, g_strerror(errno));
		files_destroy(f);
		return NULL;
	}
	/* Uploads a crash interrupted are only half there: they never count. */
	GDir *d = g_dir_open(f->tmp, 0, NULL);
	const char *name;
	while (d && (name = g_dir_read_name(d))) {
		char *p = g_build_filename(f->tmp, name, NULL);
		g_unlink(p);
		g_free(p);
	}
	if (d) {
		g_dir_close(d);
	}
	return f;
}

void
files_destroy(struct files *f)
{
	if (!f) {
		return;
	}
	g_hash_table_destroy(f->tickets);
	g_free(f->dir);
	g_free(f->tmp);
	g_free(f);
}

/* The type of a file as its first bytes say: PDF, JPEG, PNG, or none. */
static const char *
sniff(const unsigned char *b, size_t n)
{
	if (n >= 5 && memcmp(b, "%PDF-", 5) == 0) {
		return "application/pdf";
	}
	if (n >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) {
		return "image/jpeg";
	}
	if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) {
		return "image/png";
	}
	return NULL;
}

static bool
allowed_type(const char *t)
{
	return t && (strcmp(t, "application/pdf") == 0 || strcmp(t, "image/jpeg") == 0 ||
		     strcmp(t, "image/png") == 0);
}

struct files_upload *
files_upload_begin(struct files *f, const char *user_id, const char *content_type, int64_t length,
		   int *status)
{
	char *type = content_type ? g_ascii_strdown(content_type, -1) : NULL;
	char *semi = type ? strchr(type, ';') : NULL;
	if (semi) {
		*semi = '\0';
	}
	if (type) {
		g_strstrip(type);
	}
	if (!allowed_type(type)) {
		*status = 415;
		g_free(type);
		return NULL;
	}
	if (length > (int64_t)f->max_bytes) {
		*status = 413;
		g_free(type);
		return NULL;
	}
	struct files_upload *u = g_new0(struct files_upload, 1);
	u->f = f;
	u->user_id = g_strdup(user_id);
	u->declared = type;
	u->tmp_path = g_build_filename(f->tmp, "upload-XXXXXX", NULL);
	u->fd = g_mkstemp_full(u->tmp_path, O_RDWR | O_CLOEXEC, 0600);
	if (u->fd < 0) {
		td_error(MOD, "cannot create an upload file", "err=\"%s\"", g_strerror(errno));
		*status = 500;
		files_upload_abort(u);
		return NULL;
	}
	crypto_hash_sha256_init(&u->sha);
	return u;
}

int
files_upload_write(struct files_upload *u, const void *buf, size_t len)
{
	if (len == 0 || !buf) {
		return 0;
	}
	if (u->bytes + len > u->f->max_bytes) {
		return 413;
	}
	if (u->bytes < sizeof(u->head)) {
		size_t n = MIN(len, sizeof(u->head) - u->bytes);
		memcpy(u->head + u->bytes, buf, n);
	}
	const char *p = buf;
	size_t left = len;
	while (left > 0) {
		ssize_t w = write(u->fd, p, left);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			td_error(MOD, "upload write failed", "err=\"%s\"", g_strerror(errno));
			return errno == ENOSPC ? 507 : 500;
		}
		p += w;
		left -= (size_t)w;
	}
	crypto_hash_sha256_update(&u->sha, buf, len);
	u->bytes += len;
	return 0;
}

void
files_upload_abort(struct files_upload *u)
{
	if (!u) {
		return;
	}
	if (u->fd >= 0) {
		close(u->fd);
	}
	if (u->tmp_path) {
		g_unlink(u->tmp_path);
	}
	g_free(u->tmp_path);
	g_free(u->final_path);
	g_free(u->user_id);
	g_free(u->declared);
	g_free(u);
}

static json_t *
error_body(const char *reason)
{
	return json_pack("{s:s}", "error", reason);
}

/* One row per hash, one per uploader; an existing hash keeps its id. */
static int
record_txn(sqlite3 *db, void *data)
{
	struct files_upload *u = data;
	char now[STORE_TIME_SIZE];
	sqlite3_stmt *st = NULL;
	store_time_now(now);
	int rc = sqlite3_prepare_v2(db, "SELECT id FROM files WHERE sha256 = ?1", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, u->sha_hex, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			g_strlcpy(u->id, (const char *)sqlite3_column_text(st, 0), sizeof(u->id));
			u->created = false;
		}
	}
	sqlite3_finalize(st);
	if (u->created) {
		rc = sqlite3_prepare_v2(db,
					"INSERT INTO files (id, sha256, bytes, content_type, created_at) "
					"VALUES (?1, ?2, ?3, ?4, ?5)",
					-1, &st, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, u->sha_hex, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 3, (sqlite3_int64)u->bytes);
			sqlite3_bind_text(st, 4, u->type, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
			rc = sqlite3_step(st);
		}
		sqlite3_finalize(st);
		if (rc != SQLITE_DONE) {
			return store_errno(rc);
		}
	}
	rc = sqlite3_prepare_v2(db,
				"INSERT OR IGNORE INTO file_owners (file_id, user_id, uploaded_at) "
				"VALUES (?1, ?2, ?3)",
				-1, &st, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_bind_text(st, 1, u->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, u->user_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : store_errno(rc);
}

static void
record_done(int status, void *data)
{
	struct files_upload *u = data;
	if (status < 0) {
		u->done(500, error_body("not_stored"), u->data);
	} else {
		td_info(MOD, "file stored", "file=%s bytes=%zu type=%s new=%d", u->id, u->bytes,
			u->type, u->created);
		u->done(201,
			json_pack("{s:s, s:s, s:I, s:s}", "file_id", u->id, "sha256", u->sha_hex,
				  "bytes", (json_int_t)u->bytes, "content_type", u->type),
			u->data);
	}
	files_upload_abort(u);
}

/*
 * The bytes decide the type, and it must be the declared one. The content is
 * fsynced and renamed to its hash's place before the row is committed, so a
 * recorded file is always on disk; a file already there is not written twice.
 */
void
files_upload_finish(struct files_upload *u, void (*done)(int status, json_t *body, void *data),
		    void *data)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	u->done = done;
	u->data = data;
	u->type = sniff(u->head, MIN(u->bytes, sizeof(u->head)));
	if (u->bytes == 0 || !u->type || strcmp(u->type, u->declared) != 0) {
		done(u->bytes == 0 ? 400 : 415, error_body(u->bytes == 0 ? "empty" : "type_mismatch"),
		     data);
		files_upload_abort(u);
		return;
	}
	crypto_hash_sha256_final(&u->sha, h);
	sodium_bin2hex(u->sha_hex, sizeof(u->sha_hex), h, sizeof(h));
	char sub[3] = {u->sha_hex[0], u->sha_hex[1], '\0'};
	char *dir = g_build_filename(u->f->dir, sub, NULL);
	u->final_path = g_build_filename(dir, u->sha_hex, NULL);
	bool ok = g_mkdir_with_parents(dir, 0700) == 0;
	if (ok && !g_file_test(u->final_path, G_FILE_TEST_EXISTS)) {
		ok = fsync(u->fd) == 0 && rename(u->tmp_path, u->final_path) == 0;
		int dfd = ok ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		if (dfd >= 0) {
			ok = fsync(dfd) == 0;
			close(dfd);
		}
	}
	g_free(dir);
	if (!ok) {
		td_error(MOD, "cannot store an upload", "err=\"%s\"", g_strerror(errno));
		done(500, error_body("not_stored"), data);
		files_upload_abort(u);
		return;
	}
	store_new_id(u->id);
	u->created = true;
	if (store_write(u->f->store, record_txn, record_done, u) < 0) {
		done(503, error_body("busy"), data);
		files_upload_abort(u);
	}
}

char *
files_ticket(struct files *f, const char *file_id, const char *user_id)
{
	unsigned char raw[24];
	char text[48];
	int64_t now = g_get_real_time();
	/* Expired tickets go when new ones come. */
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, f->tickets);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		if (((struct ticket *)v)->expires_us <= now) {
			g_hash_table_iter_remove(&it);
		}
	}
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(text, sizeof(text), raw, sizeof(raw),
			  sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	struct ticket *t = g_new0(struct ticket, 1);
	t->file_id = g_strdup(file_id);
	t->user_id = g_strdup(user_id);
	t->expires_us = now + TICKET_TTL_US;
	g_hash_table_insert(f->tickets, g_strdup(text), t);
	return g_strdup(text);
}

int
files_open(struct files *f, const char *file_id, const char *ticket, bool range, char **path,
	   char **content_type)
{
	struct ticket *t = ticket ? g_hash_table_lookup(f->tickets, ticket) : NULL;
	if (!t || t->expires_us <= g_get_real_time() || strcmp(t->file_id, file_id) != 0) {
		return -ENOENT;
	}
	sqlite3_stmt *st = NULL;
	int r = -ENOENT;
	if (sqlite3_prepare_v2(store_reader(f->store),
			       "SELECT sha256, content_type FROM files WHERE id = ?1", -1, &st,
			       NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, file_id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			const char *sha = (const char *)sqlite3_column_text(st, 0);
			char sub[3] = {sha[0], sha[1], '\0'};
			*path = g_build_filename(f->dir, sub, sha, NULL);
			*content_type = g_strdup((const char *)sqlite3_column_text(st, 1));
			r = 0;
		}
	}
	sqlite3_finalize(st);
	if (r == 0 && !range) {
		g_hash_table_remove(f->tickets, ticket);
	}
	return r;
}

bool
files_owned_by(sqlite3 *db, const char *file_id, const char *user_id)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM file_owners WHERE file_id = ?1 AND user_id = ?2",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, file_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, user_id, -1, SQLITE_STATIC);
		ok = sqlite3_step(st) == SQLITE_ROW;
	}
	sqlite3_finalize(st);
	return ok;
}

json_t *
files_json(sqlite3 *db, const char *file_id)
{
	sqlite3_stmt *st = NULL;
	json_t *j = NULL;
	if (sqlite3_prepare_v3(db, "SELECT sha256, bytes, content_type FROM files WHERE id = ?1",
			       -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, file_id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			j = json_pack("{s:s, s:s, s:I, s:s}", "file_id", file_id, "sha256",
				      (const char *)sqlite3_column_text(st, 0), "bytes",
				      (json_int_t)sqlite3_column_int64(st, 1), "content_type",
				      (const char *)sqlite3_column_text(st, 2));
		}
	}
	sqlite3_finalize(st);
	return j;
}

int
files_adopt(struct files *f, const char *path, const char *sha256)
{
	char sub[3] = {sha256[0], sha256[1], '\0'};
	char *dir = g_build_filename(f->dir, sub, NULL);
	char *dst = g_build_filename(dir, sha256, NULL);
	int r = 0;
	if (g_mkdir_with_parents(dir, 0700) < 0) {
		r = -errno;
	} else if (g_file_test(dst, G_FILE_TEST_EXISTS)) {
		g_unlink(path);
	} else {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		bool ok = fd >= 0 && fsync(fd) == 0 && rename(path, dst) == 0;
		r = ok ? 0 : -errno;
		if (fd >= 0) {
			close(fd);
		}
		int dfd = ok ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
		if (dfd >= 0) {
			r = fsync(dfd) == 0 ? 0 : -errno;
			close(dfd);
		}
	}
	g_free(dst);
	g_free(dir);
	return r;
}

int
files_record(sqlite3 *db, const char *sha256, int64_t bytes, const char *content_type,
	     char id_out[23])
{
	char now[STORE_TIME_SIZE];
	store_time_now(now);
	g_autoptr(StoreStmt) sel = store_stmt(db, "SELECT id FROM files WHERE sha256 = ?1");
	if (!sel) {
		return -EIO;
	}
	sqlite3_bind_text(sel, 1, sha256, -1, SQLITE_STATIC);
	if (sqlite3_step(sel) == SQLITE_ROW) {
		g_strlcpy(id_out, (const char *)sqlite3_column_text(sel, 0), 23);
		return 0;
	}
	store_new_id(id_out);
	g_autoptr(StoreStmt) ins = store_stmt(db, "INSERT INTO files (id, sha256, bytes, content_type, "
						  "created_at) VALUES (?1, ?2, ?3, ?4, ?5)");
	if (!ins) {
		return -EIO;
	}
	sqlite3_bind_text(ins, 1, id_out, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 2, sha256, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 3, bytes);
	sqlite3_bind_text(ins, 4, content_type, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 5, now, -1, SQLITE_STATIC);
	int rc = sqlite3_step(ins);
	return rc == SQLITE_DONE ? 0 : store_errno(rc);
}
