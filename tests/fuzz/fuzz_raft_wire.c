/* fuzz_raft_wire.c: libFuzzer target for the server-to-server decoder
 * (proto/raft_wire.c) and what raftd decodes next from a Raft message:
 * its entries and the snapshot's configuration. These bytes come from
 * the network. */
#include <stddef.h>
#include <stdint.h>

#include "raft.h"
#include "raft_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_obj o;
	struct rw_msg m;
	struct lerr e;

	if (rw_decode(data, size, &o, &m, &e) == 0 && m.type == RW_RAFT) {
		struct raft_config c;

		for (uint32_t i = 0; i < m.u.raft.n_entries; i++) {
			struct msg_raft_entry ent;

			(void)msg_raft_entry_dec(&m.u.raft.entries[i], &ent);
		}
		(void)raft_config_decode(m.u.raft.blob, m.u.raft.blob_len, &c);
	}
	proto_obj_free(&o);
	return 0;
}
