// Command gen writes the gossip codec's golden vectors (../lzw.vec and
// ../frame.vec) with Go's own code: compress/lzw as memberlist calls it,
// and memberlist's compressPayload, makeCompoundMessage, encode,
// encryptPayload, encryptLocalState and readStream (through
// memberlist_export.go.in, see ../gen.sh). Nonces are fixed by replacing
// crypto/rand.Reader. Labels are not in Debian's memberlist 0.2.2: the
// label layers are built here as upstream's label.go and net.go do
// (header in front; AAD = label for packets, 5 header bytes + label for
// streams), around the real encryptPayload.
//
// File format (read by tests/unit/gossip_frame_test.c): "# " comments,
// records opened by "vector NAME", then "key value" lines; values are
// lowercase hex unless said otherwise. Inputs too large to store are
// described by a spec the C test regenerates (see input()).
package main

import (
	"bytes"
	"compress/lzw"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/memberlist"
)

type out struct {
	b strings.Builder
}

func (o *out) vector(name string) { fmt.Fprintf(&o.b, "vector %s\n", name) }
func (o *out) hex(k string, v []byte) {
	fmt.Fprintf(&o.b, "%s %s\n", k, hex.EncodeToString(v))
}
func (o *out) text(k, v string) { fmt.Fprintf(&o.b, "%s %s\n", k, v) }

func check(ok bool, what string) {
	if !ok {
		fmt.Fprintf(os.Stderr, "gen: self-check failed: %s\n", what)
		os.Exit(1)
	}
}

// splitmix64; the C test has the same generator.
type prng struct{ s uint64 }

