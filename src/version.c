// SPDX-License-Identifier: MIT
/* The run-time version: the header's macros as this library was built. */
#include "internal.h"

#define STR_(x) #x
#define STR(x)	STR_(x)

const char *shmring_version(void)
{
	return STR(SHMRING_VERSION_MAJOR) "." STR(SHMRING_VERSION_MINOR) "." STR(
		SHMRING_VERSION_PATCH);
}

int shmring_version_major(void)
{
	return SHMRING_VERSION_MAJOR;
}

int shmring_version_minor(void)
{
	return SHMRING_VERSION_MINOR;
}

int shmring_version_patch(void)
{
	return SHMRING_VERSION_PATCH;
}
