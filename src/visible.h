/* SPDX-License-Identifier: MIT */
/*
 * Text from one peer that is shown on another's terminal: which characters
 * may pass as themselves, and a visible form for the rest.  A client's line,
 * identity or notice must never become an escape sequence on someone else's
 * screen.  Pure functions over bytes.
 */
#ifndef RINGSIDE_VISIBLE_H
#define RINGSIDE_VISIBLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Decode one UTF-8 character at P (N > 0 bytes available).  Returns its
 * length (1 to 4) with the code point in *CP, or 0 when the bytes there are
 * not valid UTF-8 (a stray continuation byte, an overlong form, a surrogate,
 * a value past U+10FFFF, or a sequence cut short by N).
 */
size_t visible_utf8_decode(const uint8_t *p, size_t n, uint32_t *cp);

/*
 * Characters that act on a terminal or on how text reads rather than
 * showing: C0 controls, DEL, C1 controls (U+0080-U+009F), the line and
 * paragraph separators and the bidirectional embedding, override and
 * isolate controls (which can make text read differently from what it is).
 */
bool visible_is_control(uint32_t cp);

/* Valid UTF-8 without a single visible_is_control() character, TAB
 * excepted when ALLOW_TAB. */
bool visible_text_ok(const uint8_t *p, size_t n);
bool visible_line_ok(const uint8_t *p, size_t n, bool allow_tab);

/* The first character visible_line_ok() objects to, named for a message:
 * "ESC", "CR", "NUL", "U+009B", "byte 0xFF" ...; "" when there is none. */
void visible_first_bad(const uint8_t *p, size_t n, bool allow_tab, char *name, size_t len);

/*
 * Copy N bytes from P to OUT with every control in a visible form: C0 as
 * ^@..^_ (ESC is ^[), DEL as ^?, other controls as <U+XXXX>, bytes that are
 * not UTF-8 as <XX>.  The bytes in KEEP (for example "\t\r\n") pass as they
 * are.  Writes at most CAP bytes, never a character cut in half, and
 * returns the count.  Each input byte becomes at most VISIBLE_GROWTH output
 * bytes.
 */
#define VISIBLE_GROWTH 4
size_t visible_escape(const uint8_t *p, size_t n, const char *keep, char *out, size_t cap);

#endif
