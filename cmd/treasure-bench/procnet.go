package main

import (
	"bufio"
	"io"
	"os"
	"strconv"
	"strings"
)

// UDPDrops is what /proc/net/udp says about a set of sockets: the kernel's
// per-socket drop counter (receive buffer full, mostly) and the bytes queued.
type UDPDrops struct {
	Sockets     int
	DropSockets int // of those, sockets with drops
	Drops       uint64
	RxQueue     uint64
}

// ParseProcNetUDP sums the drops of the sockets whose local port is
// localPort (the server's, with SO_REUSEPORT possibly several sockets) and,
// separately, of those connected to remotePort (this generator's sockets,
// which connect to the server). A port of 0 matches nothing.
//
// Line format (net/ipv4/udp.c udp4_format_sock): sl, local_address
// (hex addr:port), rem_address, st, tx_queue:rx_queue, tr tm->when,
// retrnsmt, uid, timeout, inode, ref, pointer, drops.
func ParseProcNetUDP(r io.Reader, localPort, remotePort int) (server, clients UDPDrops, err error) {
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 13 {
			continue
		}
		lport := hexPort(f[1])
		rport := hexPort(f[2])
		drops, _ := strconv.ParseUint(f[12], 10, 64)
		var rxq uint64
		if _, q, ok := strings.Cut(f[4], ":"); ok {
			rxq, _ = strconv.ParseUint(q, 16, 64)
		}
		var d *UDPDrops
		switch {
		case localPort != 0 && lport == localPort && rport == 0:
			d = &server
		case remotePort != 0 && rport == remotePort:
			d = &clients
		default:
			continue
		}
		d.Sockets++
		d.Drops += drops
		if drops > 0 {
			d.DropSockets++
		}
		d.RxQueue += rxq
	}
	return server, clients, sc.Err()
}

func hexPort(addr string) int {
	_, p, ok := strings.Cut(addr, ":")
	if !ok {
		return -1
	}
	v, err := strconv.ParseUint(p, 16, 32)
	if err != nil {
		return -1
	}
	return int(v)
}

// ReadUDPDrops reads /proc/net/udp (and udp6). Errors leave zero counts: the
// file is Linux-only and the report says when it had none.
func ReadUDPDrops(localPort, remotePort int) (server, clients UDPDrops, ok bool) {
	for _, path := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		s, c, err := ParseProcNetUDP(f, localPort, remotePort)
		f.Close()
		if err != nil {
			continue
		}
		ok = true
		server.Sockets += s.Sockets
		server.Drops += s.Drops
		server.RxQueue += s.RxQueue
		clients.Sockets += c.Sockets
		clients.DropSockets += c.DropSockets
		clients.Drops += c.Drops
		clients.RxQueue += c.RxQueue
	}
	return server, clients, ok
}

// ReadUDPSNMP reads the system-wide UDP counters of /proc/net/snmp
// (RcvbufErrors, SndbufErrors, InErrors, ...) as a map.
func ReadUDPSNMP() map[string]uint64 {
	f, err := os.Open("/proc/net/snmp")
	if err != nil {
		return nil
	}
	defer f.Close()
	return parseSNMP(f, "Udp:")
}

func parseSNMP(r io.Reader, prefix string) map[string]uint64 {
	sc := bufio.NewScanner(r)
	var names []string
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		f := strings.Fields(line)[1:]
		if names == nil {
			names = f
			continue
		}
		out := make(map[string]uint64, len(names))
		for i, n := range names {
			if i < len(f) {
				out[n], _ = strconv.ParseUint(f[i], 10, 64)
			}
		}
		return out
	}
	return nil
}
