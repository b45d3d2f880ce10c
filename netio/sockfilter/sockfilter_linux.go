package sockfilter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// Filter is one loaded program and its maps, shared by every socket of a
// server (one per event loop): the session table is global, like the
// slots. Safe for concurrent use: each slot has one writer (the loop that
// owns it), and the kernel reads.
type Filter struct {
	prog     *ebpf.Program
	sessions *ebpf.Map // array: slot -> live session id, 0 when none
	counts   *ebpf.Map // per-CPU array: Reason -> datagrams dropped
	slots    int

	// Counts stay readable after Close (a metrics scrape during a
	// shutdown): Close keeps the last reading.
	mu     sync.Mutex
	closed bool
	final  [NumReasons]uint64
}

// New loads the filter for p. It fails where the kernel refuses eBPF (no
// CAP_BPF, an old kernel); the caller decides whether to run without it.
func New(p Params) (*Filter, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	f := &Filter{slots: p.Slots}
	var err error
	f.sessions, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "trsr_sessions", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: uint32(p.Slots),
	})
	if err != nil {
		return nil, fmt.Errorf("sockfilter: session map: %w", err)
	}
	f.counts, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: "trsr_drops", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: uint32(NumReasons),
	})
	if err != nil {
		f.sessions.Close()
		return nil, fmt.Errorf("sockfilter: counter map: %w", err)
	}
	f.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "trsr_filter",
		Type:         ebpf.SocketFilter,
		License:      "Apache-2.0",
		Instructions: program(p, f.sessions.FD(), f.counts.FD()),
	})
	if err != nil {
		f.sessions.Close()
		f.counts.Close()
		return nil, fmt.Errorf("sockfilter: load program: %w", err)
	}
	return f, nil
}

// Registers the program keeps across helper calls (R6-R9 are callee-saved).
const (
	rCtx    = asm.R6 // the skb
	rLen    = asm.R7 // UDP payload length
	rHead   = asm.R8 // the payload's first 8 bytes, little-endian
	rReason = asm.R9
	udpHdr  = 8 // at a UDP socket's filter, the skb's data starts with the UDP header
)

// program is the filter; see the package comment for what it decides. A
// socket filter returns how many bytes to keep: 0 drops the datagram,
// skb->len keeps all of it.
func program(p Params, sessions, counts int) asm.Instructions {
	ident := int32(binary.LittleEndian.Uint32(p.Identifier[:]))
	insns := asm.Instructions{
		asm.Mov.Reg(rCtx, asm.R1),
		asm.LoadMem(rLen, rCtx, 0, asm.Word), // __sk_buff.len
		asm.Sub.Imm(rLen, udpHdr),
		asm.JGT.Imm(rLen, int32(p.MaxDatagram), "oversized"),
		asm.JLT.Imm(rLen, 8, "truncated"),
		// bpf_skb_load_bytes(skb, udpHdr, fp-8, 8)
		asm.Mov.Reg(asm.R1, rCtx),
		asm.Mov.Imm(asm.R2, udpHdr),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -8),
		asm.Mov.Imm(asm.R4, 8),
		asm.FnSkbLoadBytes.Call(),
		asm.JNE.Imm(asm.R0, 0, "truncated"),
		asm.LoadMem(rHead, asm.RFP, -8, asm.DWord),
	}
	if p.Sealed {
		insns = append(insns,
			asm.Mov.Reg(asm.R1, rHead),
			asm.RSh.Imm(asm.R1, 56),
			asm.JGE.Imm(asm.R1, 0x80, "sealed"),
		)
	}
	// Plain: the identifier, then the root offset, as the verifier's
	// root() checks them.
	insns = append(insns,
		asm.Mov.Reg(asm.R1, rHead),
		asm.RSh.Imm(asm.R1, 32),
		asm.JNE.Imm(asm.R1, ident, "bad_identifier"),
		asm.Mov.Reg32(asm.R1, rHead),
		asm.JLT.Imm(asm.R1, 8, "malformed"),
		asm.JGE.Reg(asm.R1, rLen, "malformed"),
		asm.And.Imm(asm.R1, 3),
		asm.JNE.Imm(asm.R1, 0, "malformed"),
		asm.LoadMem(asm.R0, rCtx, 0, asm.Word).WithSymbol("pass"),
		asm.Return(),
	)
	if p.Sealed {
		// Sealed: long enough for the seal, and the session id names the
		// live session of its slot (an array lookup past the end is nil).
		insns = append(insns,
			asm.JLT.Imm(rLen, int32(p.Overhead), "truncated").WithSymbol("sealed"),
			asm.Mov.Reg32(asm.R1, rHead),
			asm.And.Imm(asm.R1, 1<<24-1),
		)
		insns = append(insns, lookup(sessions, asm.R1, -12)...)
		insns = append(insns,
			asm.JEq.Imm(asm.R0, 0, "bad_session"),
			asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
			asm.JNE.Reg(asm.R1, rHead, "bad_session"),
			asm.Ja.Label("pass"),
			asm.Mov.Imm(rReason, int32(BadSession)).WithSymbol("bad_session"),
			asm.Ja.Label("count"),
		)
	}
	insns = append(insns,
		asm.Mov.Imm(rReason, int32(Oversized)).WithSymbol("oversized"),
		asm.Ja.Label("count"),
		asm.Mov.Imm(rReason, int32(Truncated)).WithSymbol("truncated"),
		asm.Ja.Label("count"),
		asm.Mov.Imm(rReason, int32(BadIdentifier)).WithSymbol("bad_identifier"),
		asm.Ja.Label("count"),
		asm.Mov.Imm(rReason, int32(Malformed)).WithSymbol("malformed"),
	)
	// count: counts[reason]++ (per CPU, so no atomic), then drop.
	count := lookup(counts, rReason, -16)
	count[0] = count[0].WithSymbol("count")
	insns = append(insns, count...)
	return append(insns,
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("drop"),
		asm.Return(),
	)
}

