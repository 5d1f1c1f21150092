/*
 * The fast paths of JSON escaping, UTF-8 validation and clipped rendering give the very
 * bytes the byte-at-a-time code gave (kept here as the reference: audit rows written
 * before and after must be the same rows), wherever an escape, a NUL, an invalid byte
 * or a multi-byte sequence falls relative to the 8-byte words and to the clip point.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "audit/audit.h"
#include "envelope.h"
#include "mpjson.h"
#include "support.h"
#include "utf8.h"

/* ---- the reference: the code as it was before the fast paths ---- */

static void ref_write_str(struct buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    buf_putc(out, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t k = c >= 0x20 && c != '"' && c != '\\' ? utf8_seq(p + i, n - i) : 0;
        if (k) {
            buf_append(out, p + i, k);
            i += k;
            continue;
        }
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            buf_append(out, esc, 2);
        } else if (c == '\n')
            buf_puts(out, "\\n");
        else if (c == '\r')
            buf_puts(out, "\\r");
        else if (c == '\t')
            buf_puts(out, "\\t");
        else if (c < 0x20)
            buf_printf(out, "\\u%04x", c);
        else
            buf_puts(out, "\\ufffd");
        i++;
    }
    buf_putc(out, '"');
}

static void ref_append_valid(struct buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (k) {
            buf_append(out, s + i, k);
            i += k;
        } else {
            buf_append(out, "\xef\xbf\xbd", 3);
            i++;
        }
    }
}

/* ---- helpers ---- */

static struct buf got, want;
static struct packbuf in;
static msgpack_unpacked u;

static int fresh(void **state)
{
    packbuf_init(&in);
    msgpack_unpacked_init(&u);
    return 0;
}

static int release(void **state)
{
    buf_free(&got);
    buf_free(&want);
    packbuf_free(&in);
    msgpack_unpacked_destroy(&u);
    return 0;
}

static void assert_same_bytes(const char *what, const char *s, size_t n)
{
    if (got.len == want.len && memcmp(got.data, want.data, got.len) == 0) return;
    size_t d = 0;
    while (d < got.len && d < want.len && got.data[d] == want.data[d])
        d++;
    fail_msg("%s of %zu input bytes: %zu output bytes, reference %zu; first difference at %zu",
             what, n, got.len, want.len, d);
}

static void check_str(const char *s, size_t n)
{
    buf_reset(&got);
    buf_reset(&want);
    buf_puts(&got, "x"); /* appends to what is there, as the reference does */
    buf_puts(&want, "x");
    mpjson_write_str(&got, s, n);
    ref_write_str(&want, s, n);
    assert_same_bytes("mpjson_write_str", s, n);
    buf_reset(&got);
    buf_reset(&want);
    utf8_append_valid(&got, s, n);
    ref_append_valid(&want, s, n);
    assert_same_bytes("utf8_append_valid", s, n);
    assert_int_equal(utf8_valid_prefix((const unsigned char *)s, n) == n,
                     want.len == n && memcmp(want.data, s, n) == 0);
}

/* The bytes that take each path: plain, every escape, NUL, DEL, a lone continuation
 * byte, bytes never valid in UTF-8, and the lead bytes of 2-, 3- and 4-byte sequences. */
static const unsigned char special[] = {'a',  '"',  '\\', '\n', '\r', '\t', 0x00, 0x01,
                                        0x1f, 0x20, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2,
                                        0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};

/* ---- escaping and validation ---- */

static void every_special_byte_at_every_offset_of_two_words(void **state)
{
    char s[40];
    for (size_t len = 1; len <= sizeof s; len++)
        for (size_t at = 0; at < len; at++)
            for (size_t b = 0; b < sizeof special; b++) {
                memset(s, 'x', len);
                s[at] = (char)special[b];
                check_str(s, len);
            }
}

static void multibyte_sequences_whole_and_cut_across_word_boundaries(void **state)
{
    static const char *const seqs[] = {"\xc3\xa9",
                                       "\xe2\x82\xac",
                                       "\xf0\x9f\x98\x80",
                                       "\xed\xa0\x80" /* surrogate */,
                                       "\xe0\x80\xaf" /* overlong */,
                                       "\xf4\x90\x80\x80" /* past U+10FFFF */};
    char s[48];
    for (size_t q = 0; q < sizeof seqs / sizeof *seqs; q++) {
        size_t sn = strlen(seqs[q]);
        for (size_t at = 0; at + sn <= 24; at++)
            for (size_t cut = 1; cut <= sn; cut++) { /* cut < sn: the sequence is truncated */
                memset(s, 'y', sizeof s);
                memcpy(s + at, seqs[q], cut);
                check_str(s, 24);
                check_str(s, at + cut); /* ends the string */
            }
    }
}

static void random_bytes_match_the_reference(void **state)
{
    /* Weighted towards ASCII so that long plain runs alternate with the slow paths. */
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    char s[300];
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(round % 300);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            unsigned r = (unsigned)(x >> 32);
            s[i] = (char)(r % 8 ? 'a' + r % 26
                                : (r % 3 ? special[(r >> 8) % sizeof special]
                                         : (unsigned char)(r >> 16)));
        }
        check_str(s, n);
    }
}

