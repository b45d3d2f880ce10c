package client_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/treasured/treasured/client"
	"github.com/treasured/treasured/client/clienttest"
	"github.com/treasured/treasured/schema"
	"github.com/treasured/treasured/schema/wire"
)

// A player connects, waits for its first snapshot, walks to the first chest
// it sees and opens it, and is shown the loot exactly once, although the
// server repeats the event until the client acknowledges it.
func ExampleDial() {
	// treasured itself, in process on 127.0.0.1, with three chests.
	srv, err := clienttest.NewServer(clienttest.Options{Chests: 3})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	shown := 0
	// The address and a connect token for user 42, as a login backend
	// would hand them to the game.
	tgt := srv.Target(42)
	c, err := client.Dial(context.Background(), tgt.Addr, client.Options{
		Config: client.Config{Credentials: client.Credentials{Token: tgt.Token, Keys: tgt.Keys}, Region: 0},
		Handlers: client.Handlers{
			Loot: func(ev *schema.LootEvent, _ int64) {
				shown++
				fmt.Printf("loot %v from chest %d\n", wire.LootEventKind(ev.Kind), ev.Chest)
			},
		},
		HandshakeTimeout: 3 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close() // sends Bye

	opened := false
	for i := 0; i < 400 && shown == 0; i++ { // bounded: 400 x 5 ms at most
		v := c.View()
		if !opened && v.NumChests() > 0 {
			ch := v.ChestAt(0)
			// Walk there, then open it: both ride in every Input until a
			// snapshot's last_action_seq says the server applied them.
			c.Do(schema.Action{Kind: uint8(wire.ActionKindMove), Pos: ch.Pos})
			c.Do(schema.Action{Kind: uint8(wire.ActionKindOpenChest), Target: uint64(ch.ID)})
			opened = true
		}
		c.SendInput() // also acknowledges the newest snapshot
		c.Poll(5 * time.Millisecond)
	}
	// Keep acknowledging for a while: the repeats that still arrive are
	// filtered, not shown.
	for range 20 {
		c.SendInput()
		c.Poll(5 * time.Millisecond)
	}
	st := c.Session().Loot().Stats
	fmt.Printf("shown %d, own loot expected %d, lost %d\n", st.TotalShown(), st.Expected, c.Session().Loot().Lost())
	// Output:
	// loot Generated from chest 0
	// shown 1, own loot expected 1, lost 0
}