// lookup is bpf_map_lookup_elem(m, &key) with the 4-byte key taken from
// register key and kept on the stack at fp+off; R0 is then the value's
// address, or 0.
func lookup(m int, key asm.Register, off int16) asm.Instructions {
	return asm.Instructions{
		asm.StoreMem(asm.RFP, off, key, asm.Word),
		asm.LoadMapPtr(asm.R1, m),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, int32(off)),
		asm.FnMapLookupElem.Call(),
	}
}

// Attach puts the filter on the socket fd (SO_ATTACH_BPF). Any descriptor
// of the socket will do: a filter belongs to the socket, not the fd.
func (f *Filter) Attach(fd int) error {
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ATTACH_BPF, f.prog.FD()); err != nil {
		return fmt.Errorf("sockfilter: attach to fd %d: %w", fd, err)
	}
	return nil
}

// SetSession records id as the live session of slot, or none with id 0.
// Called by the slot's owner when a session begins and ends; it does not
// allocate.
func (f *Filter) SetSession(slot int32, id uint64) error {
	if slot < 0 || int(slot) >= f.slots {
		return fmt.Errorf("sockfilter: slot %d out of range", slot)
	}
	k := uint32(slot)
	if err := f.sessions.Update(unsafe.Pointer(&k), unsafe.Pointer(&id), ebpf.UpdateExist); err != nil {
		return fmt.Errorf("sockfilter: slot %d: %w", slot, err)
	}
	return nil
}

// Counts adds the datagrams dropped so far, per reason, over every CPU,
// into out. It allocates (the per-CPU values); call it when metrics are
// read, not per datagram.
func (f *Filter) Counts(out *[NumReasons]uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		for r, v := range f.final {
			out[r] += v
		}
		return nil
	}
	return f.read(out)
}

func (f *Filter) read(out *[NumReasons]uint64) error {
	var vals []uint64
	for r := range NumReasons {
		k := uint32(r)
		if err := f.counts.Lookup(&k, &vals); err != nil {
			return fmt.Errorf("sockfilter: read counter %v: %w", r, err)
		}
		for _, v := range vals {
			out[r] += v
		}
	}
	return nil
}

// Close releases the program and maps, keeping the counts as they are
// then. Sockets it is attached to keep the program (the kernel holds a
// reference) until they close; call Close after them, so that no drop is
// left uncounted.
func (f *Filter) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	err := f.read(&f.final)
	return errors.Join(err, f.prog.Close(), f.sessions.Close(), f.counts.Close())
}
