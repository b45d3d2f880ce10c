package engine

// Integer mixing: the engine's only source of "randomness". Everything random
// (chest placement, spawn points, loot ids and contents) is a pure function of
// the seed and of entity indices, never of a shared RNG whose state would
// depend on the order things happened in (docs/ARCHITECTURE.md "Determinism").

// fmix64 is the MurmurHash3 finalizer. It is a bijection on uint64 (each step
// is invertible), which is what makes loot ids unique and decodable.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= fmixC1
	h ^= h >> 33
	h *= fmixC2
	h ^= h >> 33
	return h
}

// unfmix64 inverts fmix64. x ^= x>>33 is its own inverse because 2*33 >= 64.
func unfmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= fmixC2Inv
	h ^= h >> 33
	h *= fmixC1Inv
	h ^= h >> 33
	return h
}

const (
	fmixC1 = 0xff51afd7ed558ccd
	fmixC2 = 0xc4ceb9fe1a85ec53
)

// Multiplicative inverses modulo 2^64, computed once rather than pasted in,
// so a typo cannot silently break unfmix64 (a test checks the round trip).
var (
	fmixC1Inv = inverse64(fmixC1)
	fmixC2Inv = inverse64(fmixC2)
)

// inverse64 returns a^-1 mod 2^64 for odd a by Newton's iteration; each step
// doubles the number of correct low bits (3 -> 6 -> ... -> 96).
func inverse64(a uint64) uint64 {
	x := a // correct to 3 bits for odd a
	for range 5 {
		x *= 2 - a*x
	}
	return x
}

// mix2 hashes two words; used to derive independent values from (seed, index).
func mix2(a, b uint64) uint64 {
	return fmix64(a ^ fmix64(b+0x9e3779b97f4a7c15))
}

// Entity hashing for the world state hash: h = hstep(hstep(hstart(..), w1), w2)...
// then fmix64. One multiply and rotate per word keeps a player under ~15 ns.
func hstart(tag, index uint64) uint64 { return fmix64(tag<<56 ^ index) }

func hstep(h, w uint64) uint64 {
	h ^= w
	h *= 0x9e3779b97f4a7c15
	return h ^ h>>29
}

// Loot ids. A loot id is a pure function of (seed, chest, generation)
// (docs/ARCHITECTURE.md "Exactly-once loot") built so that it is also unique and invertible:
//
//	x  = (chest+1)<<32 | generation      // injective, never 0
//	id = fmix64(x ^ lootKey)             // bijection, keyed by the seed
//
// lootKey only has low bits, so x^lootKey keeps the non-zero high half and id
// is never 0 (fmix64(0) == 0 is the only zero). PickupLoot inverts the id to
// find its chest in O(1), with no map and no search.

func lootKey(seed uint64) uint64 { return mix2(seed, 0x4c4f4f54) & 0xffffffff }

func makeLootID(key uint64, chest int32, gen uint32) uint64 {
	return fmix64((uint64(chest)+1)<<32 | uint64(gen) ^ key)
}

// parseLootID returns the chest and generation id was made from, if any.
func parseLootID(key uint64, id uint64, chests int32) (chest int32, gen uint32, ok bool) {
	x := unfmix64(id) ^ key
	hi := x >> 32
	if hi == 0 || hi > uint64(chests) {
		return 0, 0, false
	}
	return int32(hi - 1), uint32(x), true
}

// itemKinds is the number of distinct loot items; inventories count each.
const itemKinds = 8

// lootContents is the item and quantity of (chest, generation): a pure
// function of the seed, like the id.
func lootContents(seed uint64, chest int32, gen uint32) (item, qty uint16) {
	h := mix2(seed^0x434f4e54, uint64(chest)<<32|uint64(gen))
	return uint16(h % itemKinds), uint16(1 + (h>>8)%5)
}
