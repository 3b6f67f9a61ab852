package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// checkItem is one line of iperf3's pre-release checklist
// (../shared/peers/iperf3-3.21/test_commands.sh), with the test shortened:
// -t 5 becomes -t 1, and a line without -t, -n or -k gets -t 1 instead of
// iperf3's 10 s.
type checkItem struct {
	line string   // the line's options as test_commands.sh has them
	args []string // what runs here
	// refused: the line is refused rather than run (see checkRefusal).
	refused bool
}

// checklist is test_commands.sh, line by line.
func checklist() []checkItem {
	cpu := strconv.Itoa(runtime.NumCPU() - 1) // -A 2/2 needs a third CPU
	items := []checkItem{
		{line: `-V -t 5 -T "test1"`, args: []string{"-V", "-t", "1", "-T", "test1"}},
		{line: "-u -V -t 5", args: []string{"-u", "-V", "-t", "1"}},
		{line: "-i .3 -O 2 -t 5", args: []string{"-i", ".3", "-O", "1", "-t", "1"}},
		{line: "-i 1 -J -t 5", args: []string{"-i", "1", "-J", "-t", "1"}},
		{line: "-4 -t 5", args: []string{"-4", "-t", "1"}},
		{line: "-4 -u -t 5", args: []string{"-4", "-u", "-t", "1"}},
		{line: "-6 -t 5", args: []string{"-6", "-t", "1"}},
		{line: "-6 -u -t 5", args: []string{"-6", "-u", "-t", "1"}},
		{line: "-V -t 5 --fq-rate 5m", args: []string{"-V", "-t", "1", "--fq-rate", "5m"}},
		{line: "-u -V -t 5 --fq-rate 5m", args: []string{"-u", "-V", "-t", "1", "--fq-rate", "5m"}},
		{line: "--sctp -V -t 5", args: []string{"--sctp", "-V", "-t", "1"}, refused: true},
		{line: "-P 3 -t 5", args: []string{"-P", "3", "-t", "1"}},
		{line: "-u -P 3 -t 5", args: []string{"-u", "-P", "3", "-t", "1"}},
		{line: "-P 2 -t 5 -R", args: []string{"-P", "2", "-t", "1", "-R"}},
		{line: "-u -P 2 -t 5 -R", args: []string{"-u", "-P", "2", "-t", "1", "-R"}},
		{line: "-P 2 -t 5 --bidir", args: []string{"-P", "2", "-t", "1", "--bidir"}},
		{line: "-u -P 2 -t 5 --bidir", args: []string{"-u", "-P", "2", "-t", "1", "--bidir"}},
		{line: "-Z -t 5", args: []string{"-Z", "-t", "1"}},
		{line: "-Z -t 5 -R", args: []string{"-Z", "-t", "1", "-R"}},
		{line: "-t 5 -w 8M", args: []string{"-t", "1", "-w", "8M"}},
		{line: "-n 5M", args: []string{"-n", "5M"}},
		{line: "-n 5M -u -b1G", args: []string{"-n", "5M", "-u", "-b1G"}},
		{line: "-n 5M -R", args: []string{"-n", "5M", "-R"}},
		{line: "-n 5M -u -b1G -R", args: []string{"-n", "5M", "-u", "-b1G", "-R"}},
		{line: "-n 5M -t 5", args: []string{"-n", "5M", "-t", "1"}, refused: true},
		{line: "-k 1K", args: []string{"-k", "1K"}},
		{line: "-k 1K -u -b1G", args: []string{"-k", "1K", "-u", "-b1G"}},
		{line: "-k 1K -R", args: []string{"-k", "1K", "-R"}},
		{line: "-k 1K -u -b1G -R", args: []string{"-k", "1K", "-u", "-b1G", "-R"}},
		{line: "-A 2/2", args: []string{"-A", cpu + "/" + cpu, "-t", "1"}},
		{line: "-A 2/2 -u -b1G", args: []string{"-A", cpu + "/" + cpu, "-u", "-b1G", "-t", "1"}},
		{line: "-u -b1G/100", args: []string{"-u", "-b1G/100", "-t", "1"}},
		{line: "-C reno -V", args: []string{"-C", "reno", "-V", "-t", "1"}},
		{line: "-M 1000 -V", args: []string{"-M", "1000", "-V", "-t", "1"}},
	}
	return items
}

