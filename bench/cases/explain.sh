#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# bench/cases/explain.sh DB: why case.list q and petition.submit are slow on a
# large database, in the sqlite3 shell (DIAG=1 bench/cases/run.sh runs it on
# the generated million cases; or KEEP=1 and run it by hand).
#
# It times, best of 3 (.timer, 1 ms resolution), with the agencies the city
# inspector and the Trấn Biên ward official see:
#  - case_list's statement as portal/cases.c has it on 2026-11-28 (copied
#    here, parameters inlined), and the same filter driven by the FTS5 index
#    in rowid order (newest first: received_at is written at insert, so the
#    rowid follows it) with the visibility as correlated EXISTS lookups;
#  - without q, the same two visibility forms;
#  - find_related's lookup of one earlier case (intake, since commit
#    ceaa593: MATCH AND rowid = ?, with bm25), with and without bm25.
# The copies go stale when the server's SQL changes: they document the
# diagnosis of docs/benchmarks.md, they do not measure the server.
set -euo pipefail
export LC_ALL=C.UTF-8 # ${#label} in characters

DB=${1:?usage: explain.sh DATABASE}
command -v sqlite3 >/dev/null || { echo "explain.sh: needs the sqlite3 shell" >&2; exit 1; }

q1() { sqlite3 "$DB" "$1"; }
CITY=$(q1 "SELECT id FROM agencies WHERE level = 'city'")
INSPECTOR=$(q1 "WITH RECURSIVE t(id) AS (SELECT '$CITY' UNION SELECT a.id FROM agencies a
	JOIN t ON a.parent_id = t.id) SELECT json_group_array(id) FROM t")
OFFICIAL=$(q1 "SELECT json_array(id) FROM agencies WHERE code = 'DN-P-TRANBIEN'")

# best TIMES: the fastest "real" of three runs of SQL, in ms
best() {
	printf '.timer on\n.output /dev/null\n%s\n%s\n%s\n' "$1" "$1" "$1" | sqlite3 "$DB" |
		sed -n 's/^Run Time: real \([0-9.]*\).*/\1/p' |
		awk 'NR == 1 || $1 < m { m = $1 } END { printf "%.0f", m * 1000 }'
}

# case_list's WHERE with the agencies $1 and the MATCH $2 (empty: no q)
current() {
	local fts="NULL"
	[[ -n $2 ]] && fts="'$2'"
	cat <<EOF
SELECT rowid, id, title, status, agency_id, received_at FROM cases WHERE (
 (NULL IS NOT NULL AND (petitioner_user_id = NULL OR petitioner_mac = '' OR id IN
  (SELECT case_id FROM case_persons WHERE mac = '')))
 OR agency_id IN (SELECT value FROM json_each('$1'))
 OR id IN (SELECT case_id FROM case_holders WHERE agency_id IN
  (SELECT value FROM json_each('$1'))))
 AND ($fts IS NULL OR rowid IN (SELECT rowid FROM cases_fts WHERE cases_fts MATCH $fts))
 ORDER BY received_at DESC, id DESC LIMIT 21;
EOF
}

# the proposal: FTS5 drives (rowid DESC) when there is a q, the table's rowid otherwise
proposed() {
	local vis="(c.agency_id IN (SELECT value FROM json_each('$1'))
 OR EXISTS (SELECT 1 FROM case_holders h WHERE h.case_id = c.id AND h.agency_id IN
  (SELECT value FROM json_each('$1'))))"
	if [[ -n $2 ]]; then
		echo "SELECT c.rowid, c.id, c.title, c.status, c.agency_id, c.received_at
 FROM cases_fts f JOIN cases c ON c.rowid = f.rowid
 WHERE cases_fts MATCH '$2' AND $vis ORDER BY f.rowid DESC LIMIT 21;"
	else
		echo "SELECT c.rowid, c.id, c.title, c.status, c.agency_id, c.received_at FROM cases c
 WHERE $vis ORDER BY c.rowid DESC LIMIT 21;"
	fi
}

echo "explain.sh: $DB ($(q1 'SELECT count(*) FROM cases') cases), sqlite3 $(sqlite3 --version | cut -d' ' -f1)"
echo
echo "-- case_list's plan (with q):"
printf 'EXPLAIN QUERY PLAN %s\n' "$(current "$INSPECTOR" '"rác" AND "thải"')" | sqlite3 "$DB" | sed 's/^/   /'
echo "-- the proposed plan (with q):"
printf 'EXPLAIN QUERY PLAN %s\n' "$(proposed "$INSPECTOR" '"rác" AND "thải"')" | sqlite3 "$DB" | sed 's/^/   /'
echo
printf '%-10s %-32s %8s | %12s %12s\n' "login" "MATCH" "cases" "case_list ms" "proposed ms"
for who in inspector official; do
	[[ $who == inspector ]] && ag=$INSPECTOR || ag=$OFFICIAL
	for m in '"người" AND "dân"' '"rác" AND "thải"' '"bảo" AND "hiểm" AND "hội"' '"wifi"' \
		'"bình" AND "gas"' '"sân" AND "golf"' ''; do
		if [[ -n $m ]]; then
			n=$(q1 "SELECT count(*) FROM cases_fts WHERE cases_fts MATCH '$m'")
		else
			n=-
		fi
		a=$(best "$(current "$ag" "$m")")
		b=$(best "$(proposed "$ag" "$m")")
		# the same 21 rows, in the same order (received_at ties: id against rowid)
		ra=$(current "$ag" "$m" | sqlite3 "$DB")
		rb=$(proposed "$ag" "$m" | sqlite3 "$DB")
		if [[ $ra == "$rb" ]]; then
			same=""
		elif [[ $(sort <<<"$ra") == "$(sort <<<"$rb")" ]]; then
			same="  (same rows; order within a second differs)"
		else
			same="  (rows differ)"
		fi
		label=${m:-(no q)}
		printf '%-10s %s%*s %8s | %12s %12s%s\n' "$who" "$label" $((32 - ${#label})) "" "$n" \
			"$a" "$b" "$same"
	done
done

echo
echo "-- find_related (intake, in the write job on the loop): one of the petitioner's earlier cases"
# The MATCH intake built for one of bench/cases-submit-bench's petitions (8 words of
# the title, 16 of the content, common words left out, folded like the index).
M='"Rác" OR "thải" OR "sớm" OR "trên" OR "dường" OR "Duẩn" OR "Kính" OR "gửi" OR "334"
 OR "dường" OR "Trần" OR "Quốc" OR "Toản" OR "bao" OR "nhiễm" OR "hưởng" OR "túi" OR "lông"
 OR "dêm" OR "túi" OR "lông" OR "khói"'
M=$(tr '\n' ' ' <<<"$M")
ROWID=$(q1 "SELECT rowid FROM cases_fts WHERE cases_fts MATCH '$M' ORDER BY rowid DESC LIMIT 1")
# as portal/cases.c has it since ceaa593: one lookup per earlier case, with bm25
FR="SELECT bm25(cases_fts) FROM cases_fts WHERE cases_fts MATCH '$M' AND rowid = $ROWID;"
# the same lookup without bm25 (whose IDF reads every matching doclist each time)
FR2="SELECT 1 FROM cases_fts WHERE cases_fts MATCH '$M' AND rowid = $ROWID;"
echo "   the MATCH (22 words of a petition): $(q1 "SELECT count(*) FROM cases_fts WHERE cases_fts MATCH '$M'") cases"
echo "   per earlier case, with bm25: $(best "$FR") ms; without: $(best "$FR2") ms"
