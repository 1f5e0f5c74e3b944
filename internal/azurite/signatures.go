package azurite

import (
	"bufio"
	"bytes"
	"net/url"
	"os"
	"regexp"
	"sync"
)

// A suite that searches what it logged and showed for secrets learns every
// signature an Azurite of its process was sent: shapes alone miss a
// signature encoded twice, or cut into pieces.
var (
	watchMu  sync.Mutex
	watchers []func(sig string)
)

// WatchSignatures calls f with each signature (a SAS's sig, unescaped)
// that an Azurite started by this process is sent. They are read from the
// server's debug log each time its process stops: at Restart, and when the
// test that started it ends.
func WatchSignatures(f func(sig string)) {
	watchMu.Lock()
	defer watchMu.Unlock()
	watchers = append(watchers, f)
}

// requestURL is Azurite's debug line for each request it is sent.
var requestURL = regexp.MustCompile(`RequestURL=(\S+)`)

// reportSignatures tells the watchers the signatures in the debug log
// written since the last report (all of it when Azurite started it anew).
func (s *Server) reportSignatures() {
	watchMu.Lock()
	defer watchMu.Unlock()
	if len(watchers) == 0 {
		return
	}
	data, err := os.ReadFile(s.debugLog)
	if err != nil {
		return // no request reached it
	}
	if s.reported > len(data) {
		s.reported = 0 // a new process started the log anew
	}
	sigs := signaturesIn(data[s.reported:])
	s.reported = len(data)
	for _, sig := range sigs {
		for _, f := range watchers {
			f(sig)
		}
	}
}

// signaturesIn lists the sig values, each once, of the request URLs in an
// Azurite debug log.
func signaturesIn(log []byte) []string {
	seen := map[string]bool{}
	var sigs []string
	lines := bufio.NewScanner(bytes.NewReader(log))
	lines.Buffer(make([]byte, 64<<10), 16<<20)
	for lines.Scan() {
		m := requestURL.FindSubmatch(lines.Bytes())
		if m == nil {
			continue
		}
		u, err := url.Parse(string(m[1]))
		if err != nil {
			continue
		}
		if sig := u.Query().Get("sig"); sig != "" && !seen[sig] {
			seen[sig] = true
			sigs = append(sigs, sig)
		}
	}
	return sigs
}
