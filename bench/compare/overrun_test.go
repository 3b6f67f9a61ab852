package main

import (
	"testing"
	"time"
)

func TestParseOverrun(t *testing.T) {
	doc := `{"start":{},"end":{"sum_sent":{"seconds":5,"bytes":1},"sum_received":{"seconds":5.26,"bytes":1}}}`
	r, err := parseOverrun(doc, 7*time.Second)
	if err != nil || r.clientSecs != 5 || r.serverSecs != 5.26 || r.wall != 7*time.Second {
		t.Errorf("parseOverrun = %+v, %v", r, err)
	}
	for _, bad := range []string{``, `{"end":{}}`, `{"error":"unable to connect"}`} {
		if _, err := parseOverrun(bad, 0); err == nil {
			t.Errorf("parseOverrun(%q) = nil error", bad)
		}
	}
}

func TestOverrunLengths(t *testing.T) {
	if overrunSecs(1000) != 5 || overrunSecs(5000) != 15 {
		t.Errorf("-t for 1,000 and 5,000 flows: %d, %d", overrunSecs(1000), overrunSecs(5000))
	}
}
