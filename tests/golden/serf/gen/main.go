// Prints Serf's encoded messages as V(name, "hex") lines, a C include
// (tests/golden/serf/vectors.inc, read by tests/unit/gossip_serf_test.c);
// see gen.sh.
package main

import (
	"encoding/hex"
	"fmt"

	"github.com/hashicorp/serf/serf"
)

func main() {
	fmt.Println("/* Serf 0.9.4 (Debian golang-github-hashicorp-serf-dev) encodings; regenerate with tests/golden/serf/gen/gen.sh */")
	for _, v := range serf.GenVectors() {
		fmt.Printf("V(%s, \"%s\")\n", v.Name, hex.EncodeToString(v.Raw))
	}
}
