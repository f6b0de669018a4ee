/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Attachments (PROTOCOL.md §1): uploads through POST /api/files, stored once
 * per SHA-256 under DATA_DIR/files/ab/abcdef…, their type decided by their
 * bytes; downloads only with a ticket that file.ticket gives to a user who
 * may see a case holding the file (5 minutes; a whole-file download uses it
 * up, range requests for seeking do not).
 */

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "tiepdan/store.h"

struct files;
struct files_upload;

/** (transfer full) NULL with *error set. */
struct files *files_create(struct store *store, const char *data_dir, size_t max_bytes,
			   GError **error);
void files_destroy(struct files *f);

/* ---- uploads (the server calls these as the body arrives) ---- */

/**
 * Starts an upload by user_id with the declared type and length (-1 unknown). NULL and
 * *status (415 unsupported type, 413 too large, 500) when refused.
 */
struct files_upload *files_upload_begin(struct files *f, const char *user_id,
					const char *content_type, int64_t length, int *status);
/** A piece of the body. 0, or an HTTP status (413) to answer and stop. */
int files_upload_write(struct files_upload *u, const void *buf, size_t len);
/**
 * The body is complete: checks the bytes, stores the file and records it, then calls done on
 * the loop with an HTTP status and a JSON body (transfer full). Consumes u.
 */
void files_upload_finish(struct files_upload *u,
			 void (*done)(int status, json_t *body, void *data), void *data);
/** Drops an upload (the client went away). */
void files_upload_abort(struct files_upload *u);

/* ---- files the server makes (recordings) ---- */

/**
 * Moves the file at path (on the file system of DATA_DIR) to the store's place for sha256
 * (64 lowercase hex digits) and makes it durable (fsync of the file and its folder). A file
 * already there is kept and path removed. Blocking: call it off the loop. 0 or -errno.
 */
int files_adopt(struct files *f, const char *path, const char *sha256) TD_WUR;

/**
 * Inside a write transaction: the row of a stored file (an existing row for the same sha256
 * keeps its id). id_out gets the file's id. 0 or store_errno()'s code.
 */
int files_record(sqlite3 *db, const char *sha256, int64_t bytes, const char *content_type,
		 char id_out[23]) TD_WUR;

/* ---- tickets and downloads ---- */

/** (transfer full) A ticket for user_id to download file_id. */
char *files_ticket(struct files *f, const char *file_id, const char *user_id);

/**
 * Redeems a ticket for file_id: 0 and the stored path and type (transfer full), or -ENOENT.
 * A whole-file download (range false) uses the ticket up.
 */
int files_open(struct files *f, const char *file_id, const char *ticket, bool range, char **path,
	       char **content_type);

/** Whether file_id exists and was uploaded by user_id (so they may attach it). */
bool files_owned_by(sqlite3 *db, const char *file_id, const char *user_id);

/** {file_id, sha256, bytes, content_type} of a file, or NULL. */
json_t *files_json(sqlite3 *db, const char *file_id);
