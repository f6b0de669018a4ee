/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Login throttling: failures counted per key (an account, an address). The
 * max_failures-th failure and each one after it lock the key for
 * base_s · 2^(n − max_failures) seconds (n failures so far), up to max_s. A
 * success clears the failures. Attempts begun and not yet ended count as
 * failures for throttle_check(), so parallel guesses get no more tries than
 * sequential ones. Entries idle for longer than 2 · max_s are forgotten, and
 * the table never holds more than max_entries keys (the least recently used
 * go first), so a flood of made-up logins cannot grow memory without bound.
 */

#include <stdint.h>

struct throttle;

struct throttle *throttle_create(unsigned max_failures, unsigned base_s, unsigned max_s,
				 unsigned max_entries);
void throttle_destroy(struct throttle *t);

/** 0 when key may try now, else the seconds to wait (at least 1). */
unsigned throttle_check(struct throttle *t, const char *key, int64_t now_us);
/** An attempt started (it counts until it ends with fail, success or abandon). */
void throttle_begin(struct throttle *t, const char *key, int64_t now_us);
/** The attempt failed. Also valid without a begin (then no attempt is pending). */
void throttle_fail(struct throttle *t, const char *key, int64_t now_us);
/** The attempt succeeded: failures cleared. */
void throttle_success(struct throttle *t, const char *key);
/** The attempt ended without a verdict (cancelled); it no longer counts. */
void throttle_abandon(struct throttle *t, const char *key);
