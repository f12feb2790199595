/* awareness.c: Lifeguard local health awareness (§9.3), memberlist's
 * awareness.go. The score counts evidence that we, not our peers, are
 * slow: failed probes that nobody nacked, accusations we had to refute.
 * It stretches the probe interval (and so the time a probe may take) by
 * score + 1, so an overloaded node accuses others less readily. */
#include "swim_int.h"

void
aw_delta(struct swim *s, int delta)
{
	int v = s->awareness + delta, top = (int)s->cfg.awareness_max - 1;

	s->awareness = v < 0 ? 0 : v > top ? top : v;
}

uint64_t
aw_scale(const struct swim *s, uint64_t t)
{
	return t * (uint64_t)(s->awareness + 1);
}
