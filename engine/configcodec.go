package engine

import (
	"encoding/binary"
	"fmt"
)

// ConfigSize is the size of a Config encoded by AppendConfig.
const ConfigSize = 108

// AppendConfig appends c's portable encoding to dst: every field in
// declaration order, little-endian, Go ints as int64 so the bytes are the
// same on every platform (Seed u64, Regions i64, ZonesX i64, ZonesY i64,
// ZoneSize i32, ChestsPerZone i64, MaxPlayers i64, MaxLoot i64,
// RespawnTicks u32, LootTTLTicks u32, ReachMM i32, MaxSpeedMM i32,
// MaxPending i64, NodePool i64, EventPool i64, TickHz u32, GraceTicks u32).
// The journal header and the checkpoint both carry it, so a file of another
// world can be told from one of this world by comparing the decoded values.
func AppendConfig(dst []byte, c *Config) []byte {
	le := binary.LittleEndian
	dst = le.AppendUint64(dst, c.Seed)
	dst = le.AppendUint64(dst, uint64(int64(c.Regions)))
	dst = le.AppendUint64(dst, uint64(int64(c.ZonesX)))
	dst = le.AppendUint64(dst, uint64(int64(c.ZonesY)))
	dst = le.AppendUint32(dst, uint32(c.ZoneSize))
	dst = le.AppendUint64(dst, uint64(int64(c.ChestsPerZone)))
	dst = le.AppendUint64(dst, uint64(int64(c.MaxPlayers)))
	dst = le.AppendUint64(dst, uint64(int64(c.MaxLoot)))
	dst = le.AppendUint32(dst, c.RespawnTicks)
	dst = le.AppendUint32(dst, c.LootTTLTicks)
	dst = le.AppendUint32(dst, uint32(c.ReachMM))
	dst = le.AppendUint32(dst, uint32(c.MaxSpeedMM))
	dst = le.AppendUint64(dst, uint64(int64(c.MaxPending)))
	dst = le.AppendUint64(dst, uint64(int64(c.NodePool)))
	dst = le.AppendUint64(dst, uint64(int64(c.EventPool)))
	dst = le.AppendUint32(dst, c.TickHz)
	return le.AppendUint32(dst, c.GraceTicks)
}

// ParseConfig decodes AppendConfig's ConfigSize bytes. It fails when a
// stored Go int does not fit this platform's int (a 64-bit file read on a
// 32-bit host): never a silent wrap. It does not Validate.
func ParseConfig(p []byte) (Config, error) {
	if len(p) != ConfigSize {
		return Config{}, fmt.Errorf("engine: encoded config is %d bytes, want %d", len(p), ConfigSize)
	}
	le := binary.LittleEndian
	ok := true
	i64 := func() int {
		v := int64(le.Uint64(p))
		p = p[8:]
		if int64(int(v)) != v {
			ok = false
		}
		return int(v)
	}
	u32 := func() uint32 {
		v := le.Uint32(p)
		p = p[4:]
		return v
	}
	var c Config
	c.Seed = le.Uint64(p)
	p = p[8:]
	c.Regions = i64()
	c.ZonesX = i64()
	c.ZonesY = i64()
	c.ZoneSize = int32(u32())
	c.ChestsPerZone = i64()
	c.MaxPlayers = i64()
	c.MaxLoot = i64()
	c.RespawnTicks = u32()
	c.LootTTLTicks = u32()
	c.ReachMM = int32(u32())
	c.MaxSpeedMM = int32(u32())
	c.MaxPending = i64()
	c.NodePool = i64()
	c.EventPool = i64()
	c.TickHz = u32()
	c.GraceTicks = u32()
	if !ok {
		return c, fmt.Errorf("engine: config value does not fit this platform's int")
	}
	return c, nil
}
