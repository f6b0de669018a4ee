/* SPDX-License-Identifier: AGPL-3.0-or-later */
#pragma once

/*
 * Reports (PROTOCOL.md §7, DOMAIN.md §7; docs/reports.md): report.summary
 * with its indicators by kind, field and agency for a date range or a
 * standard period, report.ticket (CSV and JSON exports served at
 * GET /api/reports/TICKET.FORMAT), and hot spots: an early warning when
 * petitions on one locality and field, or against one respondent, reach a
 * configured count within a configured window, or when a mass petition
 * arrives (report.hotspots, event.report.hotspot, the `hotspot` flag of a
 * case). Figures are computed from the stored cases when asked, through the
 * narrow report_stints table the schema keeps (store-migrations.c, 9).
 */

#include <glib.h>
#include <stdbool.h>

#include "tiepdan/calendar.h"
#include "tiepdan/cases.h"
#include "tiepdan/rpc.h"
#include "tiepdan/store.h"

struct reports;

struct reports_options {
	unsigned hotspot_count;       /* petitions that make a hot spot, 5 */
	unsigned hotspot_window_days; /* within this many days of receipt, 30 */
	bool hotspot_mass;            /* every mass petition is a hot spot */
	unsigned prolonged_days;      /* pending longer than this at a period's end: prolonged, 90 */
	const char *timezone;         /* (nullable) the portal's zone, Asia/Ho_Chi_Minh */
};

/**
 * (transfer full) Registers report.summary, report.ticket and report.hotspots; NULL with
 * *error set. rpc, store, cal and cases outlive it.
 */
struct reports *reports_create(struct rpc *rpc, struct store *store, struct td_calendar *cal,
			       struct cases *cases, const struct reports_options *opts,
			       GError **error);
void reports_destroy(struct reports *r);

/**
 * A new case was stored (cases_events.received): checks the hot spot rules in a
 * transaction of its own and announces the hot spots it opens.
 */
void reports_case_received(struct reports *r, const char *case_id);

/**
 * (transfer full, nullable) The export a ticket names ("TICKET.csv" or "TICKET.json"), once:
 * the ticket is used up. *content_type is (transfer none). NULL: no such ticket, expired, or
 * the holder lost the right to the agency.
 */
GString *reports_download(struct reports *r, const char *name, const char **content_type);
