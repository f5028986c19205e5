// SPDX-License-Identifier: MIT
/* The run-time version agrees with the header the program compiled against,
 * and with the file name the build gave the shared library. */
#include "testutil.h"

#include <dlfcn.h>
#include <stdio.h>

Test(version, parts_match_the_header_macros)
{
	cr_expect_eq(shmring_version_major(), SHMRING_VERSION_MAJOR);
	cr_expect_eq(shmring_version_minor(), SHMRING_VERSION_MINOR);
	cr_expect_eq(shmring_version_patch(), SHMRING_VERSION_PATCH);
}

Test(version, string_is_major_dot_minor_dot_patch)
{
	char want[64];
	const char *v = shmring_version();

	snprintf(want, sizeof(want), "%d.%d.%d", SHMRING_VERSION_MAJOR,
		 SHMRING_VERSION_MINOR, SHMRING_VERSION_PATCH);
	cr_assert_not_null(v);
	cr_expect_str_eq(v, want);
	cr_expect_eq(shmring_version(), v, "not one static string");
}

Test(version, shared_library_file_is_named_after_it)
{
	char path[512];
	void *h;
	const char *(*version)(void);

	/* BUILD/tests/test_version -> BUILD/libshmring.so.MAJOR.MINOR.PATCH */
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);

	cr_assert_gt(n, 0);
	path[n] = 0;
	*strrchr(path, '/') = 0;
	*strrchr(path, '/') = 0;
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "/libshmring.so.%s",
		 shmring_version());
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	cr_assert_not_null(h, "%s", dlerror());
	version = (const char *(*)(void))dlsym(h, "shmring_version");
	cr_assert_not_null(version, "shmring_version is not exported: %s", dlerror());
	cr_expect_str_eq(version(), shmring_version());
	dlclose(h);
}
