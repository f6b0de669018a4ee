/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Reception schedules and appointments (PROTOCOL.md §6, DOMAIN.md §5):
 * schedules cut into slots on working days, seats booked by citizens with the
 * one-seat invariant held by the schema, cancellation and atomic reschedule, a
 * waiting list per full slot, reminders sent exactly once before a slot, and
 * dialogues of a case (DOMAIN.md §6) whose minutes go to the case timeline.
 * Registers schedule.create, appointment.* and dialogue.* with the dispatcher;
 * sends event.appointment.updated, event.appointment.reminder and
 * event.dialogue.invited.
 */

#include <glib.h>
#include <sqlite3.h>
#include <stdint.h>

#include "tiepdan/calendar.h"
#include "tiepdan/rpc.h"
#include "tiepdan/store.h"

struct schedule;

#define SCHEDULE_MAX_OFFSETS 8

struct schedule_options {
	unsigned max_active_bookings;   /* active bookings a citizen may hold, 3 */
	unsigned cancel_before_minutes; /* a citizen cancels up to this long before the slot, 60 */
	/* reminders this many minutes before a slot (1440, 60); n_offsets of them */
	unsigned reminder_offsets[SCHEDULE_MAX_OFFSETS];
	size_t n_offsets;
	unsigned reminder_tick_s; /* how often due reminders are looked for, 1 */
	const char *timezone;     /* (nullable) the portal's zone, Asia/Ho_Chi_Minh */
};

/**
 * (transfer full) The module, or NULL with *error set. rpc, store and cal outlive it.
 * Reminders that fell due while the portal was down are sent on the first tick.
 */
struct schedule *schedule_create(struct rpc *rpc, struct store *store, struct td_calendar *cal,
				 const struct schedule_options *opts, GError **error);
/** Stops the reminder timer and releases the module. NULL is fine. */
void schedule_destroy(struct schedule *s);

/**
 * Parses a comma-separated list of minutes ("1440,60") into opts->reminder_offsets.
 * 0 or -EINVAL (empty list allowed: no reminders).
 */
int schedule_parse_offsets(const char *text, struct schedule_options *opts)
	__attribute__((warn_unused_result));

/**
 * (transfer full) The iCalendar (RFC 5545) text of user_id's appointments (as citizen, any
 * status; as host, the active ones) and dialogues (as participant), CRLF lines folded at 75
 * octets, times in UTC; now is the DTSTAMP. For the feed of `calendar.ticket`, whose HTTP route
 * is not wired yet: the method is not registered.
 */
char *schedule_ics(sqlite3 *db, const char *user_id, int64_t now);
