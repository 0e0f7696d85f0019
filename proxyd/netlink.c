/*
 * Netlink attributes, for bridge.c (rtnetlink) and proxy_ct.c (ctnetlink):
 * a request is an nlmsghdr at the start of a buffer; attributes are
 * appended at its aligned end and nlmsg_len grows with them.
 */
#include <linux/netlink.h>

#include <string.h>

#include "log.h"
#include "proxyd.h"

struct nlattr *
nl_put(struct nlmsghdr *nh, size_t cap, uint16_t type, const void *data, size_t len)
{
	size_t off = NLMSG_ALIGN(nh->nlmsg_len);
	struct nlattr *a = (struct nlattr *)((char *)nh + off);

	if (off + NLA_HDRLEN + NLA_ALIGN(len) > cap)
		fatalx("%s: netlink request longer than its %zu bytes", __func__, cap);
	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	if (len > 0)
		memcpy((char *)a + NLA_HDRLEN, data, len);
	nh->nlmsg_len = (uint32_t)(off + NLA_ALIGN(a->nla_len));
	return a;
}

void
nl_nest_end(struct nlmsghdr *nh, struct nlattr *nest)
{
	nest->nla_len = (uint16_t)((char *)nh + nh->nlmsg_len - (char *)nest);
}

const struct nlattr *
nl_get(const void *attrs, size_t len, uint16_t type)
{
	const char *p = attrs;
	const struct nlattr *a;
	size_t step;

	while (len >= NLA_HDRLEN) {
		a = (const struct nlattr *)p;
		if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
			return NULL;
		if ((a->nla_type & NLA_TYPE_MASK) == type)
			return a;
		if ((step = (size_t)NLA_ALIGN(a->nla_len)) >= len)
			return NULL;
		len -= step;
		p += step;
	}
	return NULL;
}
