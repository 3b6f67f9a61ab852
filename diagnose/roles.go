package diagnose

import (
	"fmt"
	"sort"
	"time"
)

// Finding kinds of --bidir role detection against stock iperf3 peers.
const (
	KindRolesSwapped = "bidir-roles-swapped"
	KindRolesGuessed = "bidir-roles-guessed"
	KindMispaired    = "stream-mispaired"
)

// BidirPeer names the stock end of a --bidir test for the role findings:
// the end whose order decides the roles there, and what to run instead.
type BidirPeer int

const (
	// StockServer: this end is a flowscope client; the stock server
	// assigned roles by its accept order.
	StockServer BidirPeer = iota
	// StockClient: this end is a flowscope server; the stock client
	// connected senders first, then receivers.
	StockClient
)

func (p BidirPeer) orderText() string {
	if p == StockServer {
		return "the stock iperf3 server assigned sender and receiver roles by its accept order, and that order differed from the order this client connected in"
	}
	return "this server accepted the stock iperf3 client's data connections in another order than the client connected them, and the client expects roles by that order"
}

// mismatchText says what data on a sending stream means with this peer.
func (p BidirPeer) mismatchText() string {
	if p == StockServer {
		return "data is arriving on streams this client sends on: the stock iperf3 server assigned sender and receiver roles by its accept order, and they differ from the roles this client took (esnet/iperf#2029); on those streams both ends send, on as many others both wait"
	}
	return "data is arriving on streams this server sends on: the stock iperf3 client expects roles by its connect order, and they differ from the roles this server took (esnet/iperf#2029); on those streams both ends send, on as many others both wait"
}

// Fix is what to do about a --bidir role failure with this peer.
func (p BidirPeer) Fix() string { return p.fix() }

func (p BidirPeer) fix() string {
	if p == StockServer {
		return "run flowscope on the server (its streams declare their roles), or retry"
	}
	return "run flowscope as the client (its streams declare their roles), or retry"
}

// RolesSwapped reports that a stock peer's --bidir roles differed from the
// connection order on swapped of 2P connections (esnet/iperf#2029) and that
// this end took the roles from where the peer's data arrived instead, after
// took. Nothing was lost: it is worth knowing, not a problem.
func RolesSwapped(p BidirPeer, swapped, streams int, took time.Duration) *Finding {
	if swapped == 0 {
		return nil
	}
	return &Finding{
		Severity: Info,
		Kind:     KindRolesSwapped,
		What:     p.orderText() + " (esnet/iperf#2029); the roles were taken from where its data arrived, so the test runs",
		Evidence: fmt.Sprintf("%d of %d data connections in the other role than their order gave them; roles known after %s", swapped, streams, took.Round(10*time.Microsecond)),
	}
}

// RolesGuessed warns that only heard of a stock peer's perDir sending
// streams brought data within wait: the rest of the roles follow the
// connection order, which deadlocks when that order was wrong.
func RolesGuessed(p BidirPeer, heard, perDir int, wait time.Duration) *Finding {
	if heard >= perDir {
		return nil
	}
	return &Finding{
		Severity: Warning,
		Kind:     KindRolesGuessed,
		What:     fmt.Sprintf("only %d of the stock iperf3 peer's %d sending streams brought data in time; the other roles follow the connection order, as iperf3 assigns them, and stall if that order was wrong", heard, perDir),
		Evidence: fmt.Sprintf("waited %s for its first data", wait.Round(time.Millisecond)),
		Fix:      p.fix(),
	}
}

// RoleMismatch reports data arriving on streams this end only sends on, in
// --bidir against a stock peer: the peer's roles and this end's differ
// there, so the test cannot move data both ways.
func RoleMismatch(p BidirPeer, ids []int) *Finding {
	if len(ids) == 0 {
		return nil
	}
	sort.Ints(ids)
	return &Finding{
		Streams:  ids,
		Severity: Critical,
		Kind:     KindRoleMismatch,
		What:     p.mismatchText(),
		Evidence: idList(ids),
		Fix:      p.fix(),
	}
}

// Mispaired reports streams whose receiver counted more bytes than their
// sender sent, beyond slack: a stock peer numbered its streams in another
// order than this end, so its per-stream results (and this end's view of
// them) pair one connection's sender with another's receiver. The totals
// of each direction are right; the per-stream lines are not.
func Mispaired(ids []int, slack int) *Finding {
	if len(ids) == 0 {
		return nil
	}
	sort.Ints(ids)
	return &Finding{
		Streams:  ids,
		Severity: Warning,
		Kind:     KindMispaired,
		What:     "the stock iperf3 peer numbered the data connections in another order than this end, so per-stream results pair different connections: a stream received more than its sender sent (the direction totals are right)",
		Evidence: fmt.Sprintf("received more than sent (beyond the one block of %d bytes a stock sender may leave uncounted) on %s", slack, idList(ids)),
		Fix:      "compare the direction totals, not stream lines; run flowscope on both ends for per-stream pairs (its streams declare their places)",
	}
}

// StreamList names streams by id as the findings do ("streams 1,3,4").
func StreamList(ids []int) string { return idList(ids) }
