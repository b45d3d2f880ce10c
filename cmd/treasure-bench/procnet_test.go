package main

import (
	"strings"
	"testing"
)

// Port 7777 = 0x1E61; 40000 = 0x9C40.
const procNetUDP = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  101: 0100007F:1E61 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1001 2 0000000000000000 5
  102: 0100007F:1E61 00000000:0000 07 00000000:00000A00 00:00000000 00000000     0        0 1002 2 0000000000000000 7
  103: 0100007F:9C40 0100007F:1E61 01 00000000:00000000 00:00000000 00000000     0        0 1003 2 0000000000000000 2
  104: 0100007F:9C41 0100007F:1E62 01 00000000:00000000 00:00000000 00000000     0        0 1004 2 0000000000000000 100
`

func TestParseProcNetUDP(t *testing.T) {
	s, c, err := ParseProcNetUDP(strings.NewReader(procNetUDP), 7777, 7777)
	if err != nil {
		t.Fatal(err)
	}
	if s.Sockets != 2 || s.Drops != 12 || s.RxQueue != 0xA00 {
		t.Fatalf("server %+v", s)
	}
	if c.Sockets != 1 || c.Drops != 2 {
		t.Fatalf("clients %+v", c)
	}
}

func TestParseSNMP(t *testing.T) {
	in := "Ip: Forwarding DefaultTTL\nIp: 1 64\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 10 1 2 30 4 5\n"
	m := parseSNMP(strings.NewReader(in), "Udp:")
	if m["RcvbufErrors"] != 4 || m["InDatagrams"] != 10 || m["SndbufErrors"] != 5 {
		t.Fatalf("%v", m)
	}
}
