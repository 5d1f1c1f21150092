/*
 * Secrets at rest: a config file that holds a password or API secret inline, or a
 * secret file it names, must not be readable by every user of the host.
 */
#ifndef FAC_SECRETS_H
#define FAC_SECRETS_H

#include <stddef.h>

#include "config.h"

/* Checks the modes of `file` (the config c was read from) and of the secret files c
 * names; -1 with a message naming the file and the fix when one is open to all users.
 * Secret files that do not exist yet are not checked here (they are read when used). */
int secrets_check_modes(const struct fac_config *c, const char *file, char *err, size_t errlen);

#endif
