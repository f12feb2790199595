/* fuzz_config.c: libFuzzer target for the config loader (libyaml fed
 * through the schema table), YAML and JSON alike. */
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lictor_config c;
	struct lerr e;

	log_setlevel(LOG_LVL_ERROR);
	config_defaults(&c);
	(void)config_load_string(&c, "fuzz.json", (const char *)data, size,
	    &e);
	config_free(&c);
	config_defaults(&c);
	(void)config_load_string(&c, "fuzz.yaml", (const char *)data, size,
	    &e);
	config_free(&c);
	return 0;
}
