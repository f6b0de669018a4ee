/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Reception schedules and appointments (PROTOCOL.md §6, DOMAIN.md §5):
 * schedules cut into slots on working days, seats booked by citizens with the
 * one-seat invariant held by the schema, cancellation and atomic reschedule, a
 * waiting list per full slot, reminders sent exactly once before a slot, and
 * dialogues of a case (DOMAIN.md §6) whose minutes go to the case timeline.
 * Registers schedule.create, appointment.* and dialogue.* with the dispatcher;
 * sends event.appointment.updated, event.appointment.reminder,
 * event.dialogue.invited, and event.schedule.leader_days_short to an agency's
 * staff when a leader's reception days for a month fall short (at most once a
 * day per agency and month).
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
	/* how often due reminders (and the leader days of agencies with staff bound) are looked
	 * for, 1 */
	unsigned reminder_tick_s;
	unsigned dialogue_notice_days; /* a dialogue starts at least this many days ahead, 5 */
	const char *timezone;          /* (nullable) the portal's zone, Asia/Ho_Chi_Minh */
};

/**
 * (transfer full) The module, or NULL with *error set. rpc, store and cal outlive it.
 * Reminders that fell due while the portal was down are sent on the first tick. Zero
 * max_active_bookings, reminder_tick_s or dialogue_notice_days take their defaults.
 * The module keeps prepared statements on the store's connections: destroy it before the
 * store.
 */
struct schedule *schedule_create(struct rpc *rpc, struct store *store, struct td_calendar *cal,
				 const struct schedule_options *opts, GError **error);
/** Stops the timer, finalizes the module's statements and releases it. NULL is fine. */
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
 * octets, times in UTC; now is the DTSTAMP; SEQUENCE is the stored count of changes of each
 * event's time or status. The feed of `calendar.ticket` (portal/calendar-feed.c).
 */
char *schedule_ics(sqlite3 *db, const char *user_id, int64_t now);
