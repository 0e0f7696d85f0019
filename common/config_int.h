/*
 * What config.c and config_check.c share: the checks of string values the
 * key table names, and how a value is shown in a message.
 */
#ifndef EM_CONFIG_INT_H
#define EM_CONFIG_INT_H

#include <stddef.h>

#define CFG_SHOW_LEN 48 /* longest value quoted in a message */

/* Printable copy of v cut at CFG_SHOW_LEN; cfg_show: the same, quoted. */
void cfg_clean(const char *v, size_t vlen, char *buf, size_t len);
void cfg_show(const char *v, size_t vlen, char *buf, size_t len);

/* Each returns 0 for a good value, else -1 with why filled in. */
int cfg_check_nonempty(const char *, char *why, size_t);
int cfg_check_cidr(const char *, char *why, size_t);
int cfg_check_cidr4(const char *, char *why, size_t);
int cfg_check_abspath(const char *, char *why, size_t);
int cfg_check_ifname(const char *, char *why, size_t);
int cfg_check_ipv4(const char *, char *why, size_t);
int cfg_check_hostport(const char *, char *why, size_t);
int cfg_check_domain(const char *, char *why, size_t);
int cfg_check_proxy_opt(const char *, char *why, size_t);

#endif
