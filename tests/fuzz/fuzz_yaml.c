/* libFuzzer: manifests: YAML to JSON, then every document through kobj_parse (make fuzz). */
#include <stdint.h>
#include <stdlib.h>

#include "../../controller/kobj.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct yaml_doc *docs = NULL;
	struct kobj_diag diag;
	struct kobj *k;
	char err[512];
	size_t n = 0, i;

	log_init("fuzz", 0);
	if (yaml_json_load_buf((const char *)data, len, "fuzz.yaml", &docs, &n, err, sizeof(err)) ==
	    -1)
		return 0;
	for (i = 0; i < n; i++) {
		k = NULL;
		if (kobj_parse(docs[i].root, &k, &diag) == 0 && k != NULL)
			kobj_free(k);
	}
	yaml_json_docs_free(docs, n);
	return 0;
}
