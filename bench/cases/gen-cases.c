/* SPDX-License-Identifier: AGPL-3.0-or-later */
/*
 * cases-gen: a data directory holding the demo city and N generated cases,
 * for timing `case.list` with `q` (bench/cases/run.sh). A generator, not a
 * test: it writes with synchronous=OFF and no journal, which no server would.
 *
 *   cases-gen --data-dir DIR [--cases 1000000] [--seed 1] [--batch 100000]
 *
 * DIR must not hold a database yet. The store opens it (migrations),
 * demo_load() puts the demo city and its accounts in, the store closes; then
 * one plain SQLite connection inserts, in transactions of --batch cases:
 *
 *  - `cases`: every NOT NULL column; kind complaint 30 %, denunciation 10 %,
 *    recommendation 20 %, feedback 40 %; the responsible agency a ward or
 *    commune of the demo city picked at random (locality_code its code);
 *    received_at spread over the year before now, increasing with the rowid
 *    as it does on a live server (received_at is the time of the insert);
 *    the status follows the age (recent cases received or accepted, old ones
 *    mostly closed); the petitioner's identity as JSON, or sealed with the
 *    data directory's identity key for a denunciation, and its keyed hash
 *    (petitioner_mac), from a pool of 300 000 generated people;
 *  - `cases_fts` (rowid, title, content), as portal/cases.c writes it: the
 *    text NFC with đ/Đ folded to d/D (search_fold(); the tokenizer folds the
 *    other diacritics);
 *  - `case_holders`: one row per case (its agency since received_at), as
 *    intake writes it: case.list's visibility reads it.
 *
 * Titles (6–16 words) and contents (30–130 words) are Vietnamese with
 * diacritics: a topic of the case's field (Zipf over the topics), common
 * words (Zipf), street and place names, and a long tail of generated
 * syllables (Zipf over about 10 000), so that words of every frequency
 * exist. Some phrases are planted at fixed rates so that the bench has rare
 * words whose frequency is known, in words no generated syllable can spell:
 * "trạm phát wifi" in 1/2 000 cases, "xe container" 1/20 000, "bình gas"
 * 1/100 000 ("golf" is never written).
 *
 * Not generated: timeline events, case_persons (no mass petitions), users
 * other than the demo accounts (petitioner_user_id is NULL). ANALYZE is not
 * run (the server never runs it). The last line on stdout is a
 * `result key=value ...` line.
 */
#include "tiepdan/demo.h"
#include "tiepdan/log.h"
#include "tiepdan/seal.h"
#include "tiepdan/store.h"

#include <errno.h>
#include <getopt.h>
#include <glib.h>
#include <inttypes.h>
#include <math.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PEOPLE 300000
#define YEAR_S (365 * 86400)

/* ---- randomness ---- */

static uint64_t rng_state;

