/*
 * The reserved words of a plain YAML scalar, as YAML 1.1 and yaml.v2 (thus
 * kubectl's sigs.k8s.io/yaml) resolve them: null (~, null), booleans
 * (y, yes, true, on / n, no, false, off), .inf, -.inf, .nan.  Each word
 * counts only in three spellings: lower case, Capitalised, UPPER case
 * ("True", "TRUE"; not "tRuE", which is a string).  YAML 1.2's core
 * schema keeps true/false and null in the same three spellings.  Used by
 * the daemon config (common/config.c) and the manifest reader
 * (controller/yaml_json.c), so a word means the same in both.
 */
#ifndef EM_YAML_SCALAR_H
#define EM_YAML_SCALAR_H

#include <stdbool.h>

enum yaml_word {
	YAML_WORD_NONE, /* not a reserved word */
	YAML_WORD_NULL,
	YAML_WORD_BOOL,	 /* *b set */
	YAML_WORD_FLOAT, /* *d set: +-infinity or NaN */
};

/* What the plain scalar s is; b and d may be NULL. */
enum yaml_word yaml_scalar_word(const char *s, bool *b, double *d);
/* 0 with *b set when s is a boolean word, else -1. */
int yaml_scalar_bool(const char *s, bool *b);

#endif
