/*
 * A listen address from the config ("127.0.0.1:9187", "[::1]:9187"): numeric hosts
 * only, so a listener binds exactly where it is told and never waits on DNS.
 */
#ifndef FAC_ADDR_H
#define FAC_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Parses s into *out (NULL: only check). On error returns -1 with a reason in err. */
int addr_parse(const char *s, struct sockaddr_storage *out, char *err, size_t errlen);

#endif