static uint64_t
rnd64(void)
{
	/* splitmix64: fast, and good enough for text */
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static double
rnd01(void)
{
	return (double)(rnd64() >> 11) / 9007199254740992.0;
}

static unsigned
rnd_below(unsigned n)
{
	return (unsigned)(rnd01() * n);
}

static bool
chance(double p)
{
	return rnd01() < p;
}

/* Zipf(s) over ranks 0..n-1 by inverse CDF on a precomputed table. */
struct zipf {
	double *cdf;
	unsigned n;
};

static void
zipf_init(struct zipf *z, unsigned n, double s)
{
	z->n = n;
	z->cdf = g_new(double, n);
	double sum = 0;
	for (unsigned i = 0; i < n; i++) {
		sum += 1.0 / pow(i + 1, s);
		z->cdf[i] = sum;
	}
	for (unsigned i = 0; i < n; i++) {
		z->cdf[i] /= sum;
	}
}

static unsigned
zipf_pick(const struct zipf *z)
{
	double u = rnd01();
	unsigned lo = 0, hi = z->n - 1;
	while (lo < hi) {
		unsigned mid = (lo + hi) / 2;
		if (z->cdf[mid] < u) {
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return lo;
}

/* ---- vocabulary ---- */

/* Common words and phrases of petitions, roughly most frequent first (Zipf over them). */
static const char *const common[] = {
	"của", "và", "người dân", "đã", "các", "không", "được", "tại", "có", "cho", "việc",
	"đề nghị", "này", "những", "trong", "với", "nhưng", "chưa", "cơ quan", "giải quyết",
	"gia đình", "tôi", "khu phố", "kiểm tra", "xử lý", "nhiều lần", "phản ánh", "theo",
	"chúng tôi", "từ", "đến", "về", "địa phương", "chức năng", "ảnh hưởng", "đời sống",
	"tình trạng", "hiện nay", "thời gian", "kéo dài", "nhiều", "một số", "hộ dân", "bà con",
	"bức xúc", "yêu cầu", "xem xét", "trả lời", "bằng văn bản", "ủy ban nhân dân", "phường",
	"xã", "sức khỏe", "nghiêm trọng", "kịp thời", "quyền lợi", "hợp pháp", "chính đáng",
	"khu vực", "xung quanh", "là", "để", "một", "năm", "tháng", "ngày", "lần", "đơn",
	"đã gửi", "nhưng đến nay", "vẫn", "chưa được", "giải đáp", "cụ thể", "như sau", "gần",
	"nhà", "số", "tổ", "ấp", "đường", "hẻm", "buổi sáng", "buổi chiều", "ban đêm", "khuya",
	"thường xuyên", "liên tục", "trẻ em", "người già", "học sinh", "trường học", "chợ",
	"công ty", "doanh nghiệp", "hộ kinh doanh", "chủ nhà", "hàng xóm", "cán bộ", "công an",
	"tổ trưởng", "trưởng khu phố", "biên bản", "hình ảnh", "clip", "chứng cứ", "kèm theo",
	"mong", "sớm", "can thiệp", "dứt điểm", "triệt để", "đảm bảo", "an toàn", "trật tự",
	"vệ sinh", "mỹ quan", "đô thị", "quy định", "pháp luật", "vi phạm", "xử phạt",
	"nghiêm", "trách nhiệm", "thẩm quyền", "hướng dẫn", "thủ tục", "hồ sơ", "nộp",
	"tiếp nhận", "hẹn", "chậm", "quá hạn", "lý do", "không rõ", "trước đây", "sau đó",
	"hiện tại", "tuy nhiên", "vì vậy", "do đó", "kính mong", "trân trọng", "cảm ơn",
	"xin", "cho biết", "thông tin", "công khai", "minh bạch", "cuộc sống", "sinh hoạt",
	"thu nhập", "khó khăn", "hoàn cảnh", "neo đơn", "khuyết tật", "ốm đau", "mưa lớn",
	"nắng nóng", "mùa khô", "mùa mưa", "giờ cao điểm", "cuối tuần", "ngày lễ",
};

/* Street, hamlet and place names of Đồng Nai (rarer than the common words). */
static const char *const places[] = {
	"Võ Thị Sáu", "Phạm Văn Thuận", "Đồng Khởi", "Nguyễn Ái Quốc", "Huỳnh Văn Nghệ",
	"Bùi Văn Hòa", "Nguyễn Văn Trị", "Cách Mạng Tháng Tám", "Hà Huy Giáp", "Phan Đình Phùng",
	"Trần Quốc Toản", "Nguyễn Du", "Lê Duẩn", "Quốc lộ 1A", "Quốc lộ 51", "Hoàng Văn Bổn",
	"Nguyễn Tri Phương", "Đặng Văn Trơn", "Phan Trung", "Trương Định", "Cao Bá Quát",
	"Lý Thường Kiệt", "Tân Phong", "Bửu Long", "Hóa An", "Tân Vạn", "Long Bình Tân",
	"Tam Phước", "Phước Tân", "Hố Nai", "Trảng Dài", "Tân Hòa", "Tân Biên", "Hiệp Hòa",
	"Quyết Thắng", "Thống Nhất", "Trung Dũng", "Quang Vinh", "Thanh Bình", "Tân Mai",
	"Tân Tiến", "Bình Đa", "An Bình", "Long Hưng", "Phước Thái", "Long Đức", "Lộc An",
	"Bình Sơn", "Cẩm Đường", "Suối Trầu", "Xuân Định", "Bảo Hòa", "Suối Cát", "Xuân Hiệp",
	"Gia Kiệm", "Dầu Giây", "Hưng Lộc", "Bàu Hàm", "Sông Trầu", "Quảng Tiến", "Hố Nai 3",
	"Bắc Sơn", "Đông Hòa", "Tây Hòa", "Trung Hòa", "Sông Ray", "Xuân Tâm", "Lang Minh",
	"Đồi 61", "Khu công nghiệp Amata", "Khu công nghiệp Biên Hòa 2", "Khu công nghiệp Nhơn Trạch",
	"chợ Biên Hòa", "chợ Tân Hiệp", "cầu Hóa An", "cầu Ghềnh", "sông Đồng Nai", "suối Săn Máu",
	"hồ Trị An", "ngã tư Vũng Tàu", "ngã ba Trị An", "vòng xoay Tam Hiệp",
};

/* The people who file: generated from these parts. */
static const char *const surnames[] = {
	"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
	"Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Trương", "Lâm", "Mai",
};
static const char *const middles[] = {
	"Văn", "Thị", "Hữu", "Minh", "Thanh", "Ngọc", "Quốc", "Đức", "Thu", "Hoàng",
	"Kim", "Xuân", "Công", "Bảo", "Gia",
};
static const char *const given[] = {
	"An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hạnh", "Hòa", "Hùng", "Hương", "Khánh",
	"Lan", "Linh", "Long", "Mai", "Minh", "Nam", "Nga", "Nhung", "Phong", "Phúc", "Phương",
	"Quân", "Sơn", "Tâm", "Thảo", "Thắng", "Thủy", "Trang", "Trung", "Tuấn", "Vân", "Việt",
	"Yến", "Lộc", "Tài", "Nghĩa", "Hiếu", "Đạt", "Khoa",
};

struct topic {
	const char *field;
	const char *heads[4];  /* the subject, one of them in the title */
	const char *words[10]; /* what the text then talks about */
};

/* Ordered by how often citizens write about them (Zipf over the topics). */
static const struct topic topics[] = {
	{"environment", {"rác thải", "rác thải sinh hoạt", "bãi rác tự phát", NULL},
	 {"ùn ứ", "bốc mùi", "hôi thối", "ruồi muỗi", "thu gom", "đổ trộm", "ô nhiễm", "xe rác",
	  "điểm tập kết", NULL}},
	{"administration", {"lấn chiếm vỉa hè", "lấn chiếm lòng đường", "buôn bán lấn chiếm", NULL},
	 {"vỉa hè", "lòng đường", "người đi bộ", "mái che", "bảng hiệu", "ùn tắc", "giao thông",
	  "trật tự đô thị", "giải tỏa", NULL}},
	{"land", {"tranh chấp đất đai", "tranh chấp ranh giới", "lấn chiếm đất", NULL},
	 {"thửa đất", "ranh giới", "tờ bản đồ", "giấy chứng nhận", "quyền sử dụng đất", "đo đạc",
	  "hàng rào", "xây lấn", "hòa giải", NULL}},
	{"environment", {"tiếng ồn", "karaoke gây ồn", "ô nhiễm tiếng ồn", NULL},
	 {"loa kẹo kéo", "hát karaoke", "quá giờ", "mất ngủ", "tiếng ồn", "xưởng gỗ", "máy cưa",
	  "công trình", "ban đêm", NULL}},
	{"land", {"bồi thường giải phóng mặt bằng", "bồi thường thu hồi đất", "tái định cư", NULL},
	 {"thu hồi đất", "đơn giá", "bồi thường", "hỗ trợ", "tái định cư", "phương án",
	  "giải phóng mặt bằng", "dự án", "thấp hơn", NULL}},
	{"administration", {"ngập nước", "cống thoát nước", "ngập úng", NULL},
	 {"mưa lớn", "ngập sâu", "cống", "hố ga", "nước tràn", "thoát nước", "nạo vét", "triều cường",
	  "xe chết máy", NULL}},
	{"administration", {"xây dựng trái phép", "xây dựng không phép", "sai phép", NULL},
	 {"giấy phép xây dựng", "xây thêm tầng", "nứt tường", "lún", "công trình", "đình chỉ",
	  "tháo dỡ", "sai phép", "cơi nới", NULL}},
	{"environment", {"ô nhiễm khói bụi", "khói bụi", "nước thải", NULL},
	 {"khói", "bụi", "nước thải", "xả thải", "kênh rạch", "cá chết", "mùi hóa chất",
	  "nhà máy", "lò đốt", NULL}},
	{"labour_policy", {"nợ lương", "bảo hiểm xã hội", "chấm dứt hợp đồng lao động", NULL},
	 {"tiền lương", "công nhân", "bảo hiểm xã hội", "hợp đồng lao động", "trợ cấp thôi việc",
	  "khu công nghiệp", "chủ doanh nghiệp", "bỏ trốn", "nợ đóng", NULL}},
	{"administration", {"thủ tục hành chính", "chậm trả hồ sơ", "thái độ cán bộ", NULL},
	 {"bộ phận một cửa", "hồ sơ", "giấy hẹn", "trễ hẹn", "chứng thực", "hộ tịch", "khai sinh",
	  "thái độ", "gây khó khăn", NULL}},
	{"administration", {"đèn đường", "hư hỏng mặt đường", "ổ gà", NULL},
	 {"đèn đường", "tối om", "ổ gà", "ổ voi", "tai nạn", "sửa chữa", "trải nhựa", "xuống cấp",
	  "ban đêm", NULL}},
	{"social_policy", {"trợ cấp xã hội", "hộ nghèo", "người có công", NULL},
	 {"hộ nghèo", "cận nghèo", "trợ cấp", "người có công", "bảo hiểm y tế", "xét duyệt",
	  "danh sách", "công bằng", "bình xét", NULL}},
	{"other", {"an ninh trật tự", "trộm cắp", "tụ tập", NULL},
	 {"trộm cắp", "thanh niên", "tụ tập", "đua xe", "đánh nhau", "gây rối", "chó thả rông",
	  "camera", "mất xe", NULL}},
	{"justice", {"thi hành án", "công chứng", "bản án", NULL},
	 {"thi hành án", "bản án", "có hiệu lực", "chấp hành viên", "công chứng", "hợp đồng",
	  "chuyển nhượng", "kê biên", "tài sản", NULL}},
	{"social_policy", {"khám chữa bệnh", "trạm y tế", "bảo hiểm y tế", NULL},
	 {"trạm y tế", "bệnh viện", "thuốc", "bảo hiểm y tế", "khám bệnh", "chờ đợi", "chuyển viện",
	  "viện phí", "bác sĩ", NULL}},
	{"religion", {"cơ sở tôn giáo", "lễ hội", "sinh hoạt tôn giáo", NULL},
	 {"chùa", "nhà thờ", "lễ hội", "sinh hoạt", "đăng ký", "tín ngưỡng", "đất cơ sở", "chuông",
	  "xây dựng", NULL}},
	{"ethnicity", {"đồng bào dân tộc", "chính sách dân tộc", "hỗ trợ đồng bào", NULL},
	 {"đồng bào", "dân tộc", "hỗ trợ", "nhà ở", "đất sản xuất", "nước sạch", "học bổng",
	  "vùng sâu", "chính sách", NULL}},
};

/* A denunciation names wrongdoing: these replace the topic's subject. */
static const char *const denounce_heads[] = {
	"tố cáo cán bộ", "tố cáo hành vi", "tố cáo sai phạm", "tố cáo nhận tiền",
};
static const char *const denounce_words[] = {
	"nhận tiền", "vi phạm", "lạm dụng chức vụ", "tham nhũng", "gây khó khăn", "sách nhiễu",
	"làm sai", "bao che", "chiếm đoạt", "thiếu minh bạch",
};

/* Rare phrases planted at a fixed rate per case (the bench's rare words: loanwords). */
static const struct {
	const char *phrase;
	double per_case;
} planted[] = {
	{"trạm phát wifi", 1.0 / 2000},
	{"xe container", 1.0 / 20000},
	{"bình gas", 1.0 / 100000},
};

/* ---- generated syllables: the long tail ---- */

/* Vowel × tone (ngang, sắc, huyền, hỏi, ngã, nặng), precomposed (NFC). */
static const char *const toned[][6] = {
	{"a", "á", "à", "ả", "ã", "ạ"}, {"ă", "ắ", "ằ", "ẳ", "ẵ", "ặ"}, {"â", "ấ", "ầ", "ẩ", "ẫ", "ậ"},
	{"e", "é", "è", "ẻ", "ẽ", "ẹ"}, {"ê", "ế", "ề", "ể", "ễ", "ệ"}, {"i", "í", "ì", "ỉ", "ĩ", "ị"},
	{"o", "ó", "ò", "ỏ", "õ", "ọ"}, {"ô", "ố", "ồ", "ổ", "ỗ", "ộ"}, {"ơ", "ớ", "ờ", "ở", "ỡ", "ợ"},
	{"u", "ú", "ù", "ủ", "ũ", "ụ"}, {"ư", "ứ", "ừ", "ử", "ữ", "ự"}, {"y", "ý", "ỳ", "ỷ", "ỹ", "ỵ"},
};
enum { V_A, V_AW, V_AA, V_E, V_EE, V_I, V_O, V_OO, V_OW, V_U, V_UW, V_Y };

static const struct {
	const char *pre;
	int vowel;
	const char *post;
} rhymes[] = {
	{"", V_A, ""},   {"", V_A, "i"},   {"", V_A, "o"},   {"", V_A, "u"},    {"", V_A, "y"},
	{"", V_A, "m"},  {"", V_A, "n"},   {"", V_A, "ng"},  {"", V_A, "nh"},   {"", V_A, "c"},
	{"", V_A, "ch"}, {"", V_A, "t"},   {"", V_A, "p"},   {"", V_AW, "m"},   {"", V_AW, "n"},
	{"", V_AW, "ng"}, {"", V_AW, "c"}, {"", V_AW, "t"},  {"", V_AA, "m"},   {"", V_AA, "n"},
	{"", V_AA, "ng"}, {"", V_AA, "u"}, {"", V_AA, "y"},  {"", V_AA, "t"},   {"", V_AA, "p"},
	{"", V_E, ""},   {"", V_E, "m"},   {"", V_E, "n"},   {"", V_E, "o"},    {"", V_E, "t"},
	{"", V_EE, ""},  {"", V_EE, "n"},  {"", V_EE, "nh"}, {"", V_EE, "u"},   {"", V_EE, "ch"},
	{"", V_EE, "t"}, {"", V_I, ""},    {"", V_I, "m"},   {"", V_I, "n"},    {"", V_I, "nh"},
	{"", V_I, "ch"}, {"", V_I, "t"},   {"", V_I, "u"},   {"i", V_EE, "n"},  {"i", V_EE, "ng"},
	{"i", V_EE, "u"}, {"i", V_EE, "t"}, {"", V_O, ""},   {"", V_O, "i"},    {"", V_O, "m"},
	{"", V_O, "n"},  {"", V_O, "ng"},  {"", V_O, "c"},   {"", V_O, "t"},    {"", V_OO, ""},
	{"", V_OO, "i"}, {"", V_OO, "m"},  {"", V_OO, "n"},  {"", V_OO, "ng"},  {"", V_OO, "c"},
	{"", V_OO, "t"}, {"", V_OW, ""},   {"", V_OW, "i"},  {"", V_OW, "m"},   {"", V_OW, "n"},
	{"", V_OW, "t"}, {"", V_U, ""},    {"", V_U, "i"},   {"", V_U, "m"},    {"", V_U, "n"},
	{"", V_U, "ng"}, {"", V_U, "c"},   {"", V_U, "t"},   {"u", V_OO, "i"},  {"u", V_OO, "ng"},
	{"u", V_OO, "c"}, {"u", V_Y, ""},  {"", V_UW, ""},   {"", V_UW, "a"},   {"", V_UW, "ng"},
	{"", V_UW, "c"}, {"", V_UW, "t"},  {"ư", V_OW, "i"}, {"ư", V_OW, "ng"}, {"ư", V_OW, "c"},
	{"ư", V_OW, "n"}, {"o", V_A, ""},  {"o", V_A, "n"},  {"o", V_A, "ng"},  {"o", V_A, "i"},
	{"o", V_A, "t"},
};

static const char *const onsets[] = {
	"",  "b",  "c",  "ch", "d",  "đ", "g", "gi", "h",  "kh", "l",  "m",
	"n", "ng", "nh", "ph", "qu", "r", "s", "t",  "th", "tr", "v",  "x",
};

/* Every syllable of onsets × rhymes × tones (stops take sắc or nặng only), shuffled. */
static GPtrArray *
make_syllables(void)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	for (size_t o = 0; o < G_N_ELEMENTS(onsets); o++) {
		for (size_t r = 0; r < G_N_ELEMENTS(rhymes); r++) {
			const char *post = rhymes[r].post;
			const char *pre = rhymes[r].pre;
			int v = rhymes[r].vowel;
			bool stop = g_str_has_suffix(post, "c") || g_str_has_suffix(post, "ch") ||
				    g_str_has_suffix(post, "t") || g_str_has_suffix(post, "p");
			if (strcmp(onsets[o], "qu") == 0 && (!strcmp(pre, "u") || !strcmp(pre, "o") ||
							     v == V_U || v == V_UW)) {
				continue;
			}
			if (strcmp(onsets[o], "gi") == 0 && (!strcmp(pre, "i") || v == V_I)) {
				continue;
			}
			/* c/g/ng are spelt k/gh/ngh before e, ê, i */
			const char *on = onsets[o];
			bool front = !strcmp(pre, "i") ||
				     (!*pre && (v == V_E || v == V_EE || v == V_I || v == V_Y));
			if (front && !strcmp(on, "c")) {
				on = "k";
			} else if (front && !strcmp(on, "g")) {
				on = "gh";
			} else if (front && !strcmp(on, "ng")) {
				on = "ngh";
			}
			for (int t = 0; t < 6; t++) {
				if (stop && t != 1 && t != 5) {
					continue;
				}
				g_ptr_array_add(out, g_strconcat(on, pre, toned[v][t], post, NULL));
			}
		}
	}
	for (guint i = out->len - 1; i > 0; i--) {
		guint j = rnd_below(i + 1);
		gpointer t = out->pdata[i];
		out->pdata[i] = out->pdata[j];
		out->pdata[j] = t;
	}
	return out;
}

/* Every literal must already be NFC, as clean_text() would store it. */
static void
check_nfc(const char *w)
{
	char *n = g_utf8_normalize(w, -1, G_NORMALIZE_NFC);
	if (!n || strcmp(n, w) != 0) {
		fprintf(stderr, "cases-gen: vocabulary word not in NFC: %s\n", w);
		exit(2);
	}
	g_free(n);
}

static void
check_vocabulary(void)
{
	for (size_t i = 0; i < G_N_ELEMENTS(common); i++) {
		check_nfc(common[i]);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(places); i++) {
		check_nfc(places[i]);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(topics); i++) {
		for (int j = 0; j < 3; j++) {
			check_nfc(topics[i].heads[j]);
		}
		for (int j = 0; j < 9; j++) {
			check_nfc(topics[i].words[j]);
		}
	}
	for (size_t i = 0; i < G_N_ELEMENTS(denounce_heads); i++) {
		check_nfc(denounce_heads[i]);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(denounce_words); i++) {
		check_nfc(denounce_words[i]);
	}
	for (size_t i = 0; i < G_N_ELEMENTS(toned); i++) {
		for (int j = 0; j < 6; j++) {
			check_nfc(toned[i][j]);
		}
	}
}

/* ---- text ---- */

struct gen {
	struct zipf z_common, z_topic, z_tail, z_place;
	GPtrArray *tail;
};

static void
append_word(GString *s, const char *w)
{
	if (s->len) {
		g_string_append_c(s, ' ');
	}
	g_string_append(s, w);
}

static void
capitalize_first(GString *s)
{
	if (!s->len) {
		return;
	}
	gunichar c = g_utf8_get_char(s->str);
	gunichar u = g_unichar_toupper(c);
	if (u == c) {
		return;
	}
	char buf[8];
	int n = g_unichar_to_utf8(u, buf);
	int old = (int)(g_utf8_next_char(s->str) - s->str);
	g_string_erase(s, 0, old);
	g_string_insert_len(s, 0, buf, n);
}

/* One word of running text: mostly common words, some topic words, places, the tail. */
static void
text_word(const struct gen *g, GString *s, const struct topic *t, bool denounce)
{
	double u = rnd01();
	if (u < 0.62) {
		append_word(s, common[zipf_pick(&g->z_common)]);
	} else if (u < 0.80) {
		append_word(s, t->words[rnd_below(9)]);
	} else if (u < 0.84 && denounce) {
		append_word(s, denounce_words[rnd_below(G_N_ELEMENTS(denounce_words))]);
	} else if (u < 0.87) {
		append_word(s, places[zipf_pick(&g->z_place)]);
	} else if (u < 0.89) {
		char num[16];
		snprintf(num, sizeof(num), "%u", 1 + rnd_below(rnd_below(2) ? 30 : 500));
		append_word(s, num);
	} else {
		append_word(s, g->tail->pdata[zipf_pick(&g->z_tail)]);
	}
}

static void
make_title(const struct gen *g, GString *s, const struct topic *t, bool denounce)
{
	g_string_truncate(s, 0);
	append_word(s, denounce ? denounce_heads[rnd_below(G_N_ELEMENTS(denounce_heads))]
				: t->heads[rnd_below(3)]);
	unsigned n = 4 + rnd_below(9);
	for (unsigned i = 0; i < n; i++) {
		double u = rnd01();
		if (u < 0.45) {
			append_word(s, common[zipf_pick(&g->z_common)]);
		} else if (u < 0.75) {
			append_word(s, t->words[rnd_below(9)]);
		} else if (u < 0.90) {
			append_word(s, places[zipf_pick(&g->z_place)]);
		} else {
			append_word(s, g->tail->pdata[zipf_pick(&g->z_tail)]);
		}
	}
	capitalize_first(s);
}

static void
make_content(const struct gen *g, GString *s, const struct topic *t, bool denounce)
{
	g_string_truncate(s, 0);
	unsigned words = 30 + rnd_below(101);
	unsigned in_sentence = 0, sentence_len = 8 + rnd_below(10);
	GString *sent = g_string_new(NULL);
	append_word(sent, denounce ? denounce_heads[rnd_below(G_N_ELEMENTS(denounce_heads))]
				   : t->heads[rnd_below(3)]);
	for (unsigned i = 0; i < words; i++) {
		text_word(g, sent, t, denounce);
		if (++in_sentence == sentence_len || i + 1 == words) {
			capitalize_first(sent);
			g_string_append_c(sent, '.');
			append_word(s, sent->str);
			g_string_truncate(sent, 0);
			in_sentence = 0;
			sentence_len = 8 + rnd_below(10);
		} else if (chance(0.08)) {
			g_string_append_c(sent, ',');
		}
	}
	for (size_t i = 0; i < G_N_ELEMENTS(planted); i++) {
		if (chance(planted[i].per_case)) {
			g_string_append_printf(s, " Gần %s.", planted[i].phrase);
		}
	}
	g_string_free(sent, TRUE);
}

/* The text as the index holds it (portal/cases.c, search_fold()): đ/Đ → d/D. */
static char *
search_fold(const char *text, size_t len)
{
	GString *out = g_string_sized_new(len);
	for (const char *p = text; p < text + len; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (c == 0x0111) {
			g_string_append_c(out, 'd');
		} else if (c == 0x0110) {
			g_string_append_c(out, 'D');
		} else {
			g_string_append_unichar(out, c);
		}
	}
	return g_string_free(out, FALSE);
}

/* ---- people ---- */

static char *
person_json(unsigned idx, char nid[13])
{
	unsigned h = idx * 2654435761u;
	snprintf(nid, 13, "075%01u%02u%06u", (h >> 3) % 4, 50 + (h >> 7) % 50, idx % 1000000);
	const char *sur = surnames[h % G_N_ELEMENTS(surnames)];
	const char *mid = middles[(h >> 11) % G_N_ELEMENTS(middles)];
	const char *giv = given[(h >> 17) % G_N_ELEMENTS(given)];
	char phone[11];
	snprintf(phone, sizeof(phone), "09%08u", (idx * 7919u + 1234567u) % 100000000u);
	if (idx % 3 == 0) {
		return g_strdup_printf("{\"address\":\"Số %u, tổ %u, khu phố %u\",\"email\":null,"
				       "\"full_name\":\"%s %s %s\",\"national_id\":\"%s\","
				       "\"phone\":\"%s\"}",
				       1 + h % 300, 1 + (h >> 9) % 40, 1 + (h >> 13) % 12, sur, mid, giv,
				       nid, phone);
	}
	return g_strdup_printf("{\"address\":null,\"email\":null,\"full_name\":\"%s %s %s\","
			       "\"national_id\":\"%s\",\"phone\":\"%s\"}",
			       sur, mid, giv, nid, phone);
}

/* ---- statuses by age ---- */

static const char *
pick_status(double age_days)
{
	double u = rnd01();
	if (age_days < 30) {
		return u < 0.50 ? "received" : u < 0.85 ? "accepted" : u < 0.87 ? "suspended"
			: u < 0.95 ? "guided" : "forwarded";
	}
	if (age_days < 90) {
		return u < 0.05 ? "received" : u < 0.40 ? "accepted" : u < 0.60 ? "decided"
			: u < 0.70 ? "closed" : u < 0.85 ? "guided" : u < 0.90 ? "forwarded"
			: u < 0.95 ? "rejected" : "filed";
	}
	return u < 0.03 ? "accepted" : u < 0.43 ? "closed" : u < 0.58 ? "decided"
		: u < 0.73 ? "guided" : u < 0.81 ? "rejected" : u < 0.88 ? "filed"
		: u < 0.93 ? "withdrawn" : u < 0.98 ? "forwarded" : "terminated";
}

static void
tracking_code(uint64_t i, char out[16])
{
	static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
	/* multiplication by an odd constant is a bijection mod 2^60: unique codes */
	uint64_t x = (i * 0x9E3779B97F4A7C15ull) & ((1ull << 60) - 1);
	int j = 0;
	for (int k = 0; k < 12; k++) {
		if (k == 4 || k == 8) {
			out[j++] = '-';
		}
		out[j++] = alphabet[(x >> (5 * (11 - k))) & 31];
	}
	out[j] = '\0';
}

/* ---- SQL ---- */

static void
exec_or_die(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "cases-gen: %s: %s\n", sql, err ? err : sqlite3_errmsg(db));
		exit(1);
	}
}