// expectation is what a line asks for, read from its options.
type expectation struct {
	udp            bool
	streams        int // per direction
	reverse, bidir bool
	seconds        float64 // -t; 0 for -n and -k tests
	omit           float64
	bytes          int64 // -n
	blocks         int64 // -k
	args           []string
}

func expect(args []string) expectation {
	e := expectation{streams: 1, args: args}
	for i := 0; i < len(args); i++ {
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch a := args[i]; a {
		case "-u":
			e.udp = true
		case "-R":
			e.reverse = true
		case "--bidir":
			e.bidir = true
		case "-P":
			e.streams, _ = strconv.Atoi(next())
		case "-t":
			e.seconds, _ = strconv.ParseFloat(next(), 64)
		case "-O":
			e.omit, _ = strconv.ParseFloat(next(), 64)
		case "-n":
			e.bytes = sizeArg(next())
		case "-k":
			e.blocks = sizeArg(next())
		}
	}
	return e
}

// sizeArg reads iperf3's K/M/G sizes (powers of 1024).
func sizeArg(s string) int64 {
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, _ := strconv.ParseInt(s, 10, 64)
	return n * mult
}

// checkDoc is the part of an iperf3-schema -J document the checklist reads;
// flowscope's -J writes the same schema.
type checkDoc struct {
	Start struct {
		TestStart struct {
			Blksize int64 `json:"blksize"`
		} `json:"test_start"`
	} `json:"start"`
	End struct {
		Streams []struct {
			Sender   *checkSide `json:"sender"`
			Receiver *checkSide `json:"receiver"`
			UDP      *checkSide `json:"udp"`
		} `json:"streams"`
		SumSent            *checkSide `json:"sum_sent"`
		SumReceived        *checkSide `json:"sum_received"`
		SumSentReverse     *checkSide `json:"sum_sent_bidir_reverse"`
		SumReceivedReverse *checkSide `json:"sum_received_bidir_reverse"`
	} `json:"end"`
	Error string `json:"error"`
}

type checkSide struct {
	Bytes       int64   `json:"bytes"`
	Seconds     float64 `json:"seconds"`
	Packets     int64   `json:"packets"`
	LostPackets int64   `json:"lost_packets"`
	Sender      bool    `json:"sender"`
}

// combination is one client/server pairing of the checklist.
type combination struct {
	name           string
	client, server peer
}

// checkResult is one line run in one combination.
type checkResult struct {
	client, server *run
	problems       []string
	notes          []string // what was compared, logged always
}

// TestIperf3Checklist runs iperf3's own release checklist in the four
// combinations of flowscope with stock iperf3 3.21 and 3.12: 3.21 and 3.12
// clients against a flowscope server, a flowscope client against 3.21 and
// 3.12 servers. Each line must give iperf3's exit code, move data in the
// line's direction(s) on every stream, keep iperf3's totals (what the
// receiver counted is what was sent wherever iperf3 itself gets that) and
// last as long as the line asks. The combinations run at once, each line
// after the other within one.
func TestIperf3Checklist(t *testing.T) {
	fs := peerFlowscope(t)
	var combos []combination
	v312 := peerIperf312(t)
	// Without 3.21 its two combinations are skipped, the 3.12 ones run.
	v321, err321 := iperf321()
	if err321 == nil {
		combos = append(combos, combination{"3.21-client/flowscope-server", v321, fs})
	}
	combos = append(combos, combination{"3.12-client/flowscope-server", v312, fs})
	if err321 == nil {
		combos = append(combos, combination{"flowscope-client/3.21-server", fs, v321})
	}
	combos = append(combos, combination{"flowscope-client/3.12-server", fs, v312})
	if err321 != nil {
		t.Run("3.21", func(t *testing.T) { t.Skip(err321) })
	}
	// The reference: iperf3 against itself, where the checks were drawn
	// from. FLOWSCOPE_CHECKLIST_REFERENCE=1 runs it instead.
	if os.Getenv("FLOWSCOPE_CHECKLIST_REFERENCE") != "" {
		combos = []combination{{"3.12-client/3.12-server", v312, v312}}
		if err321 == nil {
			combos = append(combos, combination{"3.21-client/3.21-server", v321, v321})
		}
	}

	items := checklist()
	results := make([][]checkResult, len(combos))
	var wg sync.WaitGroup
	for ci, c := range combos {
		results[ci] = make([]checkResult, len(items))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ii, it := range items {
				results[ci][ii] = runCheck(c, it)
			}
		}()
	}
	wg.Wait()

	for ci, c := range combos {
		t.Run(c.name, func(t *testing.T) {
			for ii, it := range items {
				r := results[ci][ii]
				t.Run(it.line, func(t *testing.T) {
					for _, n := range r.notes {
						t.Log(n)
					}
					for _, p := range r.problems {
						t.Error(p)
					}
					if t.Failed() {
						t.Logf("client %v", r.client)
						if r.server != nil {
							t.Logf("server %v", r.server)
						}
					}
				})
			}
		})
	}
}

