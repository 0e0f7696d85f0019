#include <math.h>
#include <stddef.h>
#include <string.h>

#include "yaml_scalar.h"

/* clang-format off */
static const struct {
	const char *s;
	enum yaml_word w;
	int v; /* bool value, or sign of an infinity, 2: NaN */
} words[] = {
	{"y", YAML_WORD_BOOL, 1},	{"Y", YAML_WORD_BOOL, 1},
	{"yes", YAML_WORD_BOOL, 1},	{"Yes", YAML_WORD_BOOL, 1},	{"YES", YAML_WORD_BOOL, 1},
	{"true", YAML_WORD_BOOL, 1},	{"True", YAML_WORD_BOOL, 1},	{"TRUE", YAML_WORD_BOOL, 1},
	{"on", YAML_WORD_BOOL, 1},	{"On", YAML_WORD_BOOL, 1},	{"ON", YAML_WORD_BOOL, 1},
	{"n", YAML_WORD_BOOL, 0},	{"N", YAML_WORD_BOOL, 0},
	{"no", YAML_WORD_BOOL, 0},	{"No", YAML_WORD_BOOL, 0},	{"NO", YAML_WORD_BOOL, 0},
	{"false", YAML_WORD_BOOL, 0},	{"False", YAML_WORD_BOOL, 0},	{"FALSE", YAML_WORD_BOOL, 0},
	{"off", YAML_WORD_BOOL, 0},	{"Off", YAML_WORD_BOOL, 0},	{"OFF", YAML_WORD_BOOL, 0},
	{"~", YAML_WORD_NULL, 0},
	{"null", YAML_WORD_NULL, 0},	{"Null", YAML_WORD_NULL, 0},	{"NULL", YAML_WORD_NULL, 0},
	{".nan", YAML_WORD_FLOAT, 2},	{".NaN", YAML_WORD_FLOAT, 2},	{".NAN", YAML_WORD_FLOAT, 2},
	{".inf", YAML_WORD_FLOAT, 1},	{".Inf", YAML_WORD_FLOAT, 1},	{".INF", YAML_WORD_FLOAT, 1},
	{"+.inf", YAML_WORD_FLOAT, 1},	{"+.Inf", YAML_WORD_FLOAT, 1},	{"+.INF", YAML_WORD_FLOAT, 1},
	{"-.inf", YAML_WORD_FLOAT, -1},	{"-.Inf", YAML_WORD_FLOAT, -1},	{"-.INF", YAML_WORD_FLOAT, -1},
};
/* clang-format on */

enum yaml_word
yaml_scalar_word(const char *s, bool *b, double *d)
{
	size_t k;

	for (k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
		if (strcmp(s, words[k].s) != 0)
			continue;
		if (words[k].w == YAML_WORD_BOOL && b != NULL)
			*b = words[k].v != 0;
		else if (words[k].w == YAML_WORD_FLOAT && d != NULL)
			*d = words[k].v == 2 ? NAN : words[k].v * INFINITY;
		return words[k].w;
	}
	return YAML_WORD_NONE;
}

int
yaml_scalar_bool(const char *s, bool *b)
{
	return yaml_scalar_word(s, b, NULL) == YAML_WORD_BOOL ? 0 : -1;
}
