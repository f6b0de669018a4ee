/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Login throttling: failures counted per key (a login, an address). The
 * first max_failures failures are free; each one after locks the key for
 * base_s · 2^(n − max_failures) seconds, up to max_s. A success clears the
 * key. Entries idle for longer than max_s are forgotten, and the table never
 * holds more than max_entries keys (the oldest go first), so a flood of
 * made-up logins cannot grow memory without bound.
 */

#include <stdint.h>

struct throttle;

struct throttle *throttle_create(unsigned max_failures, unsigned base_s, unsigned max_s,
				 unsigned max_entries);
void throttle_destroy(struct throttle *t);

/** 0 when key may try now, else the seconds to wait (at least 1). */
unsigned throttle_check(struct throttle *t, const char *key, int64_t now_us);
void throttle_fail(struct throttle *t, const char *key, int64_t now_us);
void throttle_success(struct throttle *t, const char *key);
