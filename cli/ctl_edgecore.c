/*
 * doctor: on a KubeEdge edge node, edgecore's kubelet must hand pods our DNS
 * address, or nothing in a pod resolves a Service name.  KubeEdge >= 1.12:
 * modules.edged.tailoredKubeletConfig.clusterDNS (a list); before that
 * modules.edged.clusterDNS (a string).  No edgecore config: nothing to check.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "ctl.h"

#define EDGECORE_DEFAULT "/etc/kubeedge/config/edgecore.yaml"

/* The value node under key in a mapping node, or NULL. */
static yaml_node_t *
map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;
	yaml_node_t *k;

	if (map == NULL || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		k = yaml_document_get_node(doc, p->key);
		if (k != NULL && k->type == YAML_SCALAR_NODE &&
		    strcasecmp((const char *)k->data.scalar.value, key) == 0)
			return yaml_document_get_node(doc, p->value);
	}
	return NULL;
}

/* Append the clusterDNS addresses (scalar or list) to buf; -1 when there is none. */
static int
cluster_dns(yaml_document_t *doc, char *buf, size_t len)
{
	yaml_node_t *edged, *n, *item;
	yaml_node_item_t *it;
	size_t off = 0;

	edged = map_get(doc, map_get(doc, yaml_document_get_root_node(doc), "modules"), "edged");
	if ((n = map_get(doc, map_get(doc, edged, "tailoredKubeletConfig"), "clusterDNS")) == NULL)
		n = map_get(doc, edged, "clusterDNS");
	buf[0] = '\0';
	if (n == NULL)
		return -1;
	if (n->type == YAML_SCALAR_NODE) {
		snprintf(buf, len, "%s", (const char *)n->data.scalar.value);
		return 0;
	}
	if (n->type != YAML_SEQUENCE_NODE)
		return -1;
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
		if ((item = yaml_document_get_node(doc, *it)) != NULL &&
		    item->type == YAML_SCALAR_NODE && off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? "," : "",
						(const char *)item->data.scalar.value);
	return 0;
}

void
ctl_check_edgecore(struct doctor *dr, const char *path)
{
	const char *ip = dr->cfg->bridge_ip, *p;
	yaml_parser_t parser;
	yaml_document_t doc;
	char dns[512], fix[512];
	FILE *f;
	int found = 0, have;
	size_t n;

	if ((f = fopen(path != NULL ? path : EDGECORE_DEFAULT, "r")) == NULL) {
		if (path != NULL)
			doctor_fault(dr, "edgecore-clusterdns", path,
				     "name the edgecore config "
				     "with --edgecore FILE",
				     "cannot read %s: %s", path, strerror(errno));
		return;
	}
	path = path != NULL ? path : EDGECORE_DEFAULT;
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		doctor_fault(dr, "edgecore-clusterdns", path, "fix the YAML of edgecore's config",
			     "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
			     parser.problem_mark.column + 1,
			     parser.problem ? parser.problem : "invalid YAML");
		yaml_parser_delete(&parser);
		fclose(f);
		return;
	}
	have = cluster_dns(&doc, dns, sizeof(dns)) == 0;
	for (p = dns; have && (p = strstr(p, ip)) != NULL; p += strlen(ip)) {
		n = strlen(ip);
		if ((p == dns || p[-1] == ',' || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
			found = 1;
	}
	snprintf(fix, sizeof(fix),
		 "set modules.edged.tailoredKubeletConfig.clusterDNS: [%s] (KubeEdge >= 1.12; "
		 "before: modules.edged.clusterDNS: %s) in %s and restart edgecore; pods made "
		 "before keep their old resolv.conf until they are recreated",
		 ip, ip, path);
	if (!found)
		doctor_fault(dr, "edgecore-clusterdns", path, fix,
			     "edgecore's clusterDNS is %s%s%s, not this node's DNS address %s",
			     have ? "\"" : "", have ? dns : "unset", have ? "\"" : "", ip);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
}
