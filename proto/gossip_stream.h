/* gossip_stream.h: finding the end of one message on a gossip TCP stream
 * (memberlist sends one request and one reply per connection with no outer
 * length; the layers say where a message ends). */
#ifndef LICTOR_GOSSIP_STREAM_H
#define LICTOR_GOSSIP_STREAM_H

#include <stddef.h>
#include <stdint.h>

/* buf holds the bytes read so far. 0 with *msg_len = the length of the
 * first complete message (label, encryption frame, compression wrapper or
 * plain message: push/pull with its nodes and user state, user message
 * with its bytes, ping, ack, err); -LE_AGAIN when more bytes are needed;
 * -LE_MALFORMED / -LE_TOOBIG (reason in *why) when no more bytes can make
 * it valid. Only the framing is checked, not the contents. */
int gw_stream_msg_len(const uint8_t *buf, size_t len, size_t *msg_len,
    const char **why);

#endif