// runCheck runs one checklist line in one combination and lists what is
// wrong with it.
func runCheck(c combination, it checkItem) checkResult {
	e := expect(it.args)
	host := "127.0.0.1"
	if slices.Contains(it.args, "-6") {
		host = "::1"
	}
	var res checkResult
	srv, err := startServer(c.server, host, 60*time.Second)
	if err != nil {
		res.problems = append(res.problems, err.Error())
		return res
	}
	args := append([]string{"-c", host, "-p", strconv.Itoa(srv.port), "-J"}, it.args...)
	res.client = runProcess(context.Background(), c.client.bin, 40*time.Second, args...)
	bad := func(format string, a ...any) { res.problems = append(res.problems, fmt.Sprintf(format, a...)) }
	// A one-off server exits after its test; one whose client was refused
	// before it connected is stopped.
	if res.server = srv.wait(15 * time.Second); res.server == nil && !it.refused {
		bad("the server did not exit within 15 s of the client")
	}
	cl := res.client
	if cl.timedOut {
		bad("the client hung: killed after %v", cl.wall.Round(time.Millisecond))
		return res
	}
	if it.refused {
		checkRefusal(c, it, cl, bad)
		return res
	}
	if cl.code != 0 {
		bad("client exit %d, want 0", cl.code)
		return res
	}
	var doc checkDoc
	if err := json.Unmarshal(jsonPart(cl.stdout), &doc); err != nil {
		bad("the client's -J output is not JSON: %v", err)
		return res
	}
	if doc.Error != "" {
		bad("the client's JSON has error %q", doc.Error)
	}
	// The sender is flowscope's or a stock iperf3's: -n, -k and the end of
	// a timed UDP test are checked where flowscope sends (stock iperf3
	// overshoots -n and -k in UDP tests, 3.21's client by 130 MB; its UDP
	// sender in reverse runs one gap past -t). In reverse UDP -n and -k
	// tests the receiver counts, as in iperf3: the server sends until the
	// client has the count.
	stockSender := (c.client.flowscope && e.reverse) || (!c.client.flowscope && !e.reverse) || (e.udp && e.reverse)
	// A stock client that receives ends the test itself: iperf3 3.12 counts
	// its reads as -k's blocks, so it may stop the sender short of the
	// count, never past it.
	upToCount := !c.client.flowscope && e.reverse
	res.notes = append(res.notes, checkData(e, &doc, stockSender && !e.bidir, upToCount, bad)...)
	checkLength(e, &doc, cl, bad)
	if res.server != nil {
		checkServer(e, &doc, res.server, bad)
	}
	return res
}

