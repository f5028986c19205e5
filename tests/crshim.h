/* SPDX-License-Identifier: MIT */
/*
 * A minimal stand-in for the Criterion macros the thread tests use, for
 * ThreadSanitizer builds: Criterion's sandbox cannot start under TSan
 * (Snaipe/Criterion#274, "Could not initialize inheritable arena"). Tests run
 * in-process, one after the other; a failed assertion ends the test.
 */
#ifndef SHMRING_CRSHIM_H
#define SHMRING_CRSHIM_H

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

struct shim_test {
	const char *suite, *name;
	void (*fn)(void);
	struct shim_test *next;
};

static struct shim_test *shim_tests;
static jmp_buf shim_jmp;
static int shim_failures;

#define Test(suite, name, ...)                                                        \
	static void suite##_##name(void);                                             \
	static struct shim_test suite##_##name##_t = { #suite, #name, suite##_##name, \
						       NULL };                        \
	__attribute__((constructor)) static void suite##_##name##_reg(void)           \
	{                                                                             \
		suite##_##name##_t.next = shim_tests;                                 \
		shim_tests = &suite##_##name##_t;                                     \
	}                                                                             \
	static void suite##_##name(void)

static inline void shim_check(int ok, const char *expr, const char *file, int line,
			      int fatal)
{
	if (ok)
		return;
	fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
	shim_failures++;
	if (fatal)
		longjmp(shim_jmp, 1);
}

#define SHIM(cond, fatal)	   shim_check(!!(cond), #cond, __FILE__, __LINE__, fatal)
#define cr_assert(cond, ...)	   SHIM(cond, 1)
#define cr_expect(cond, ...)	   SHIM(cond, 0)
#define cr_assert_eq(a, b, ...)	   SHIM((a) == (b), 1)
#define cr_expect_eq(a, b, ...)	   SHIM((a) == (b), 0)
#define cr_assert_neq(a, b, ...)   SHIM((a) != (b), 1)
#define cr_assert_geq(a, b, ...)   SHIM((a) >= (b), 1)
#define cr_assert_not_null(p, ...) SHIM((p) != NULL, 1)
#define cr_expect_null(p, ...)	   SHIM((p) == NULL, 0)
#define cr_assert_leq(a, b, ...)   SHIM((a) <= (b), 1)
#define cr_assert_fail(...)	   SHIM(0, 1)
#define cr_skip_test(...)	   longjmp(shim_jmp, 2)

int main(void)
{
	for (struct shim_test *volatile t = shim_tests; t; t = t->next) {
		int before = shim_failures, rc = setjmp(shim_jmp);

		if (rc == 0)
			t->fn();
		fprintf(stderr, "[%s] %s::%s\n",
			rc == 2		       ? "SKIP" :
			shim_failures > before ? "FAIL" :
						 "PASS",
			t->suite, t->name);
	}
	return shim_failures ? 1 : 0;
}

#endif /* SHMRING_CRSHIM_H */