static void valid_utf8_text_is_one_run(void **state)
{
    const char *t = "Grüße, Привет, 你好, 😀 and plain ASCII long enough for words";
    check_str(t, strlen(t));
    assert_int_equal(utf8_valid_prefix((const unsigned char *)t, strlen(t)), strlen(t));
    assert_int_equal(utf8_valid_prefix((const unsigned char *)"abcdefghij\xff", 11), 10);
}

static void a_megabyte_of_ascii_with_rare_escapes(void **state)
{
    size_t n = 1 << 20;
    char *s = malloc(n);
    assert_non_null(s);
    memset(s, 'x', n);
    for (size_t i = 4093; i < n; i += 65537)
        s[i] = (char)(i % 2 ? '"' : 0);
    check_str(s, n);
    free(s);
}

/* ---- clipped rendering ---- */

/* mpjson_write_clipped(max) == full mpjson_write + utf8_clip at max, for every max. */
static void check_clips(bool redact)
{
    assert_true(unpack_exactly(in.sb.data, in.sb.size, &u));
    struct buf full = {0};
    mpjson_write(&full, &u.data, redact);
    for (size_t max = 0; max <= full.len + 2; max++) {
        buf_reset(&got);
        buf_puts(&got, "prefix");
        bool clipped = mpjson_write_clipped(&got, &u.data, redact, max);
        size_t k = utf8_clip(full.data, full.len, max);
        assert_int_equal(clipped, k < full.len);
        assert_int_equal(got.len, 6 + k);
        assert_memory_equal(got.data + 6, full.data, k);
        assert_int_equal(got.data[got.len], '\0');
    }
    buf_free(&full);
}

static void clipping_renders_the_same_prefix_at_every_length(void **state)
{
    msgpack_pack_map(&in.pk, 4);
    pack_kv_str(&in.pk, "text", "ab\"c\\d\ne\x01 é€😀 \xff tail");
    pack_kv_str(&in.pk, "password", "hunter2");
    pack_str(&in.pk, "list");
    msgpack_pack_array(&in.pk, 3);
    msgpack_pack_int64(&in.pk, -12345);
    msgpack_pack_double(&in.pk, 0.1);
    msgpack_pack_map(&in.pk, 1);
    pack_kv_str(&in.pk, "k", "€€€€€€€€");
    pack_kv_int(&in.pk, "n", 7);
    check_clips(true);
    check_clips(false);
}

static void a_huge_string_is_clipped_like_the_whole_text(void **state)
{
    size_t n = 300000;
    char *s = malloc(n);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = "ab\"\xc3\xa9"[i % 5]; /* escapes and 2-byte sequences all the way */
    msgpack_pack_map(&in.pk, 1);
    pack_str(&in.pk, "pad");
    msgpack_pack_str(&in.pk, n);
    msgpack_pack_str_body(&in.pk, s, n);
    free(s);
    assert_true(unpack_exactly(in.sb.data, in.sb.size, &u));
    struct buf full = {0};
    mpjson_write(&full, &u.data, false);
    for (size_t max = 49990; max <= 50010; max++) {
        buf_reset(&got);
        assert_true(mpjson_write_clipped(&got, &u.data, false, max));
        size_t k = utf8_clip(full.data, full.len, max);
        assert_int_equal(got.len, k);
        assert_memory_equal(got.data, full.data, k);
    }
    buf_free(&full);
}

/* ---- the audit row ---- */

static void an_audit_row_clips_output_at_50000_bytes_and_says_so(void **state)
{
    size_t n = 60000;
    char *s = malloc(n);
    assert_non_null(s);
    memset(s, 'z', n);
    msgpack_pack_map(&in.pk, 1);
    pack_str(&in.pk, "pad");
    msgpack_pack_str(&in.pk, n);
    msgpack_pack_str_body(&in.pk, s, n);
    free(s);
    assert_true(unpack_exactly(in.sb.data, in.sb.size, &u));
    struct envelope e = {.id = {"job-1", 5}, .tool = {"echo", 4}, .args = &u.data};
    struct audit_row row = {.env = &e,
                            .status = "Success",
                            .output = &u.data,
                            .started_at = 1764288000000,
                            .duration_s = 0.5,
                            .worker = "w:1"};
    struct audit_rec r = {0};
    audit_rec_build(&r, &row);
    struct str out = audit_rec_get(&r, AC_OUTPUT_DATA), input = audit_rec_get(&r, AC_INPUT_DATA);
    assert_int_equal(out.n, AUDIT_OUTPUT_MAX);
    assert_string_equal(audit_rec_get(&r, AC_OUTPUT_TRUNCATED).p, "1");
    assert_int_equal(input.n, n + 10); /* {"pad":"..."}: not clipped */
    assert_memory_equal(out.p, input.p, out.n);
    assert_int_equal(strlen(input.p), input.n); /* each value is a C string too */
    audit_rec_free(&r);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fresh, release)
    const struct CMUnitTest tests[] = {
        T(every_special_byte_at_every_offset_of_two_words),
        T(multibyte_sequences_whole_and_cut_across_word_boundaries),
        T(random_bytes_match_the_reference),
        T(valid_utf8_text_is_one_run),
        T(a_megabyte_of_ascii_with_rare_escapes),
        T(clipping_renders_the_same_prefix_at_every_length),
        T(a_huge_string_is_clipped_like_the_whole_text),
        T(an_audit_row_clips_output_at_50000_bytes_and_says_so),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