func (p *prng) next() uint64 {
	p.s += 0x9e3779b97f4a7c15
	z := p.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Input specs:
//   hex H            the bytes H
//   repeat N H       H repeated N times
//   prng SEED N A    N bytes: (next()>>32) % A, plus 'a' when A < 256
//   debruijn N       the first N bytes of the de Bruijn sequence B(256, 2)
//                    in FKM order (0, 0 1, 0 2, ..., 0 255, 1, 1 2, ...):
//                    no byte pair repeats, so LZW emits one code per byte
//                    and N = 3838 ends exactly on the 4095-code reset.
func input(spec string) []byte {
	f := strings.Fields(spec)
	switch f[0] {
	case "hex":
		if len(f) == 1 {
			return []byte{}
		}
		b, err := hex.DecodeString(f[1])
		check(err == nil, spec)
		return b
	case "repeat":
		var n int
		fmt.Sscan(f[1], &n)
		unit, err := hex.DecodeString(f[2])
		check(err == nil, spec)
		return bytes.Repeat(unit, n)
	case "prng":
		var seed uint64
		var n, a int
		fmt.Sscan(f[1], &seed)
		fmt.Sscan(f[2], &n)
		fmt.Sscan(f[3], &a)
		p := prng{seed}
		b := make([]byte, n)
		for i := range b {
			v := byte((p.next() >> 32) % uint64(a))
			if a < 256 {
				v += 'a'
			}
			b[i] = v
		}
		return b
	case "debruijn":
		var n int
		fmt.Sscan(f[1], &n)
		var b []byte
		for x := 0; x < 256; x++ {
			b = append(b, byte(x))
			for y := x + 1; y < 256; y++ {
				b = append(b, byte(x), byte(y))
			}
		}
		return b[:n]
	}
	check(false, "unknown input spec "+spec)
	return nil
}

func lzwCompress(in []byte) []byte {
	var buf bytes.Buffer
	w := lzw.NewWriter(&buf, lzw.LSB, 8) // memberlist's compressPayload
	_, err := w.Write(in)
	check(err == nil, "lzw write")
	check(w.Close() == nil, "lzw close")
	return buf.Bytes()
}

func fnv1a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

func lzwVectors(o *out) {
	type v struct {
		name, spec string
		wrap       bool // also memberlist's [9][{Algo, Buf}]
	}
	vs := []v{
		{"empty", "hex", true},
		{"one-byte", "hex 61", true},
		{"two-bytes", "hex 0000", false},
		{"tobeornot", "hex " + hex.EncodeToString([]byte("TOBEORNOTTOBEORTOBEORNOT")), true},
		{"all-bytes", "hex " + func() string {
			b := make([]byte, 256)
			for i := range b {
				b[i] = byte(i)
			}
			return hex.EncodeToString(b)
		}(), false},
		{"kwkwk", "hex " + hex.EncodeToString([]byte("abababababababab")), false},
		{"repeat-a-10000", "repeat 10000 61", false},
		{"repeat-nil-512", "repeat 512 c0", true},
		{"repeat-3-70000", "repeat 70000 616263", false},
		{"debruijn-511", "debruijn 511", false},
		{"debruijn-512", "debruijn 512", false},
		{"debruijn-3837", "debruijn 3837", false},
		{"debruijn-3838", "debruijn 3838", false},
		{"debruijn-3839", "debruijn 3839", false},
		{"debruijn-3840", "debruijn 3840", false},
		{"debruijn-7676", "debruijn 7676", false},
		{"debruijn-7677", "debruijn 7677", false},
		{"prng-bytes-1000", "prng 1 1000 256", true},
		{"prng-bytes-20000", "prng 2 20000 256", false},
		{"prng-ab-60000", "prng 3 60000 2", false},
		{"prng-abcd-100000", "prng 4 100000 4", false},
	}
	for _, x := range vs {
		in := input(x.spec)
		z := lzwCompress(in)
		// Go's reader must give the input back.
		back, err := memberlist.GDecompressPayload(memberlist.GCompressPayload(in)[1:])
		check(err == nil && bytes.Equal(back, in), x.name)
		o.vector(x.name)
		o.text("input", x.spec)
		if len(z) <= 6000 {
			o.hex("lzw", z)
		} else {
			// Too big to store: its length and FNV-1a 64 (an encoder
			// that matches these wrote Go's bytes, so decoding our
			// output is decoding Go's).
			o.text("lzw-len", fmt.Sprint(len(z)))
			o.text("lzw-fnv", fmt.Sprintf("%016x", fnv1a(z)))
		}
		if x.wrap {
			w := memberlist.GCompressPayload(in)
			o.hex("wrap", w)
		}
	}
}

var nonceQueue []byte

type fixedReader struct{}

func (fixedReader) Read(p []byte) (int, error) {
	check(len(nonceQueue) >= len(p), "nonce queue empty")
	n := copy(p, nonceQueue)
	nonceQueue = nonceQueue[n:]
	return n, nil
}

// encrypt calls memberlist's encryptPayload with the given nonce.
func encrypt(vsn uint8, key, nonce, msg, aad []byte) []byte {
	nonceQueue = append([]byte(nil), nonce...)
	env := memberlist.GEncryptPayload(vsn, key, msg, aad)
	check(len(nonceQueue) == 0, "nonce not used")
	plain, err := memberlist.GDecryptPayload([][]byte{key}, env, aad)
	check(err == nil && bytes.Equal(plain, msg), "decrypt own envelope")
	return env
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func labelHeader(label string) []byte {
	if label == "" {
		return nil
	}
	return append([]byte{244, byte(len(label))}, label...)
}

func frameVectors(o *out) {
	k16, k24, k32 := seq(16, 0x00), seq(24, 0x40), seq(32, 0x80)
	nonce := seq(12, 0xa0)
	keys := map[string][]byte{"k16": k16, "k24": k24, "k32": k32}

	// CRC-32 (IEEE) as ingestPacket checks it.
	for _, c := range []struct{ name, spec string }{
		{"crc-empty", "hex"},
		{"crc-a", "hex 61"},
		{"crc-check", "hex " + hex.EncodeToString([]byte("123456789"))},
		{"crc-prng-1000", "prng 5 1000 256"},
	} {
		d := input(c.spec)
		o.vector(c.name)
		o.text("kind", "crc")
		o.text("input", c.spec)
		o.text("crc", fmt.Sprintf("%08x", crc32.ChecksumIEEE(d)))
	}

	// Envelopes: [vsn][nonce][ct][tag], every key size, both versions,
	// PKCS#7 with a partial and a full padding block, AAD empty or a label.
	ping := memberlist.GEncode(0, &memberlist.GPing{SeqNo: 7, Node: "n3"})
	for _, kn := range []string{"k16", "k24", "k32"} {
		for _, vsn := range []uint8{0, 1} {
			for _, m := range []struct {
				name string
				msg  []byte
				aad  string
			}{
				{"ping", ping, ""},
				{"block16", seq(16, 1), ""},
				{"empty", []byte{}, ""},
				{"ping-label", ping, "dc1-lan"},
			} {
				if m.name == "empty" && vsn == 1 {
					continue // tried below as a refusal
				}
				env := encrypt(vsn, keys[kn], nonce, m.msg, []byte(m.aad))
				o.vector(fmt.Sprintf("env-%s-v%d-%s", kn, vsn, m.name))
				o.text("kind", "envelope")
				o.hex("key", keys[kn])
				o.hex("nonce", nonce)
				o.text("vsn", fmt.Sprint(vsn))
				o.hex("aad", []byte(m.aad))
				o.hex("plain", m.msg)
				o.hex("sealed", env)
			}
		}
	}

	// UDP packets as rawSendMsgPacket builds them: compression if smaller,
	// CRC, encryption (AAD = label), label header (upstream).
	alive := func(name string, inc uint32) []byte {
		return memberlist.GEncode(4, &memberlist.GAlive{Incarnation: inc,
			Node: name, Addr: []byte{127, 0, 0, 42}, Port: 7946,
			Meta: []byte("\xff\x81\xa4role\xa4node"), Vsn: []uint8{1, 5, 2, 2, 5, 4}})
	}
	suspect := memberlist.GEncode(3, &memberlist.GSuspect{Incarnation: 1, Node: "n3", From: "n2"})
	for _, p := range []struct {
		name     string
		msgs     [][]byte
		key      []byte
		label    string
		crc      bool
		compress bool
	}{
		{"udp-plain-ping", [][]byte{ping}, nil, "", false, true},
		{"udp-crc-suspect", [][]byte{suspect}, nil, "", true, true},
		{"udp-compound-compressed", [][]byte{alive("n1", 1), alive("n2", 1), alive("n3", 2), suspect}, nil, "", true, true},
		{"udp-enc-ping", [][]byte{ping}, k32, "", false, true},
		{"udp-enc-crc-compound", [][]byte{ping, suspect}, k16, "", true, true},
		{"udp-enc-label-compressed", [][]byte{alive("n1", 1), alive("n2", 1), alive("n3", 1)}, k32, "dc1-lan", true, true},
		{"udp-label-plain", [][]byte{ping, suspect}, nil, "dc1-lan", false, false},
	} {
		msg := p.msgs[0]
		if len(p.msgs) > 1 {
			msg = memberlist.GMakeCompound(p.msgs)
		}
		plain := msg
		if p.compress {
			if c := memberlist.GCompressPayload(msg); len(c) < len(msg) {
				msg = c
			}
		}
		if p.crc {
			h := make([]byte, 5, 5+len(msg))
			h[0] = 12
			binary.BigEndian.PutUint32(h[1:], crc32.ChecksumIEEE(msg))
			msg = append(h, msg...)
		}
		inner := msg
		if p.key != nil {
			msg = encrypt(1, p.key, nonce, msg, []byte(p.label))
		}
		pkt := append(labelHeader(p.label), msg...)
		o.vector(p.name)
		o.text("kind", "udp")
		for _, m := range p.msgs {
			o.hex("msg", m)
		}
		o.hex("plain", plain)
		o.hex("key", p.key)
		o.hex("nonce", nonce)
		o.hex("label", []byte(p.label))
		o.text("crc", fmt.Sprint(p.crc))
		o.text("compress", fmt.Sprint(p.compress))
		o.hex("inner", inner)
		o.hex("packet", pkt)
	}

	// Streams as rawSendMsgStream builds them: compression always, then
	// [10][u32 len][envelope] with AAD = those 5 bytes + label; the label
	// header starts the connection (upstream). Checked with memberlist's
	// own readStream when there is no label.
	pp := func() []byte {
		var b bytes.Buffer
		hdr := memberlist.GEncode(6, &memberlist.GPushPullHeader{Nodes: 1, UserStateLen: 3, Join: true})
		b.Write(hdr)
		node := memberlist.GEncode(0, &memberlist.GPushNodeState{Name: "n1",
			Addr: []byte{127, 0, 0, 42}, Port: 7946, Incarnation: 1,
			Vsn: []uint8{1, 5, 2, 2, 5, 4}})
		b.Write(node[1:])
		b.Write([]byte{1, 2, 3})
		return b.Bytes()
	}()
	for _, s := range []struct {
		name     string
		msg      []byte
		key      []byte
		pv       uint8
		label    string
		compress bool
	}{
		{"stream-plain", ping, nil, 2, "", false},
		{"stream-compressed-pushpull", pp, nil, 2, "", true},
		{"stream-enc-pushpull", pp, k32, 2, "", true},
		{"stream-enc-v0-ping", ping, k16, 1, "", false},
		{"stream-enc-label", pp, k24, 2, "dc1-lan", true},
		{"stream-label-plain", ping, nil, 2, "dc1-lan", false},
	} {
		msg := s.msg
		if s.compress {
			msg = memberlist.GCompressPayload(msg)
		}
		inner := msg
		if s.key != nil {
			if s.label == "" {
				nonceQueue = append([]byte(nil), nonce...)
				msg = memberlist.GEncryptLocalState(s.key, s.pv, msg)
				check(len(nonceQueue) == 0, "nonce not used")
			} else {
				vsn := uint8(1)
				if s.pv < 2 {
					vsn = 0
				}
				hdr := []byte{10, 0, 0, 0, 0}
				n := len(msg) + 29
				if vsn == 0 {
					n = len(msg) + 16 - len(msg)%16 + 29
				}
				binary.BigEndian.PutUint32(hdr[1:], uint32(n))
				env := encrypt(vsn, s.key, nonce, msg, append(append([]byte(nil), hdr...), s.label...))
				msg = append(hdr, env...)
			}
		}
		stream := append(labelHeader(s.label), msg...)
		if s.label == "" {
			var keys [][]byte
			if s.key != nil {
				keys = [][]byte{s.key}
			}
			t, rest, err := memberlist.GReadStream(keys, true, stream)
			check(err == nil && t == s.msg[0] && bytes.Equal(rest, s.msg[1:]), s.name+": readStream")
		}
		o.vector(s.name)
		o.text("kind", "stream")
		o.hex("msg", s.msg)
		o.hex("key", s.key)
		o.hex("nonce", nonce)
		o.hex("label", []byte(s.label))
		o.text("compress", fmt.Sprint(s.compress))
		o.hex("inner", inner)
		o.hex("stream", stream)
	}

	// What memberlist's readStream says to streams it refuses; the C
	// test expects the same reasons from gw_stream_open.
	encStream := func(key []byte) []byte {
		nonceQueue = append([]byte(nil), nonce...)
		return memberlist.GEncryptLocalState(key, 2, ping)
	}
	for _, r := range []struct {
		name   string
		keys   [][]byte
		verify bool
		stream []byte
	}{
		{"refuse-wrong-key", [][]byte{k24}, true, encStream(k32)},
		{"refuse-plain-with-keys", [][]byte{k32}, true, ping},
		{"refuse-encrypted-without-keys", nil, true, encStream(k32)},
	} {
		_, _, err := memberlist.GReadStream(r.keys, r.verify, r.stream)
		check(err != nil, r.name+": accepted")
		o.vector(r.name)
		o.text("kind", "stream-refused")
		for _, k := range r.keys {
			o.hex("key", k)
		}
		o.hex("stream", r.stream)
		o.text("error", err.Error())
	}
	// And the plain stream it accepts with keys when verify_incoming is off.
	t, _, err := memberlist.GReadStream([][]byte{k32}, false, ping)
	check(err == nil && t == 0, "plain stream with verify off")
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen OUTDIR")
		os.Exit(2)
	}
	rand.Reader = fixedReader{}
	head := "# Generated by tests/golden/gen.sh with Go's compress/lzw and Debian's\n" +
		"# memberlist 0.2.2 code; do not edit. Format: see gen/main.go.\n"
	var l, f out
	l.b.WriteString(head)
	f.b.WriteString(head)
	lzwVectors(&l)
	frameVectors(&f)
	for name, o := range map[string]*out{"lzw.vec": &l, "frame.vec": &f} {
		p := filepath.Join(os.Args[1], name)
		if err := os.WriteFile(p, []byte(o.b.String()), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
