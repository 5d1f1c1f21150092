/* UTF-8 validation and clipping (utf8.h). */
#include "utf8.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* Every byte of the ASCII_STEP bytes at p is ASCII (below 0x80). */
#ifdef __SSE2__
#define ASCII_STEP 16
static inline int step_is_ascii(const unsigned char *p)
{
    return _mm_movemask_epi8(_mm_loadu_si128((const __m128i *)p)) == 0;
}
#else
#define ASCII_STEP 8
static inline int step_is_ascii(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return (w & 0x8080808080808080ULL) == 0;
}
#endif

size_t utf8_valid_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i + ASCII_STEP <= n && step_is_ascii(s + i))
            i += ASCII_STEP;
        if (i == n) break;
        size_t k = s[i] < 0x80 ? 1 : utf8_seq(s + i, n - i);
        if (!k) break;
        i += k;
    }
    return i;
}

void utf8_append_valid(struct buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    buf_reserve(out, n);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_valid_prefix(p + i, n - i);
        buf_append(out, s + i, k);
        i += k;
        if (i < n) {
            buf_append(out, "\xef\xbf\xbd", 3);
            i++;
        }
    }
}

size_t utf8_clip(const char *s, size_t n, size_t max)
{
    if (n <= max) return n;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
        k--;
    return k;
}
