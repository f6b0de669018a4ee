/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Demo data: the city of Đồng Nai as a two-tier local government (since
 * 1 July 2025) — the city People's Committee, its inspectorate, office and
 * departments, a dozen of its wards and communes, the managing department of
 * every field, and one account per role with a fixed, printable password.
 */

#include <glib.h>

#include "tiepdan/store.h"

/**
 * Loads the demo data into a database without agencies, in one transaction
 * (store_write_sync(): before the loop runs, or from tiepdan-admin).
 *
 * accounts_out (nullable, transfer none; give it g_free as free function)
 * receives, only on success, one (transfer full) line per demo account:
 * "role\tlogin\tpassword\tagency_code\tname", agency_code empty for citizen
 * and admin.
 *
 * Records the time in meta ('demo_loaded_at'), so that a later start can
 * tell a demo database from a real one.
 *
 * Hashes the demo passwords first (argon2id, about 0.1 s each), outside the
 * transaction. Returns 0; -EEXIST when an agency already exists (nothing is
 * loaded); -ENOMEM; -EBUSY or -EIO from the store.
 */
int demo_load(struct store *s, GPtrArray *accounts_out) TD_WUR;

/**
 * Appends to out the demo account lines, in demo_load()'s format, without
 * touching any database (e.g. to print them again at a later start).
 */
void demo_accounts(GPtrArray *out);