// checkRefusal: a refused line exits as iperf3 does (1; iperf3 3.12 with
// -J exits 0 with the refusal in the document's "error"), or, for
// flowscope's own refusal of an option it does not implement, 2 with one
// line that says why.
func checkRefusal(c combination, it checkItem, cl *run, bad func(string, ...any)) {
	want, why := 1, ""
	switch {
	case slices.Contains(it.args, "--sctp"):
		why = "SCTP"
		if c.client.flowscope {
			want = 2
		}
	case slices.Contains(it.args, "-n") && slices.Contains(it.args, "-t"):
		why = "only one test end condition (-t, -n, -k) may be specified"
	}
	var doc struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(jsonPart(cl.stdout), &doc)
	if cl.code != want && !(c.client.name == "iperf3-3.12" && cl.code == 0 && doc.Error != "") {
		bad("client exit %d, want %d (refused: %s)", cl.code, want, why)
	}
	// flowscope's own refusal, and a flowscope server's to a stock client
	// (as iperf3's error code for it: "no SCTP support available"), say why.
	if (c.client.flowscope || c.server.flowscope) && !strings.Contains(strings.ToLower(string(cl.stderr)+string(cl.stdout)), strings.ToLower(why)) {
		bad("the refusal does not say %q", why)
	}
}

// checkData: every stream moved data in the line's direction(s), and the
// totals add up; it returns what it compared, for the log.
func checkData(e expectation, doc *checkDoc, stockSender, upToCount bool, bad func(string, ...any)) (notes []string) {
	wantStreams := e.streams
	if e.bidir {
		wantStreams *= 2
	}
	if n := len(doc.End.Streams); n != wantStreams {
		bad("%d streams in end.streams, want %d", n, wantStreams)
		return nil
	}
	block := doc.Start.TestStart.Blksize
	sending, receiving := 0, 0
	for i, s := range doc.End.Streams {
		snd, rcv := s.Sender, s.Receiver
		if e.udp {
			if s.UDP == nil {
				bad("stream %d has no udp object", i)
				continue
			}
			snd, rcv = s.UDP, s.UDP
		}
		if snd == nil || rcv == nil {
			bad("stream %d lacks its sender or receiver side", i)
			continue
		}
		if snd.Sender {
			sending++
		} else {
			receiving++
		}
		if snd.Bytes == 0 || rcv.Bytes == 0 || (e.udp && s.UDP.Packets == 0) {
			bad("stream %d moved nothing: sender %d bytes, receiver %d bytes", i, snd.Bytes, rcv.Bytes)
		}
		if !e.udp {
			notes = append(notes, fmt.Sprintf("stream %d: sent %d, received %d (%+d)", i, snd.Bytes, rcv.Bytes, rcv.Bytes-snd.Bytes))
			// What the receiver read the sender wrote; iperf3 3.21 counts
			// a block as read before its sender counted it written.
			if e.omit == 0 && rcv.Bytes > snd.Bytes+block {
				bad("stream %d: the receiver counted %d bytes, more than the %d sent", i, rcv.Bytes, snd.Bytes)
			}
		}
	}
	wantSend, wantRecv := e.streams, 0
	switch {
	case e.bidir:
		wantRecv = e.streams
	case e.reverse:
		wantSend, wantRecv = 0, e.streams
	}
	if sending != wantSend || receiving != wantRecv {
		bad("the client sent on %d and received on %d streams, want %d and %d", sending, receiving, wantSend, wantRecv)
	}
	sent, recv := doc.End.SumSent, doc.End.SumReceived
	if sent == nil || recv == nil {
		bad("end.sum_sent or end.sum_received missing")
		return notes
	}
	if e.udp {
		notes = append(notes, fmt.Sprintf("UDP: sent %d datagrams, receiver %d with %d lost", sent.Packets, recv.Packets, recv.LostPackets))
		// iperf3's receiver reports the datagrams the sender numbered
		// (the highest sequence number seen) and how many of those did
		// not arrive. Without -b (1 Mbit/s) nothing is lost on loopback.
		lossless := !slices.ContainsFunc(e.args, func(a string) bool { return strings.HasPrefix(a, "-b") })
		switch {
		case recv.Packets > sent.Packets || recv.LostPackets < 0 || recv.LostPackets > recv.Packets:
			bad("UDP: the sender counted %d datagrams, the receiver %d with %d lost", sent.Packets, recv.Packets, recv.LostPackets)
		case lossless && !stockSender && (recv.Packets != sent.Packets || recv.LostPackets != 0):
			bad("UDP at 1 Mbit/s: the sender counted %d datagrams, the receiver %d with %d lost; want all of them", sent.Packets, recv.Packets, recv.LostPackets)
		}
		if e.blocks > 0 && !stockSender && sent.Packets != e.blocks {
			bad("-k %d: %d datagrams sent", e.blocks, sent.Packets)
		}
	}
	if e.bytes > 0 && !stockSender && ((sent.Bytes < e.bytes && !upToCount) || sent.Bytes > e.bytes+block*int64(e.streams)) {
		bad("-n %d: %d bytes sent (block %d)", e.bytes, sent.Bytes, block)
	}
	if e.blocks > 0 && !e.udp && !stockSender && (sent.Bytes > e.blocks*block || (sent.Bytes < e.blocks*block && !upToCount)) {
		bad("-k %d: %d bytes sent, want %d blocks of %d", e.blocks, sent.Bytes, e.blocks, block)
	}
	switch {
	case (e.bytes > 0 || e.blocks > 0) && recv.Bytes == 0:
		bad("-n/-k: the receiver counted nothing")
	case e.udp && e.reverse && e.bytes > 0 && recv.Bytes < e.bytes:
		bad("-n %d in reverse: the client received %d bytes", e.bytes, recv.Bytes)
	case e.udp && e.reverse && e.blocks > 0 && recv.Packets-recv.LostPackets < e.blocks:
		bad("-k %d in reverse: the client received %d datagrams", e.blocks, recv.Packets-recv.LostPackets)
	}
	return notes
}

