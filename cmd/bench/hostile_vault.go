package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Sizes of the hostile Vault's answers: each as large as the provider takes
// from a 2xx answer, the body just under its 8 MiB cap and the headers just
// under the 10 MiB that Go's HTTP client reads.
const (
	nearBodyCap   = 8<<20 - 1024
	nearHeaderCap = 10<<20 - 4096
	leasedBytes   = 7<<20 + 512<<10 // a leased secret's one value, 7.5 MiB
	digitsBytes   = 7 << 20         // one number as text, for to_number
	mibStrings    = 24              // the 1 MiB read: this many strings
	// A slow answer comes in 64 KiB pieces this far apart (about 3.8 s for
	// a body of nearBodyCap).
	slowPiece = 64 << 10
	slowGap   = 30 * time.Millisecond
)

// hostileVault answers as Vault does what the hostile classes read from the
// Vault they name (vaultAddress): a jwt login for any token, and under
// /v1/hostile/ answers that are each within every cap the provider puts on
// one response but that cost it far more than their size once decoded.
// Their bodies, about 42 MiB, are built once at the start, so that no
// attack's time includes building them.
type hostileVault struct {
	addr string
	srv  *http.Server
	// slowStarted counts the slow answers begun.
	slowStarted atomic.Int64
	leases      atomic.Int64

	tiny, mib, digits, keys, leasedValue, headerLines []byte
}

func startHostileVault() (*hostileVault, error) {
	v := &hostileVault{tiny: tinyBody(), mib: mibBody(), digits: digitsBody(), keys: keysBody(),
		leasedValue: bytes.Repeat([]byte{'x'}, leasedBytes), headerLines: headerBlock()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	v.addr = l.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/auth/jwt/login", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"auth":{"client_token":"hvs.hostile","accessor":"a","lease_duration":3600,"renewable":true}}`)
	})
	mux.HandleFunc("GET /v1/hostile/small", serve(smallBody()))
	mux.HandleFunc("GET /v1/hostile/tiny/{n}", serve(v.tiny))
	mux.HandleFunc("GET /v1/hostile/mib", serve(v.mib))
	mux.HandleFunc("GET /v1/hostile/digits", serve(v.digits))
	mux.HandleFunc("GET /v1/hostile/keys", serve(v.keys))
	mux.HandleFunc("GET /v1/hostile/leased/{n}", v.leased)
	mux.HandleFunc("GET /v1/hostile/headers/{n}", v.headers)
	mux.HandleFunc("GET /v1/hostile/slow/{n}", v.slow)
	v.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go v.srv.Serve(l)
	return v, nil
}

func (v *hostileVault) close() { v.srv.Close() }

func serve(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
}

// leased answers a renewable leased secret of one 7.5 MiB value, with a
// lease of its own each time, as a dynamic secrets engine does.
func (v *hostileVault) leased(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"lease_id":"hostile/leased/%s/%d","renewable":true,"lease_duration":3600,"data":{"v":"`,
		r.PathValue("n"), v.leases.Add(1))
	w.Write(v.leasedValue)
	fmt.Fprint(w, `"}}`)
}

// headers answers a small secret after just under 10 MiB of distinct short
// headers, written by hand: http.Server would sort a million of them.
func (v *hostileVault) headers(w http.ResponseWriter, _ *http.Request) {
	c, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	body := smallBody()
	fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n", len(body))
	buf.Write(v.headerLines)
	buf.WriteString("\r\n")
	buf.Write(body)
	buf.Flush()
}

// slow answers the tiny-values body in pieces, so the mounts that read it
// stay in flight for seconds.
func (v *hostileVault) slow(w http.ResponseWriter, r *http.Request) {
	v.slowStarted.Add(1)
	b := v.tiny
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	rc := http.NewResponseController(w)
	for len(b) > 0 {
		n := min(slowPiece, len(b))
		if _, err := w.Write(b[:n]); err != nil {
			return
		}
		rc.Flush()
		b = b[n:]
		select {
		case <-r.Context().Done():
			return
		case <-time.After(slowGap):
		}
	}
}

func smallBody() []byte { return []byte(`{"data":{"k":"v"}}`) }

// tinyBody is one list of empty objects, `{"data":{"v":[{},{},…]}}`: three
// bytes of JSON each, a map each once decoded.
func tinyBody() []byte {
	const head, tail = `{"data":{"v":[`, `]}}`
	n := (nearBodyCap - len(head) - len(tail) + 1) / 3
	var b bytes.Buffer
	b.Grow(nearBodyCap)
	b.WriteString(head)
	b.WriteString(strings.Repeat("{},", n-1))
	b.WriteString("{}" + tail)
	return b.Bytes()
}

// mibBody is 1 MiB of JSON: a list of mibStrings strings.
func mibBody() []byte {
	s := strings.Repeat("y", (1<<20)/mibStrings-8)
	list := strings.TrimSuffix(strings.Repeat(`"`+s+`",`, mibStrings), ",")
	return []byte(`{"data":{"v":[` + list + `]}}`)
}

// digitsBody holds one 7 MiB string of digits: a number to to_number.
func digitsBody() []byte {
	return []byte(`{"data":{"v":"` + strings.Repeat("7", digitsBytes) + `"}}`)
}

// keysBody is a secret of as many keys as fit: five-character names with
// empty values, 11 bytes each.
func keysBody() []byte {
	const head, tail = `{"data":{`, `}}`
	b := make([]byte, 0, nearBodyCap)
	b = append(b, head...)
	for i := 0; len(b)+11+len(tail) <= nearBodyCap; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(append(b, '"'), base36(i, 5)...), `":""`...)
	}
	return append(b, tail...)
}

// headerBlock is just under nearHeaderCap bytes of distinct headers,
// "Habcde: v\r\n".
func headerBlock() []byte {
	b := make([]byte, 0, nearHeaderCap)
	for i := 0; len(b)+11 <= nearHeaderCap; i++ {
		b = append(append(append(b, 'H'), base36(i, 5)...), ": v\r\n"...)
	}
	return b
}

// base36 is i in base 36, zero-padded to width.
func base36(i, width int) string {
	s := strconv.FormatInt(int64(i), 36)
	return strings.Repeat("0", max(0, width-len(s))) + s
}
