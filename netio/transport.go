package netio

import "github.com/treasured/treasured/netio/udp"

// The transport (netio/udp) owns the address type and the batch contracts;
// netio speaks of them under these names.
type (
	// Addr is a peer address, comparable and pointer-free (udp.Addr).
	Addr = udp.Addr
	// BatchSender is the fan-out's send seam (udp.BatchSender).
	BatchSender = udp.BatchSender
	// SendResult accounts for one BatchSender.Send (udp.SendResult).
	SendResult = udp.SendResult
	// BatchReceiver is the mmsg backend's receive seam (udp.BatchReceiver).
	BatchReceiver = udp.BatchReceiver
)