// checkLength: a timed test lasts its -t (the omitted seconds come before
// it), measured by the test's own clock; every test ends well within its
// deadline.
func checkLength(e expectation, doc *checkDoc, cl *run, bad func(string, ...any)) {
	if e.seconds == 0 {
		return
	}
	// The client's own side ends at its -t; the server's ends when the
	// client's TEST_END arrives (as iperf3's does), which a loaded machine
	// may delay, but a sender that waited out a grace period shows.
	own, peer := doc.End.SumSent, doc.End.SumReceived
	if e.reverse {
		own, peer = peer, own
	}
	for _, s := range []struct {
		side  *checkSide
		slack float64
	}{{own, 0.75}, {peer, 2.5}} {
		if s.side == nil {
			continue
		}
		if s.side.Seconds < e.seconds-0.05 || s.side.Seconds > e.seconds+s.slack {
			bad("the test measured %.3f s, want %.0f s", s.side.Seconds, e.seconds)
		}
	}
	if limit := time.Duration((e.seconds + e.omit + 8) * float64(time.Second)); cl.wall > limit {
		bad("the client ran %v for -t %.0f -O %.0f", cl.wall.Round(time.Millisecond), e.seconds, e.omit)
	}
}

// checkServer: the server's own -J document agrees with what the client
// reports of it.
func checkServer(e expectation, doc *checkDoc, srv *run, bad func(string, ...any)) {
	if srv.code != 0 {
		bad("server exit %d, want 0", srv.code)
		return
	}
	var sdoc checkDoc
	if err := json.Unmarshal(jsonPart(srv.stdout), &sdoc); err != nil {
		bad("the server's -J output is not JSON: %v", err)
		return
	}
	if sdoc.Error != "" {
		bad("the server's JSON has error %q", sdoc.Error)
	}
	if e.bidir || sdoc.End.SumSent == nil || sdoc.End.SumReceived == nil || doc.End.SumSent == nil || doc.End.SumReceived == nil {
		return
	}
	// The side that did not count a direction reports the other side's
	// count: what the client shows for the server is the server's own
	// (iperf3 3.21's server's own document may differ from the results it
	// sent by a block per stream).
	slack := doc.Start.TestStart.Blksize * int64(e.streams)
	if e.reverse {
		if got, want := doc.End.SumSent.Bytes, sdoc.End.SumSent.Bytes; got > want+slack || got < want-slack {
			bad("the client shows %d bytes sent by the server, the server reports %d", got, want)
		}
		return
	}
	if got, want := doc.End.SumReceived.Bytes, sdoc.End.SumReceived.Bytes; got > want+slack || got < want-slack {
		bad("the client shows %d bytes received by the server, the server reports %d", got, want)
	}
}
