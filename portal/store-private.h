/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/* What store.c and its migrations share; nothing outside portal/store*.c includes this. */

#include <stddef.h>

/* PRAGMA application_id of a tiepdan database ("Tiep"). */
#define STORE_APPLICATION_ID 1416193392 /* 0x54696570 */

/*
 * The schema, as an ordered list of migrations: migration i (0-based) takes
 * the database from user_version i to i + 1. Append only; never edit a
 * migration that has shipped.
 */
extern const char *const store_migrations[];
extern const size_t store_n_migrations;
