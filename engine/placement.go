package engine

import (
	"fmt"

	"github.com/flowscope/flowscope/wire"
)

// Role assignment of data connections lives here. A stream's place (its
// index, in the order the client opens them) decides its direction; with
// the roles extension each data connection states its index and role in
// a header after the cookie, checked by the server. From a stock client a
// TCP stream takes the next place in accept order (serverTest.addStream)
// and a UDP stream the next place in arrival order (acceptUDP), as iperf3
// assigns them; in TCP --bidir with a stock peer, on either side, the
// places are then taken again from where the peer's data arrives (see
// roles.go).

// streamDir returns the direction of the stream at idx as seen by side.
func streamDir(side Side, idx, parallel int, reverse, bidir bool) Dir {
	clientSends := !reverse
	if bidir {
		clientSends = idx < parallel
	}
	if (side == SideClient) == clientSends {
		return Send
	}
	return Recv
}

// dir is the direction of the stream at idx as side sees it.
func (p *Params) dir(side Side, idx int) Dir {
	return streamDir(side, idx, p.Parallel, p.Reverse, p.Bidir)
}

// roleHeader is the header a client's data connection at idx sends after
// the cookie (TCP) or the connect request (UDP) with the roles extension.
func (p *Params) roleHeader(idx int) []byte {
	role := wire.ClientSends
	if p.dir(SideClient, idx) == Recv {
		role = wire.ServerSends
	}
	return wire.StreamHeader{Role: role, Index: uint32(idx)}.Encode()
}

// placeOf checks a data connection's role header against the test and
// returns the stream's index.
func (p *Params) placeOf(h wire.StreamHeader) (int, error) {
	idx := int(h.Index)
	if idx < 0 || idx >= p.NumStreams() {
		return 0, fmt.Errorf("unexpected stream index %d", idx)
	}
	if (p.dir(SideClient, idx) == Send) != (h.Role == wire.ClientSends) {
		return 0, fmt.Errorf("stream index %d declared the wrong role", idx)
	}
	return idx, nil
}