static sqlite3_stmt *
prepare_or_die(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK) {
		fprintf(stderr, "cases-gen: prepare %s: %s\n", sql, sqlite3_errmsg(db));
		exit(1);
	}
	return st;
}

static void
step_or_die(sqlite3 *db, sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE) {
		fprintf(stderr, "cases-gen: insert: %s\n", sqlite3_errmsg(db));
		exit(1);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: cases-gen --data-dir DIR [--cases 1000000] [--seed 1] [--batch 100000] "
		   "[--no-fts]\n"
		   "  DIR must hold no database yet; it gets the demo city and the cases.\n"
		   "  --no-fts: leave the search index empty (bench/reports does not search).\n");
}

int
main(int argc, char **argv)
{
	const char *dir = NULL;
	uint64_t ncases = 1000000, seed = 1;
	unsigned batch = 100000;
	bool fts = true;
	static const struct option opts[] = {
		{"no-fts", no_argument, NULL, 'F'},
		{"data-dir", required_argument, NULL, 'd'},
		{"cases", required_argument, NULL, 'n'},
		{"seed", required_argument, NULL, 's'},
		{"batch", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			dir = optarg;
			break;
		case 'n':
			ncases = strtoull(optarg, NULL, 10);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 'b':
			batch = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'F':
			fts = false;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!dir || ncases == 0 || batch == 0) {
		usage(stderr);
		return 2;
	}
	char *path = g_build_filename(dir, "tiepdan.db", NULL);
	if (g_file_test(path, G_FILE_TEST_EXISTS)) {
		fprintf(stderr, "cases-gen: %s exists: give a fresh data directory\n", path);
		return 2;
	}
	rng_state = seed * 0x2545F4914F6CDD1Dull + 1;
	check_vocabulary();
	td_log_set_level(TD_LOG_WARN);
	double t_start = now_s();

	/* 1. The schema and the demo city, through the store. */
	struct store_options sopts;
	store_options_init(&sopts);
	sopts.async = false;
	struct store *store = store_open(dir, &sopts);
	if (!store) {
		fprintf(stderr, "cases-gen: store_open %s: %s\n", dir, strerror(errno));
		return 1;
	}
	int rc = demo_load(store, NULL);
	store_destroy(store);
	if (rc < 0) {
		fprintf(stderr, "cases-gen: demo_load: %s\n", strerror(-rc));
		return 1;
	}
	GError *error = NULL;
	struct seal *seal = seal_create(dir, &error);
	if (!seal) {
		fprintf(stderr, "cases-gen: identity key: %s\n", error->message);
		return 1;
	}
	double t_demo = now_s();

	/* 2. The cases, on a plain connection tuned for bulk loading. */
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "cases-gen: open %s: %s\n", path, sqlite3_errmsg(db));
		return 1;
	}
	exec_or_die(db, "PRAGMA journal_mode = OFF");
	exec_or_die(db, "PRAGMA synchronous = OFF");
	exec_or_die(db, "PRAGMA cache_size = -1048576"); /* 1 GiB */
	exec_or_die(db, "PRAGMA temp_store = MEMORY");
	/*
	 * FTS5 flushes its pending terms at every commit or when they pass
	 * 'hashsize' (1 MiB by default): a large one makes one segment per batch
	 * instead of hundreds to merge, which saves a third of the time. The
	 * setting is removed again at the end, so the server runs with the default.
	 */
	exec_or_die(db, "INSERT INTO cases_fts(cases_fts, rank) VALUES('hashsize', 268435456)");

	/* the local agencies: the wards and communes */
	GPtrArray *ag_ids = g_ptr_array_new_with_free_func(g_free);
	GPtrArray *ag_codes = g_ptr_array_new_with_free_func(g_free);
	sqlite3_stmt *st = prepare_or_die(db, "SELECT id, code FROM agencies WHERE level IN "
					      "('ward', 'commune') ORDER BY code");
	while (sqlite3_step(st) == SQLITE_ROW) {
		g_ptr_array_add(ag_ids, g_strdup((const char *)sqlite3_column_text(st, 0)));
		g_ptr_array_add(ag_codes, g_strdup((const char *)sqlite3_column_text(st, 1)));
	}
	sqlite3_finalize(st);
	if (ag_ids->len == 0) {
		fprintf(stderr, "cases-gen: the demo city has no ward\n");
		return 1;
	}

	sqlite3_stmt *ins_case = prepare_or_die(
		db,
		"INSERT INTO cases (id, tracking_code, kind, field, title, content, status, instance, "
		"agency_id, petitioner_mac, petitioner, petitioner_sealed, locality_code, respondent, "
		"via, received_on, received_at, stage_started_on, forwards, decided_on, updated_at, "
		"outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
		"?16, ?17, ?18, ?19, ?20, ?21)");
	sqlite3_stmt *ins_fts = prepare_or_die(
		db, "INSERT INTO cases_fts (rowid, title, content) VALUES (?1, ?2, ?3)");
	sqlite3_stmt *ins_holder = prepare_or_die(
		db, "INSERT INTO case_holders (case_id, agency_id, since) VALUES (?1, ?2, ?3)");

	struct gen g = {0};
	zipf_init(&g.z_common, G_N_ELEMENTS(common), 1.0);
	zipf_init(&g.z_topic, G_N_ELEMENTS(topics), 0.9);
	zipf_init(&g.z_place, G_N_ELEMENTS(places), 1.0);
	g.tail = make_syllables();
	zipf_init(&g.z_tail, g.tail->len, 1.0);

	GTimeZone *tz = g_time_zone_new_offset(7 * 3600);
	GDateTime *end = g_date_time_new_now(tz);
	int64_t t_end = g_date_time_to_unix(end);
	int64_t t_first = t_end - YEAR_S;
	GString *title = g_string_new(NULL), *content = g_string_new(NULL);
	uint64_t text_bytes = 0, kinds_n[4] = {0};
	static const char *const kinds[] = {"complaint", "denunciation", "recommendation",
					    "feedback"};

	exec_or_die(db, "BEGIN");
	for (uint64_t i = 0; i < ncases; i++) {
		double u = rnd01();
		int k = u < 0.30 ? 0 : u < 0.40 ? 1 : u < 0.60 ? 2 : 3;
		kinds_n[k]++;
		bool denounce = k == 1;
		const struct topic *t = &topics[zipf_pick(&g.z_topic)];
		unsigned a = rnd_below(ag_ids->len);
		/* increasing with the rowid, spread evenly over the year */
		int64_t at = t_first + (int64_t)((double)YEAR_S * ((double)i + rnd01()) /
						 (double)ncases);
		GDateTime *dt = g_date_time_new_from_unix_utc(at);
		GDateTime *dtz = g_date_time_to_timezone(dt, tz);
		char *received_at = g_date_time_format(dtz, "%Y-%m-%dT%H:%M:%S+07:00");
		char *received_on = g_date_time_format(dtz, "%Y-%m-%d");
		double age_days = (double)(t_end - at) / 86400.0;
		const char *status = pick_status(age_days);
		int stage_off = strcmp(status, "received") == 0 ? 0 : 1 + (int)rnd_below(10);
		GDateTime *stage = g_date_time_add_days(dtz, stage_off);
		char *stage_on = g_date_time_format(stage, "%Y-%m-%d");
		bool decided = !strcmp(status, "decided") || !strcmp(status, "closed");
		GDateTime *upd = g_date_time_add_days(dtz, decided ? stage_off + 20 : stage_off);
		if (g_date_time_compare(upd, end) > 0) {
			g_date_time_unref(upd);
			upd = g_date_time_ref(end);
		}
		char *decided_on = decided ? g_date_time_format(upd, "%Y-%m-%d") : NULL;
		char *updated_at = g_date_time_format(upd, "%Y-%m-%dT%H:%M:%S+07:00");

		char id[23], code[16], nid[13], mac[SEAL_MAC_HEX];
		store_new_id(id);
		tracking_code(i + 1, code);
		char *person = person_json(rnd_below(PEOPLE), nid);
		seal_mac(seal, nid, mac);
		make_title(&g, title, t, denounce);
		make_content(&g, content, t, denounce);
		text_bytes += title->len + content->len;
		char *respondent = k == 0 ? g_strdup_printf("{\"agency_id\":\"%s\",\"type\":\"agency\"}",
							    (const char *)ag_ids->pdata[a])
					  : NULL;
		static const char *const vias[] = {"online", "online", "online", "in_person", "post"};

		sqlite3_bind_text(ins_case, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_case, 2, code, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_case, 3, kinds[k], -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_case, 4, denounce && chance(0.5) ? "administration" : t->field,
				  -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_case, 5, title->str, (int)title->len, SQLITE_STATIC);
		sqlite3_bind_text(ins_case, 6, content->str, (int)content->len, SQLITE_STATIC);
		sqlite3_bind_text(ins_case, 7, status, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_case, 8, ag_ids->pdata[a], -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_case, 9, mac, -1, SQLITE_STATIC);
		if (denounce) {
			size_t len;
			unsigned char *box = seal_box(seal, person, &len);
			sqlite3_bind_null(ins_case, 10);
			sqlite3_bind_blob(ins_case, 11, box, (int)len, g_free);
		} else {
			sqlite3_bind_text(ins_case, 10, person, -1, SQLITE_STATIC);
			sqlite3_bind_null(ins_case, 11);
		}
		sqlite3_bind_text(ins_case, 12, ag_codes->pdata[a], -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_case, 13, respondent, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_case, 14, vias[rnd_below(G_N_ELEMENTS(vias))], -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(ins_case, 15, received_on, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_case, 16, received_at, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_case, 17, stage_on, -1, SQLITE_STATIC);
		sqlite3_bind_int(ins_case, 18, !strcmp(status, "forwarded"));
		sqlite3_bind_text(ins_case, 19, decided_on, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_case, 20, updated_at, -1, SQLITE_STATIC);
		/* the decision's outcome (reports count them): upheld, partly, rejected */
		static const char *const outcomes[] = {"upheld", "partly_upheld", "rejected"};
		sqlite3_bind_text(ins_case, 21, decided ? outcomes[rnd_below(3)] : NULL, -1,
				  SQLITE_STATIC);
		step_or_die(db, ins_case);
		sqlite3_int64 rowid = sqlite3_last_insert_rowid(db);

		if (fts) {
			sqlite3_bind_int64(ins_fts, 1, rowid);
			sqlite3_bind_text(ins_fts, 2, search_fold(title->str, title->len), -1,
					  g_free);
			sqlite3_bind_text(ins_fts, 3, search_fold(content->str, content->len), -1,
					  g_free);
			step_or_die(db, ins_fts);
		}

		sqlite3_bind_text(ins_holder, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_holder, 2, ag_ids->pdata[a], -1, SQLITE_STATIC);
		sqlite3_bind_text(ins_holder, 3, received_at, -1, SQLITE_STATIC);
		step_or_die(db, ins_holder);

		g_free(person);
		g_free(respondent);
		g_free(received_at);
		g_free(received_on);
		g_free(stage_on);
		g_free(decided_on);
		g_free(updated_at);
		g_date_time_unref(dt);
		g_date_time_unref(dtz);
		g_date_time_unref(stage);
		g_date_time_unref(upd);

		if ((i + 1) % batch == 0 || i + 1 == ncases) {
			exec_or_die(db, "COMMIT");
			double el = now_s() - t_demo;
			fprintf(stderr, "cases-gen: %" PRIu64 " cases, %.0f s, %.0f cases/s\n", i + 1,
				el, (double)(i + 1) / el);
			if (i + 1 < ncases) {
				exec_or_die(db, "BEGIN");
			}
		}
	}
	double t_rows = now_s();
	sqlite3_finalize(ins_case);
	sqlite3_finalize(ins_fts);
	sqlite3_finalize(ins_holder);
	/* back to what the server expects (store_open would switch to WAL too) */
	exec_or_die(db, "DELETE FROM cases_fts_config WHERE k = 'hashsize'");
	exec_or_die(db, "PRAGMA journal_mode = WAL");
	if (sqlite3_close(db) != SQLITE_OK) {
		fprintf(stderr, "cases-gen: close: %s\n", sqlite3_errmsg(db));
		return 1;
	}
	double t_done = now_s();
	struct stat sb;
	double mb = stat(path, &sb) == 0 ? (double)sb.st_size / 1048576.0 : 0;

	printf("cases-gen: %" PRIu64 " cases (complaint %" PRIu64 ", denunciation %" PRIu64
	       ", recommendation %" PRIu64 ", feedback %" PRIu64 ") in %s\n",
	       ncases, kinds_n[0], kinds_n[1], kinds_n[2], kinds_n[3], path);
	printf("           %u local agencies, %u generated syllables, %.0f bytes of title+content "
	       "per case, database %.0f MiB\n",
	       ag_ids->len, g.tail->len, (double)text_bytes / (double)ncases, mb);
	printf("           demo %.1f s, rows %.1f s (%.0f cases/s), close %.1f s, total %.1f s\n",
	       t_demo - t_start, t_rows - t_demo, (double)ncases / (t_rows - t_demo),
	       t_done - t_rows, t_done - t_start);
	printf("result cases=%" PRIu64 " seconds=%.1f rows_seconds=%.1f db_mib=%.0f\n", ncases,
	       t_done - t_start, t_rows - t_demo, mb);

	g_date_time_unref(end);
	g_time_zone_unref(tz);
	g_string_free(title, TRUE);
	g_string_free(content, TRUE);
	g_ptr_array_unref(g.tail);
	g_ptr_array_unref(ag_ids);
	g_ptr_array_unref(ag_codes);
	g_free(g.z_common.cdf);
	g_free(g.z_topic.cdf);
	g_free(g.z_place.cdf);
	g_free(g.z_tail.cdf);
	seal_destroy(seal);
	g_free(path);
	return 0;
}
