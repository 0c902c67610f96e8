// SPDX-License-Identifier: MIT
/* Unit tests for src/visible.c: strict UTF-8, which characters may reach
 * someone else's terminal as themselves, and the visible forms of the rest. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "src/visible.h"

#define U(s) (const uint8_t *)(s), strlen(s)

static void test_visible_utf8_decode_lengths_and_rejects(void **state)
{
	uint32_t cp;

	assert_int_equal(visible_utf8_decode(U("A"), &cp), 1);
	assert_int_equal(cp, 'A');
	assert_int_equal(visible_utf8_decode(U("\xc3\xa9"), &cp), 2);
	assert_int_equal(cp, 0xe9);
	assert_int_equal(visible_utf8_decode(U("\xe2\x82\xac"), &cp), 3);
	assert_int_equal(cp, 0x20ac);
	assert_int_equal(visible_utf8_decode(U("\xf4\x8f\xbf\xbf"), &cp), 4);
	assert_int_equal(cp, 0x10ffff);
	assert_int_equal(visible_utf8_decode(U("\x9b"), &cp), 0);		/* stray continuation */
	assert_int_equal(visible_utf8_decode(U("\xc1\xbf"), &cp), 0);		/* overlong */
	assert_int_equal(visible_utf8_decode(U("\xe0\x80\x9b"), &cp), 0);	/* overlong */
	assert_int_equal(visible_utf8_decode(U("\xed\xbf\xbf"), &cp), 0);	/* surrogate */
	assert_int_equal(visible_utf8_decode(U("\xf4\x90\x80\x80"), &cp), 0);	/* > U+10FFFF */
	assert_int_equal(visible_utf8_decode(U("\xff"), &cp), 0);
	assert_int_equal(visible_utf8_decode((const uint8_t *)"\xe2\x82\xac", 2, &cp), 0);
}

static void test_visible_controls(void **state)
{
	for (uint32_t c = 0; c < 0x20; c++)
		assert_true(visible_is_control(c));
	for (uint32_t c = 0x20; c < 0x7f; c++)
		assert_false(visible_is_control(c));
	for (uint32_t c = 0x7f; c <= 0x9f; c++)
		assert_true(visible_is_control(c));
	assert_false(visible_is_control(0xa0));
	assert_true(visible_is_control(0x202e));
	assert_true(visible_is_control(0x2066));
	assert_true(visible_is_control(0x2028));
	assert_false(visible_is_control(0x20ac));
}

static void test_visible_line_ok(void **state)
{
	char name[32];

	assert_true(visible_line_ok(U("break main"), false));
	assert_true(visible_line_ok(U("p \"caf\xc3\xa9\""), false));
	assert_false(visible_line_ok(U("a\tb"), false));
	assert_true(visible_line_ok(U("a\tb"), true));
	assert_false(visible_line_ok(U("first\rsecond"), true));
	assert_false(visible_line_ok((const uint8_t *)"a\0b", 3, true));
	assert_false(visible_line_ok(U("\x1b]0;owned\x07"), true));
	assert_false(visible_line_ok(U("x\xc2\x9b" "2J"), true));
	assert_false(visible_line_ok(U("x\x9b" "2J"), true));
	visible_first_bad(U("first\rsecond"), true, name, sizeof(name));
	assert_string_equal(name, "CR");
	visible_first_bad((const uint8_t *)"a\0b", 3, true, name, sizeof(name));
	assert_string_equal(name, "NUL");
	visible_first_bad(U("ab\x1b["), true, name, sizeof(name));
	assert_string_equal(name, "ESC");
	visible_first_bad(U("x\xc2\x9b"), true, name, sizeof(name));
	assert_string_equal(name, "U+009B");
	visible_first_bad(U("x\xff"), true, name, sizeof(name));
	assert_string_equal(name, "byte 0xFF");
	visible_first_bad(U("fine"), true, name, sizeof(name));
	assert_string_equal(name, "");
}

static void test_visible_escape_forms(void **state)
{
	char out[128];
	size_t n;

	n = visible_escape(U("\x1b]0;title\x07\x1b[2J"), "", out, sizeof(out));
	assert_int_equal(n, strlen("^[]0;title^G^[[2J"));
	assert_memory_equal(out, "^[]0;title^G^[[2J", n);
	n = visible_escape(U("a\xc2\x9b" "b\x9b" "c\x7f"), "", out, sizeof(out));
	assert_memory_equal(out, "a<U+009B>b<9B>c^?", n);
	n = visible_escape(U("tab\there\r\n"), "\t\r\n", out, sizeof(out));
	assert_memory_equal(out, "tab\there\r\n", n);
	n = visible_escape(U("caf\xc3\xa9"), "", out, sizeof(out));
	assert_memory_equal(out, "caf\xc3\xa9", n);
	/* Never half a form or half a character at the end. */
	n = visible_escape(U("ab\x1b"), "", out, 3);
	assert_int_equal(n, 2);
	n = visible_escape(U("a\xc3\xa9"), "", out, 2);
	assert_int_equal(n, 1);
}

static void test_visible_escape_growth_bound(void **state)
{
	uint8_t in[256];
	char out[256 * VISIBLE_GROWTH];

	for (unsigned i = 0; i < 256; i++)
		in[i] = (uint8_t)i;
	assert_int_equal(visible_escape(in, sizeof(in), "", out, sizeof(out)) <= sizeof(out), 1);
	/* Every byte got through: the output was not cut short. */
	for (unsigned b = 0; b < 256; b++) {
		uint8_t one = (uint8_t)b;
		char o[VISIBLE_GROWTH];

		assert_true(visible_escape(&one, 1, "", o, sizeof(o)) > 0);
	}
	{
		char o[VISIBLE_GROWTH * 3];

		assert_int_equal(visible_escape(U("\xe2\x80\xae"), "", o, sizeof(o)), 8);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_visible_utf8_decode_lengths_and_rejects),
		cmocka_unit_test(test_visible_controls),
		cmocka_unit_test(test_visible_line_ok),
		cmocka_unit_test(test_visible_escape_forms),
		cmocka_unit_test(test_visible_escape_growth_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
