package diagnose

import (
	"testing"
	"time"
)

func TestRolesSwapped(t *testing.T) {
	check(t, "order held", RolesSwapped(StockServer, 0, 4, time.Millisecond), want{none: true})
	check(t, "server swapped", RolesSwapped(StockServer, 4, 4, 3*time.Millisecond),
		want{kind: KindRolesSwapped, severity: Info, contains: []string{"stock iperf3 server", "accept order", "4 of 4", "3ms", "#2029"}})
	check(t, "client swapped", RolesSwapped(StockClient, 2, 8, 12*time.Millisecond),
		want{kind: KindRolesSwapped, severity: Info, contains: []string{"stock iperf3 client", "2 of 8", "12ms"}})
}

func TestRolesGuessed(t *testing.T) {
	check(t, "all heard", RolesGuessed(StockServer, 2, 2, time.Second), want{none: true})
	check(t, "server silent", RolesGuessed(StockServer, 0, 2, 2*time.Second),
		want{kind: KindRolesGuessed, severity: Warning, contains: []string{"0 of", "2 sending streams", "2s", "run flowscope on the server"}})
	check(t, "client partly heard", RolesGuessed(StockClient, 1, 3, 2*time.Second),
		want{kind: KindRolesGuessed, severity: Warning, contains: []string{"1 of", "run flowscope as the client"}})
}
